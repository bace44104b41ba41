"""Figures of the mini-world chapter, drawn from the corpus, saved tables and generated sets.

Corpus samples by style, corpus images per downstream concept, training curves, MiniGen sample
grids (through :func:`synthrec_core.plots.show_rows`), the gate-2 and gate-3 bar charts.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..plots import show_rows, tile
from ..report import stamp

__all__ = ["plot_corpus_styles", "plot_concept_counts", "plot_training_curves", "plot_samples", "style_prompts",
           "plot_zero_shot", "plot_synthetic_gain"]


def plot_corpus_styles(corpus: Any, per_style: int = 12, seed: int = 0, profile: str = "mini"):
    """One row of random corpus images per style, with one caption each."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    styles = [s for s in ("handwritten", "typed", "silhouette", "outline", "grayscale") if (corpus.style == s).any()]
    fig, axes = plt.subplots(len(styles), per_style, figsize=(per_style * 0.75, len(styles) * 0.95 + 0.4), squeeze=False)
    for r, s in enumerate(styles):
        idx = rng.choice(np.flatnonzero(corpus.style == s), size=min(per_style, int((corpus.style == s).sum())), replace=False)
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(idx):
                ax.imshow(corpus.images[idx[c]], cmap="gray", vmin=0, vmax=255)
                ax.set_title(str(corpus.concept[idx[c]])[:10], fontsize=7)
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(s, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("foundation corpus: random images per style (title = concept)", fontsize=11)
    stamp(fig, profile)
    return fig


def plot_concept_counts(counts: pd.DataFrame, profile: str = "mini"):
    """Stacked bars: corpus images per downstream concept, by style."""
    import matplotlib.pyplot as plt

    styles = [c for c in counts.columns if c != "total"]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(counts) + 1))
    counts[styles].plot.barh(stacked=True, ax=ax, width=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("corpus images")
    ax.set_ylabel("")
    ax.set_title("corpus images per downstream concept")
    stamp(fig, profile)
    return fig


def plot_training_curves(curves: pd.DataFrame, profile: str = "mini"):
    """Loss against step, one panel per run (smoothed over 25 steps)."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(curves["model"])) or ["(no training log)"]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = curves[curves["model"] == m]
        if len(d):
            ax.plot(d["step"], d["loss"], alpha=0.3, lw=0.8)
            ax.plot(d["step"], d["loss"].rolling(25, min_periods=1).mean(), lw=1.5)
        ax.set_title(m, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    stamp(fig, profile)
    return fig


def style_prompts(objects: Sequence[str] = ("dog", "sneaker"), digits: Sequence[str] = ("seven",)) -> dict[str, str]:
    """``{"concept / style": prompt}`` for every corpus style of each object and digit concept
    (the profile's ``world.style_prompts``, one template syntax)."""
    from ..data.classnames import DIGITS
    from ..zero_shot import fill_template
    from .gates import world

    styles = world()["style_prompts"]
    out = {}
    for o in objects:
        for s in ("silhouette", "outline", "grayscale"):
            out[f"{o} / {s}"] = fill_template(styles[s], o)
    for d in digits:
        for s in ("handwritten", "typed"):
            e = styles[s]
            tpl, names = (e, "class") if isinstance(e, str) else (e["template"], e.get("names", "class"))
            out[f"{d} / {s}"] = fill_template(tpl, str(DIGITS.index(d)) if names == "display" else d)
    return out


def plot_samples(samples: np.ndarray, classnames: Sequence[str], title: str, profile: str = "mini", per_class: int = 10):
    """Generated images ``uint8 [C, n, H, W]`` as one grid, one row per class."""
    return show_rows(tile(samples, per_class), classnames, min(samples.shape[1], per_class), title, profile)


def plot_zero_shot(results: dict[str, Any], profile: str = "mini"):
    """MiniCLIP zero-shot per dataset beside chance and the 16-shot linear probe."""
    import matplotlib.pyplot as plt

    names = list(results["miniclip_zero_shot"])
    df = pd.DataFrame({
        "chance": [results["chance"][n] for n in names],
        "zero-shot (val-chosen prompt)": [results["miniclip_zero_shot"][n] for n in names],
        "16-shot linear probe": [results["linear_probe_16shot"][n] for n in names],
    }, index=names) * 100
    fig, ax = plt.subplots(figsize=(7, 3.2))
    df.plot.bar(ax=ax, rot=0, width=0.8)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("MiniCLIP on downstream data it never saw")
    stamp(fig, profile)
    return fig


def plot_synthetic_gain(results: dict[str, Any], profile: str = "mini"):
    """Gate 3: test-accuracy change from tuning the zero-shot head on MiniGen images, beside the
    same tuning on corpus images (the ceiling), mean ± std over seeds, in points."""
    import matplotlib.pyplot as plt

    names = list(results["synthetic_gain"])
    kinds = {"MiniGen images": results["synthetic_gain"]}
    if results.get("synthetic_ceiling"):
        kinds["corpus images (ceiling)"] = results["synthetic_ceiling"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(kinds)
    for k, (label, d) in enumerate(kinds.items()):
        xs = np.arange(len(names)) + (k - (len(kinds) - 1) / 2) * width
        ax.bar(xs, [100 * d[n]["mean"] for n in names], width, yerr=[100 * d[n]["std"] for n in names], capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("tuned minus zero-shot (points)")
    ax.set_title("gate 3: tuning MiniCLIP's zero-shot head (mean ± std over seeds)")
    ax.legend(fontsize=8)
    stamp(fig, profile)
    return fig
