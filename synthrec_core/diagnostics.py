"""Diagnostics of synthetic sets for the book: filter statistics, galleries, diversity, FID/KID.

Numbers come from features and saved decision tables (``filtering``); figures are drawn from
those tables and never run a model. All FID/KID here are computed on the given encoder's
features (e.g. MiniCLIP or CLIP), not on Inception features, so they compare sets with each
other under one encoder, not with published FIDs.

- :func:`pass_rates`, :func:`plot_pass_rates`, :func:`plot_score_histograms`: CF statistics;
- :func:`gallery`: kept vs rejected images per class;
- :func:`diversity`: mean pairwise cosine distance within each class;
- :func:`fid`, :func:`kid`, :func:`compare_with_real`: distribution distances to real images.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .filtering import l2_normalize

__all__ = [
    "pass_rates",
    "plot_pass_rates",
    "plot_score_histograms",
    "gallery",
    "diversity",
    "fid",
    "kid",
    "compare_with_real",
]


def _names(classnames: Sequence[str] | None, labels: Sequence[int]) -> list[str]:
    n = int(max(labels)) + 1 if len(labels) else 0
    return list(classnames) if classnames is not None else [str(i) for i in range(n)]


def pass_rates(decisions: pd.DataFrame, classnames: Sequence[str] | None = None) -> pd.DataFrame:
    """Per class: images, passed, kept and the pass rate (from a CF decisions table)."""
    g = decisions.groupby("label")
    t = pd.DataFrame({"images": g.size(), "passed": g["passed"].sum(), "kept": g["kept"].sum()})
    t["pass_rate"] = t["passed"] / t["images"]
    names = _names(classnames, decisions["label"].tolist())
    t.index = [names[i] for i in t.index]
    t.index.name = "class"
    total = pd.DataFrame(
        {"images": [t["images"].sum()], "passed": [t["passed"].sum()], "kept": [t["kept"].sum()]}, index=["all"]
    )
    total["pass_rate"] = total["passed"] / total["images"]
    return pd.concat([t, total])


def plot_pass_rates(rates: pd.DataFrame, ax: Any = None) -> Any:
    """Bar chart of :func:`pass_rates` (without the ``all`` row, which becomes a dashed line)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(4, 0.5 * len(rates)), 3))
    per = rates.drop(index="all", errors="ignore")
    ax.bar(per.index.astype(str), per["pass_rate"], color="#4C72B0")
    if "all" in rates.index:
        ax.axhline(rates.loc["all", "pass_rate"], ls="--", c="k", lw=1, label="all classes")
        ax.legend(frameon=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("CF pass rate")
    ax.tick_params(axis="x", rotation=45)
    return ax.figure


def plot_score_histograms(
    decisions: pd.DataFrame, classnames: Sequence[str] | None = None, bins: int = 20, ncols: int = 5
) -> Any:
    """One histogram of p(own class) per class, with the 1/N pass threshold marked."""
    import matplotlib.pyplot as plt

    names = _names(classnames, decisions["label"].tolist())
    labels = sorted(decisions["label"].unique())
    n_classes = len(names)
    ncols = min(ncols, len(labels)) or 1
    nrows = int(np.ceil(len(labels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 1.9 * nrows), sharex=True, squeeze=False)
    for ax in axes.flat[len(labels) :]:
        ax.axis("off")
    for ax, c in zip(axes.flat, labels):
        d = decisions[decisions["label"] == c]
        ax.hist(d["p_own"], bins=bins, range=(0, 1), color="#4C72B0")
        ax.axvline(1.0 / n_classes, c="#C44E52", lw=1)
        ax.set_title(f"{names[c]} ({d['passed'].mean():.0%} pass)", fontsize=9)
    fig.supxlabel("p(own class) under the CLIP filter; red line = 1/N")
    fig.tight_layout()
    return fig


def gallery(synthetic_set: Any, decisions: pd.DataFrame, per_class: int = 4, classes: Sequence[int] | None = None, seed: int = 0) -> Any:
    """Images per class: ``per_class`` kept (left) and ``per_class`` rejected (right) ones.

    ``decisions`` must have ``id``, ``label`` and ``kept``; images come from the set on disk.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    names = synthetic_set.classnames
    m = synthetic_set.manifest().set_index("id")
    labels = list(classes) if classes is not None else sorted(decisions["label"].unique())
    fig, axes = plt.subplots(len(labels), 2 * per_class, figsize=(1.0 * 2 * per_class, 1.05 * len(labels)), squeeze=False)
    rng = np.random.default_rng(seed)
    for r, c in enumerate(labels):
        d = decisions[decisions["label"] == c]
        for half, kept in enumerate((True, False)):
            ids = d.loc[d["kept"] == kept, "id"].tolist()
            pick = [ids[i] for i in sorted(rng.choice(len(ids), size=min(per_class, len(ids)), replace=False))] if ids else []
            for k in range(per_class):
                ax = axes[r, half * per_class + k]
                ax.set_xticks([]), ax.set_yticks([])
                for s in ax.spines.values():
                    s.set_color("#55A868" if kept else "#C44E52")
                    s.set_linewidth(2)
                if k < len(pick):
                    with Image.open(synthetic_set.root / m.loc[pick[k], "path"]) as im:
                        ax.imshow(np.asarray(im.convert("RGB")))
                else:
                    ax.axis("off")
        axes[r, 0].set_ylabel(names[c], rotation=0, ha="right", va="center", fontsize=9)
    axes[0, 0].set_title("kept", loc="left", fontsize=9)
    axes[0, per_class].set_title("rejected", loc="left", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def diversity(feats: np.ndarray, labels: Sequence[int], classnames: Sequence[str] | None = None, max_per_class: int = 2000, seed: int = 0) -> pd.Series:
    """Mean pairwise cosine distance (1 - cos) between images of the same class, per class.

    0 means all images of a class are the same direction in feature space. Classes with more
    than ``max_per_class`` images are subsampled (seeded) to bound the cost.
    """
    f = l2_normalize(feats)
    labels = np.asarray(labels)
    names = _names(classnames, labels.tolist())
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(np.unique(labels)):
        idx = np.flatnonzero(labels == c)
        if len(idx) > max_per_class:
            idx = rng.choice(idx, max_per_class, replace=False)
        if len(idx) < 2:
            out[names[c]] = np.nan
            continue
        x = f[idx]
        s = x @ x.T
        n = len(idx)
        out[names[c]] = float(1.0 - (s.sum() - np.trace(s)) / (n * (n - 1)))
    return pd.Series(out, name="diversity")


def _psd_sqrt_trace(a: np.ndarray, b: np.ndarray) -> float:
    """Tr(sqrt(A B)) for symmetric PSD A, B, via sqrt(A) B sqrt(A) (stable for singular A, B)."""
    w, v = np.linalg.eigh(a)
    ra = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = ra @ b @ ra
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[n, d]`` and ``[m, d]``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 samples per side, got {a.shape[0]} and {b.shape[0]}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)
    val = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * _psd_sqrt_trace(s1, s2))
    return max(val, 0.0)


def kid(a: np.ndarray, b: np.ndarray, subset_size: int = 1000, n_subsets: int = 50, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance on given features: unbiased MMD² with the cubic polynomial
    kernel ``(x.y / d + 1)^3``, averaged over random subsets; returns ``(mean, std)``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per side, got {a.shape[0]} and {b.shape[0]}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        vals.append(
            (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
        )
    return float(np.mean(vals)), float(np.std(vals))


def compare_with_real(
    syn_feats: np.ndarray,
    syn_labels: Sequence[int],
    real_feats: np.ndarray,
    real_labels: Sequence[int],
    classnames: Sequence[str] | None = None,
    kid_subset: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Per class and overall: FID, KID (mean) and the diversity of synthetic vs real images."""
    syn_labels = np.asarray(syn_labels)
    real_labels = np.asarray(real_labels)
    names = _names(classnames, list(syn_labels) + list(real_labels))
    rows = []
    groups = [(names[c], syn_labels == c, real_labels == c) for c in sorted(set(syn_labels) & set(real_labels))]
    groups.append(("all", np.ones(len(syn_labels), bool), np.ones(len(real_labels), bool)))
    for name, ms, mr in groups:
        s, r = syn_feats[ms], real_feats[mr]
        row = {"class": name, "n_syn": int(ms.sum()), "n_real": int(mr.sum())}
        if min(len(s), len(r)) >= 2:
            row["fid"] = fid(s, r)
            row["kid"] = kid(s, r, subset_size=kid_subset, n_subsets=10, seed=seed)[0]
            row["diversity_syn"] = diversity(s, np.zeros(len(s), int)).iloc[0]
            row["diversity_real"] = diversity(r, np.zeros(len(r), int)).iloc[0]
        rows.append(row)
    return pd.DataFrame(rows).set_index("class")
