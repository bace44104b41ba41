"""Figures and tables shared by the notebooks (drawn from data or saved results, never trained).

Every figure gets the profile that produced it stamped in a corner (:func:`report.stamp`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .report import stamp

__all__ = ["dataset_summary", "class_counts_long", "sample_grid", "class_balance"]


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


def sample_grid(splits, per_class: int = 8, seed: int = 0, profile: str = "mini", split: str = "train"):
    """A grid with one row per class and ``per_class`` random training images (seeded)."""
    import matplotlib.pyplot as plt

    ds = splits[split]
    rng = np.random.default_rng(seed)
    k = splits.num_classes
    fig, axes = plt.subplots(k, per_class, figsize=(per_class * 0.7 + 1.6, k * 0.7 + 0.5), squeeze=False)
    for c in range(k):
        idx = np.flatnonzero(ds.labels == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, ax in enumerate(axes[c]):
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(pick):
                img = np.asarray(ds[int(pick[j])][0])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            else:
                ax.axis("off")
        axes[c][0].set_ylabel(splits.display_names[c], rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{splits.name}: {split} samples", fontsize=11)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    stamp(fig, profile)
    return fig


def class_balance(counts: pd.DataFrame, profile: str = "mini"):
    """Bar plots of items per class and split, one panel per dataset (from :func:`class_counts_long`)."""
    import seaborn as sns

    g = sns.catplot(data=counts, x="count", y="display", hue="split", col="dataset", kind="bar",
                    col_wrap=2, sharey=False, sharex=False, height=3.0, aspect=1.3, orient="h")
    g.set_axis_labels("images", "")
    g.set_titles("{col_name}")
    stamp(g.figure, profile)
    return g.figure
