"""Figures and tables shared by the notebooks (drawn from data or saved results, never trained).

Every figure gets the profile that produced it stamped in a corner (:func:`report.stamp`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .report import stamp

__all__ = ["dataset_summary", "class_counts_long", "sample_grid", "class_balance", "show_rows", "tile"]


def dataset_summary(splits: Mapping[str, "DatasetSplits"]) -> pd.DataFrame:  # noqa: F821
    """One row per dataset: classes, split sizes, image size and mode, chance accuracy."""
    rows = []
    for name, s in splits.items():
        h, w = np.asarray(s.train[0][0]).shape[:2]
        rows.append(
            {"dataset": name, "classes": s.num_classes, **s.sizes(), "image": f"{w}x{h} {s.train.mode}",
             "chance %": round(100.0 / s.num_classes, 1)}
        )
    return pd.DataFrame(rows).set_index("dataset")


def class_counts_long(splits: Mapping[str, "DatasetSplits"]) -> pd.DataFrame:  # noqa: F821
    """Items per (dataset, split, class) in long format, for :func:`class_balance`."""
    frames = []
    for name, s in splits.items():
        t = s.class_table().reset_index().melt(id_vars=["class", "display"], var_name="split", value_name="count")
        t.insert(0, "dataset", name)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def show_rows(grid: np.ndarray, labels: Sequence[str], per_row: int, title: str, profile: str = "mini"):
    """A pre-tiled image grid (one row per label, ``per_row`` images per row) with row labels."""
    import matplotlib.pyplot as plt

    k = len(labels)
    row = (grid.shape[0] + 2) / k
    fig, ax = plt.subplots(figsize=(per_row * 0.55 + 1.8, k * 0.55 + 0.7))
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([(i + 0.5) * row - 1 for i in range(k)], labels=list(labels), fontsize=9)
    ax.set_xticks([])
    ax.grid(False)
    ax.set_title(title, fontsize=10)
    stamp(fig, profile)
    return fig


def tile(samples: np.ndarray, per_row: int | None = None, pad: int = 2) -> np.ndarray:
    """Images ``[C, n, H, W]`` tiled into one ``uint8`` grid, one row per class."""
    c, n, h, w = samples.shape[:4]
    n = min(n, per_row or n)
    grid = np.zeros((c * (h + pad) - pad, n * (w + pad) - pad) + samples.shape[4:], np.uint8)
    for i in range(c):
        for j in range(n):
            grid[i * (h + pad): i * (h + pad) + h, j * (w + pad): j * (w + pad) + w] = samples[i, j]
    return grid


def sample_grid(splits, per_class: int = 8, seed: int = 0, profile: str = "mini", split: str = "train",
                size: int | None = None, title: str | None = None):
    """One row per class of ``per_class`` seeded random images (``splits`` may also be one ImageDataset)."""
    from .data.preview import class_grid

    ds = splits[split] if hasattr(splits, "train") else splits
    grid = class_grid(ds, per_class=per_class, seed=seed, size=size, pad=2)
    return show_rows(grid, ds.display_names, per_class, title or f"{ds.name}: {ds.split} samples", profile)


def class_balance(counts: pd.DataFrame, profile: str = "mini"):
    """Bar plots of items per class and split, one panel per dataset (from :func:`class_counts_long`)."""
    import seaborn as sns

    g = sns.catplot(data=counts, x="count", y="display", hue="split", col="dataset", kind="bar",
                    col_wrap=2, sharey=False, sharex=False, height=3.0, aspect=1.3, orient="h")
    g.set_axis_labels("images", "")
    g.set_titles("{col_name}")
    stamp(g.figure, profile)
    return g.figure
