"""Figures of the section chapters, drawn from saved result tables (never from a training run).

Each function takes a tidy ``DataFrame`` as the notebooks save it under ``results/`` and
returns a matplotlib figure with the profile stamped in a corner.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .report import stamp

__all__ = ["gain_bars", "variant_table", "curve", "findings_forest", "audit_pairs", "rg_gallery"]


def _summary(df: pd.DataFrame, by: Sequence[str], value: str = "test_acc") -> pd.DataFrame:
    g = df.groupby(list(by))[value]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n": g.size()})


def gain_bars(df: pd.DataFrame, variant: str, profile: str, title: str = "") -> Any:
    """Zero-shot vs tuned on synthetic data per dataset (mean ± std over seeds), in percent."""
    import matplotlib.pyplot as plt

    d = df[df["variant"] == variant]
    s = _summary(d, ["dataset"])
    zs = d.groupby("dataset")["zero_shot"].first()
    names = list(s.index)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(names) + 2), 3.4))
    ax.bar(x - 0.2, 100 * zs[names], 0.4, label="zero-shot", color="0.6")
    ax.bar(x + 0.2, 100 * s["mean"], 0.4, yerr=100 * s["std"], capsize=3, label=f"+ synthetic ({variant})")
    for i, n in enumerate(names):
        ax.text(x[i] + 0.2, 100 * s.loc[n, "mean"] + 100 * s.loc[n, "std"] + 0.5, f"{100 * (s.loc[n, 'mean'] - zs[n]):+.1f}",
                ha="center", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(title or "zero-shot vs tuned on synthetic data (mean ± std over seeds)")
    ax.legend(fontsize=8, loc="lower right")
    stamp(fig, profile)
    return fig


def variant_table(df: pd.DataFrame, zero: pd.Series, order: Sequence[str]) -> pd.DataFrame:
    """One row per dataset, one column per variant: "mean ± std" in percent (CLIP = zero-shot)."""
    s = _summary(df, ["dataset", "variant"])
    cells = (100 * s["mean"]).round(2).astype(str) + " ± " + (100 * s["std"]).round(2).astype(str)
    wide = cells.unstack("variant")
    wide = wide[[v for v in order if v in wide.columns]]
    wide.insert(0, "CLIP", (100 * zero[wide.index]).round(2).astype(str))
    return wide


def curve(df: pd.DataFrame, x: str, profile: str, hue: str | None = None, xlabel: str = "", title: str = "",
          logx: bool = False, value: str = "test_acc") -> Any:
    """Mean ± std over seeds of ``value`` against ``x`` (one line per ``hue``)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    groups = df.groupby(hue) if hue else [("", df)]
    for label, g in groups:
        s = _summary(g, [x], value)
        xs = s.index.to_numpy(dtype=float)
        ax.plot(xs, 100 * s["mean"], marker="o", label=str(label) if hue else None)
        ax.fill_between(xs, 100 * (s["mean"] - s["std"]), 100 * (s["mean"] + s["std"]), alpha=0.2)
    if logx:
        ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(title)
    if hue:
        ax.legend(fontsize=8)
    stamp(fig, profile)
    return fig


def findings_forest(findings: pd.DataFrame, profile: str) -> Any:
    """Each finding's measured value with its 95% interval, coloured by the verdict."""
    import matplotlib.pyplot as plt

    f = findings.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * len(f) + 1.0))
    for i, r in f.iterrows():
        colour = "#55A868" if r["reproduced"] else "#C44E52"
        ax.errorbar(r["ours_mean"], i, xerr=[[r["ours_mean"] - r["ci_low"]], [r["ci_high"] - r["ours_mean"]]], fmt="o",
                    color=colour, capsize=3)
        ax.text(r["ci_high"], i, f"  {r['unit']}", va="center", fontsize=7, color="0.4")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(f)), [f"{r['id']} ({r['section']})" for _, r in f.iterrows()])
    ax.invert_yaxis()
    ax.set_xlabel("measured difference (95% paired bootstrap interval); green = reproduced")
    stamp(fig, profile)
    return fig


def audit_pairs(pairs: Sequence[tuple[Any, Any, float]], profile: str, title: str) -> Any:
    """The closest (synthetic, real test) pairs side by side, with their cosine."""
    import matplotlib.pyplot as plt

    n = max(1, len(pairs))
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n + 0.6, 2.9), squeeze=False)
    for j, (a, b, cos) in enumerate(pairs):
        for i, im in enumerate((a, b)):
            ax = axes[i, j]
            ax.imshow(np.asarray(im), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
        axes[0, j].set_title(f"{cos:.3f}", fontsize=8)
    axes[0, 0].set_ylabel("synthetic", fontsize=8)
    axes[1, 0].set_ylabel("real test", fontsize=8)
    fig.suptitle(title, fontsize=10)
    stamp(fig, profile)
    return fig


def rg_gallery(gallery: dict, profile: str, title: str = "") -> Any:
    """Real shots (first column) beside their real-guidance variants, one column per strength
    (``few_shot_study.rg_gallery``'s output); one row per class."""
    import matplotlib.pyplot as plt

    real, st = np.asarray(gallery["real"]), gallery["strengths"]
    n = len(real)
    fig, axes = plt.subplots(n, 1 + len(st), figsize=(1.1 * (1 + len(st)), 1.1 * n), squeeze=False)
    for i in range(n):
        for j, (name, img) in enumerate([("real", real[i])] + [(f"s={s:g}", np.asarray(gallery["rg"][s])[i]) for s in st]):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    stamp(fig, profile)
    return fig
