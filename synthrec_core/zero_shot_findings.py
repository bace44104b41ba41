"""The zero-shot section's findings F1-F8 (``../shared/paper.md`` §5), from its saved tables.

Each finding is one statistic per seed over the cells it needs (a difference of accuracies, a
mean of differences over datasets, a rank correlation, a data-efficiency ratio), with its seed
spread and a paired bootstrap interval over test images and seeds (:mod:`synthrec_core.stats`).
The rows follow the findings contract that the scorecard page reads from every section's
results: ``{"F1": {"claim", "paper", "mean", "std", "seeds", "interval", "reproduced",
"significant", ...}, ...}``. :func:`summary_text` writes the chapter's closing paragraph from
those numbers, so no number in the prose is typed by hand.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .stats import Bootstrap, correct_by_seed, finding

__all__ = ["findings", "saturation_finding", "tower_finding", "scratch_finding", "all_findings", "summary_text"]


def findings(ablation_df: pd.DataFrame, labels: dict[str, np.ndarray], zero_shot: dict[str, list[int]],
             saturation_df: pd.DataFrame | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """F1-F5 and F7 in the findings contract (``stats.finding``), from the saved tables.

    ``labels[dataset]`` are the test labels; ``zero_shot[dataset]`` the zero-shot predictions."""
    seeds = sorted(ablation_df["seed"].unique().tolist())
    cells = {}
    for (d, v), g in ablation_df.groupby(["dataset", "variant"]):
        cells[(d, v)] = (d, correct_by_seed(g, labels[d]))
    datasets = sorted({d for d, _ in cells})
    for d in datasets:
        cells[(d, "CLIP")] = (d, (np.asarray(zero_shot[d]) == labels[d])[None])
    bs = Bootstrap(cells, n_boot=n_boot)

    def diff(a: str, b: str):
        return lambda acc: np.mean([acc[(d, b)] - acc[(d, a)] for d in datasets], axis=0)

    out = {}
    have = {v for _, v in cells}
    f1 = bs.evaluate(diff("CLIP", "LE+CF-SCE"))
    per = {d: Bootstrap({k: cells[k] for k in ((d, "CLIP"), (d, "LE+CF-SCE"))}, n_boot=n_boot).evaluate(
        lambda acc, d=d: acc[(d, "LE+CF-SCE")] - acc[(d, "CLIP")]) for d in datasets}
    r1 = finding("F1", "synthetic data raises zero-shot accuracy on every dataset", "Table 1: +4.31 average (RN50), +2.90 (ViT-B/16)",
                 f1, +1, seeds=seeds, note="mean gain over datasets; reproduced only if every dataset's gain exceeds its seed spread: "
                 + ", ".join(f"{d} {100 * r['mean']:+.2f} ± {100 * r['std']:.2f}" for d, r in per.items()))
    r1["reproduced"] = bool(all(r["mean"] > r["std"] for r in per.values()))
    r1["per_dataset"] = {d: {k: r[k] for k in ("mean", "std", "interval")} for d, r in per.items()}
    out["F1"] = r1
    if len(datasets) >= 3:
        from scipy.stats import rankdata

        def corr(acc):
            zs = np.stack([acc[(d, "CLIP")] for d in datasets])
            g = np.stack([acc[(d, "LE+CF-SCE")] - acc[(d, "CLIP")] for d in datasets])
            rz, rg = rankdata(zs, axis=0), rankdata(g, axis=0)
            rz, rg = rz - rz.mean(0), rg - rg.mean(0)
            return (rz * rg).sum(0) / np.sqrt((rz ** 2).sum(0) * (rg ** 2).sum(0) + 1e-12)

        out["F2"] = finding("F2", "the gain is largest where zero-shot is weakest", "EuroSAT +17.86, CIFAR-100 +10.34 vs Food +0.01",
                            bs.evaluate(corr), -1, unit="Spearman rho", scale=1.0, seeds=seeds,
                            note=f"rank correlation of zero-shot accuracy and gain over {len(datasets)} datasets")
    pairs = {"F3": ("B-SCE", "LE-SCE", "language enhancement (LE) beats the basic prompt (B)", "EuroSAT SCE 48.23 → 54.94"),
             "F4": ("LE-SCE", "LE+CF-SCE", "the CLIP filter (CF) adds on top of LE", "+0.4 to +2.5"),
             "F5": ("LE+CF-CE", "LE+CF-SCE", "soft-target CE (SCE) ≥ plain CE", "+0.05 to +2.6")}
    for fid, (a, b, claim, paper) in pairs.items():
        if {a, b} <= have:
            out[fid] = finding(fid, claim, paper, bs.evaluate(diff(a, b)), +1, seeds=seeds, note=f"{b} minus {a}, mean over datasets")
    if saturation_df is not None and len(saturation_df):
        out["F7"] = saturation_finding(saturation_df, labels, n_boot)
    return out


def saturation_finding(df: pd.DataFrame, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any]:
    """F7: the last doubling of images per class adds less than the first images did."""
    d = df["dataset"].iloc[0]
    sizes = sorted(df["images_per_class"].unique())
    cells = {(d, n): (d, correct_by_seed(g, labels[d])) for n, g in df.groupby("images_per_class")}
    bs = Bootstrap(cells, n_boot=n_boot)
    first, last = (sizes[0], sizes[1]), (sizes[-2], sizes[-1])
    stat = lambda acc: (acc[(d, last[1])] - acc[(d, last[0])]) - (acc[(d, first[1])] - acc[(d, first[0])])
    return finding("F7", "gains saturate as images per class grow", "79.21 / 80.06 / 80.08 at 1k / 2k / 4k (CIFAR-10)",
                   bs.evaluate(stat), -1, seeds=sorted(df["seed"].unique().tolist()),
                   note=f"{d}, LE prompts without CF: gain {last[0]}→{last[1]} images per class minus gain "
                        f"{first[0]}→{first[1]}")


def tower_finding(df: pd.DataFrame, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any] | None:
    """F6: tuning only the head beats tuning the whole image tower on synthetic images."""
    if df is None or not len(df) or not {"head", "all"} <= set(df["parts"]):
        return None
    datasets = sorted(df["dataset"].unique())
    cells = {(d, part): (d, correct_by_seed(g, labels[d])) for (d, part), g in df.groupby(["dataset", "parts"])}
    stat = lambda acc: np.mean([acc[(d, "head")] - acc[(d, "all")] for d in datasets], axis=0)
    return finding("F6", "tuning only the head beats tuning more of the encoder (domain gap)", "EuroSAT 55.37 (head) vs 52.09 (92% tuned)",
                   Bootstrap(cells, n_boot=n_boot).evaluate(stat), +1, seeds=sorted(df["seed"].unique().tolist()),
                   note=f"head only minus whole image tower, mean over {', '.join(datasets)}; BatchNorm frozen")


def scratch_finding(df: pd.DataFrame, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any] | None:
    """F8: synthetic images per class needed / real images per class that reach the same accuracy,
    at the largest synthetic size (read off the real curve by log-linear interpolation)."""
    if df is None or not len(df):
        return None
    d = df["dataset"].iloc[0]
    real_sizes = sorted(df.loc[df["data"] == "real", "images_per_class"].unique())
    n_syn = max(df.loc[df["data"] == "synthetic", "images_per_class"])
    cells = {(d, kind, n): (d, correct_by_seed(g, labels[d])) for (kind, n), g in df.groupby(["data", "images_per_class"])}

    def stat(acc):
        real = np.stack([acc[(d, "real", n)] for n in real_sizes])  # [R, ...]
        syn = acc[(d, "synthetic", n_syn)]
        logn = np.log(np.asarray(real_sizes, dtype=float))
        flat_real, flat_syn = real.reshape(len(real_sizes), -1), syn.reshape(-1)
        eq = np.empty_like(flat_syn)
        for j in range(flat_syn.size):
            curve = np.maximum.accumulate(flat_real[:, j])  # monotone for interpolation
            eq[j] = np.exp(np.interp(flat_syn[j], curve, logn)) if flat_syn[j] > curve[0] else real_sizes[0] * flat_syn[j] / max(curve[0], 1e-9)
        return (n_syn / eq).reshape(syn.shape)

    f = finding("F8", "trained from scratch, synthetic data is about 5x less data-efficient than real",
                "500 synthetic images per class ≈ 95 real (ratio ≈ 5.3)", Bootstrap(cells, n_boot=n_boot).evaluate(stat), +1,
                unit="x", scale=1.0, null=1.0, seeds=sorted(df["seed"].unique().tolist()),
                note=f"{d}: {n_syn} synthetic images per class over the real images per class of equal accuracy "
                     "(1 = equally data-efficient); beyond the largest real size the ratio is a lower bound")
    return f


def all_findings(prepared: Sequence[Any], ablation: pd.DataFrame, saturation: pd.DataFrame | None, tower: pd.DataFrame | None,
                 scratch: pd.DataFrame | None, n_boot: int = 1000) -> dict[str, Any]:
    """F1-F8 of the zero-shot section, in the findings contract, ordered by id."""
    labels = {p.name: np.asarray(p.splits.test.labels) for p in prepared}
    zero = {p.name: p.zero_shot["test_pred"] for p in prepared}
    for df in (saturation, tower, scratch):
        if df is not None and len(df):
            for d in df["dataset"].unique():
                if d not in labels:
                    raise KeyError(f"dataset {d!r} of an experiment is not among the prepared datasets")
    out = findings(ablation, labels, zero, saturation, n_boot)
    for fn, df in ((tower_finding, tower), (scratch_finding, scratch)):
        f = fn(df, labels, n_boot)
        if f is not None:
            out[f["id"]] = f
    for f in out.values():
        f["section"] = "zero-shot"
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][1:])))


def summary_text(data: dict[str, Any], profile: str, section: str = "zero-shot") -> str:
    """The chapter's closing paragraph, written from the saved findings (:func:`report.findings_summary`)."""
    from .report import findings_summary

    return findings_summary(data, profile, section)
