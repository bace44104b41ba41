"""The few-shot section's findings F9-F11 (``../shared/paper.md`` §5), from its saved tables.

Same contract and statistics as :mod:`synthrec_core.zero_shot_findings` (one statistic per seed,
its seed spread, a paired bootstrap interval over test images and seeds, via
:mod:`synthrec_core.stats`):

- **F9**: the gain of synthetic data (the ``syn_<strategy>`` curve, mix training) over CT on the
  real shots only, at the fewest shots, mean over datasets; ``shrink`` (gain at the most shots
  minus gain at the fewest, expected < 0) is reported beside it and must hold too;
- **F10**: RG minus B at the most shots, mean over datasets; RG - RF and RF - B beside it;
- **F11**: BN frozen minus BN trained, whole image tower tuned end to end, mean over the real
  and the synthetic training sets.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

import numpy as np
import pandas as pd

from .report import findings_summary
from .stats import Bootstrap, correct_by_seed, finding

__all__ = ["gain_finding", "strategy_finding", "bn_finding", "all_findings", "summary_text"]


def _cells(df: pd.DataFrame, by: list[str], labels: dict[str, np.ndarray]) -> dict[Hashable, tuple[str, np.ndarray]]:
    return {key: (key[0], correct_by_seed(g, labels[key[0]])) for key, g in df.groupby(["dataset", *by])}


def _measure(cells: dict, stat: Callable, n_boot: int) -> dict[str, Any]:
    return Bootstrap(cells, n_boot=n_boot).evaluate(stat)


def gain_finding(curves: pd.DataFrame, labels: dict[str, np.ndarray], strategy: str = "RG", n_boot: int = 1000) -> dict[str, Any]:
    """F9: synthetic data helps at the fewest shots, and its gain shrinks as shots grow."""
    syn = f"syn_{strategy}"
    df = curves[curves["method"].isin([syn, "ct_real"])]
    cells = _cells(df, ["method", "k"], labels)
    datasets, ks = sorted(df["dataset"].unique()), sorted(df["k"].unique())
    gain = lambda acc, k: np.mean([acc[(d, syn, k)] - acc[(d, "ct_real", k)] for d in datasets], axis=0)
    seeds = sorted(df["seed"].unique().tolist())
    f = finding("F9", "with a few real shots, synthetic data still helps, and the gain shrinks as shots grow",
                "SUN397 curves, EuroSAT Table 7", _measure(cells, lambda a: gain(a, ks[0]), n_boot), +1, seeds=seeds,
                note=f"{syn} (mix) minus CT on real shots at k={ks[0]}, mean over {', '.join(datasets)}")
    shrink = finding("F9-shrink", "the gain shrinks as shots grow", "SUN397: +1.7 at 1 shot, +0.6 at 16",
                     _measure(cells, lambda a: gain(a, ks[-1]) - gain(a, ks[0]), n_boot), -1, seeds=seeds,
                     note=f"gain at k={ks[-1]} minus gain at k={ks[0]}")
    f["shrink"] = shrink
    f["gain_by_k"] = {int(k): _measure(cells, lambda a, k=k: gain(a, k), n_boot)["mean"] * 100 for k in ks}
    f["reproduced"] = bool(f["reproduced"] and shrink["reproduced"])
    f["note"] += (f"; gain by k: " + ", ".join(f"{k}: {v:+.2f}" for k, v in f["gain_by_k"].items())
                  + f"; shrink {shrink['mean']:+.2f} ± {shrink['std']:.2f} (reproduced only if it is negative beyond its spread too)")
    return f


def strategy_finding(curves: pd.DataFrame, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any]:
    """F10: RG ≥ RF ≥ B at the most shots (the statistic: RG - B; both steps reported)."""
    k = int(curves["k"].max())
    df = curves[(curves["k"] == k) & curves["method"].isin(["syn_B", "syn_RF", "syn_RG"])]
    cells = _cells(df, ["method"], labels)
    datasets = sorted(df["dataset"].unique())
    diff = lambda a, b: (lambda acc: np.mean([acc[(d, a)] - acc[(d, b)] for d in datasets], axis=0))
    steps = {n: _measure(cells, diff(*pair), n_boot) for n, pair in {"RG-RF": ("syn_RG", "syn_RF"), "RF-B": ("syn_RF", "syn_B")}.items()}
    f = finding("F10", "real guidance (RG) ≥ real filtering (RF) ≥ basic (B) in few-shot", "EuroSAT 16 shots: 88.47 / 87.33 / 87.10",
                _measure(cells, diff("syn_RG", "syn_B"), n_boot), +1, seeds=sorted(df["seed"].unique().tolist()),
                note=f"RG minus B at k={k}, mean over {', '.join(datasets)}; "
                     + ", ".join(f"{n} {100 * m['mean']:+.2f} ± {100 * m['std']:.2f}" for n, m in steps.items()))
    f["steps"] = {n: {"mean": 100 * m["mean"], "std": 100 * m["std"]} for n, m in steps.items()}
    return f


def bn_finding(bn: pd.DataFrame | None, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any] | None:
    """F11: freezing BatchNorm beats training it when the tower is tuned on few or synthetic images."""
    if bn is None or not len(bn):
        return None
    cells = _cells(bn, ["data", "bn"], labels)
    keys = sorted({(d, data) for d, data, _ in cells})
    stat = lambda acc: np.mean([acc[(d, data, "frozen")] - acc[(d, data, "trained")] for d, data in keys], axis=0)
    return finding("F11", "freezing BatchNorm matters when tuning end to end on few or synthetic images", "EuroSAT 16 shots: 85.63 vs 75.31",
                   _measure(cells, stat, n_boot), +1, seeds=sorted(bn["seed"].unique().tolist()),
                   note=f"BN frozen minus BN trained, whole image tower, k={int(bn['k'].max())}, mean over "
                        + ", ".join(f"{d}/{data}" for d, data in keys))


def all_findings(prepared: list[Any], curves: pd.DataFrame, bn: pd.DataFrame | None, strategy: str = "RG",
                 n_boot: int = 1000) -> dict[str, Any]:
    """F9-F11 of the few-shot section, in the findings contract, ordered by id."""
    labels = {p.name: np.asarray(p.splits.test.labels) for p in prepared}
    out = {"F9": gain_finding(curves, labels, strategy, n_boot), "F10": strategy_finding(curves, labels, n_boot)}
    f11 = bn_finding(bn, labels, n_boot)
    if f11 is not None:
        out["F11"] = f11
    for f in out.values():
        f["section"] = "few-shot"
    return out


def summary_text(data: dict[str, Any], profile: str) -> str:
    """The chapter's closing paragraph, written from the saved findings."""
    return findings_summary(data, profile, "few-shot")
