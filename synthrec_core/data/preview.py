"""A per-class sample grid of a split, as one uint8 image array (for figures; no plotting here)."""

from __future__ import annotations

import numpy as np

from .dataset import ImageDataset
from .splits import _class_rng

__all__ = ["class_grid"]

_SALT_GRID = 105


def class_grid(ds: ImageDataset, per_class: int = 8, seed: int = 0, size: int | None = None,
               pad: int = 1) -> np.ndarray:
    """Rows = classes (label order), columns = up to ``per_class`` seeded random images.

    Returns ``(C*(s+pad)-pad, per_class*(s+pad)-pad[, 3])`` uint8; missing cells stay black.
    File-backed datasets need ``size`` unless all images share one.
    """
    if per_class < 1:
        raise ValueError(f"per_class={per_class} must be >= 1")
    picks = []
    for c in range(ds.num_classes):
        members = np.flatnonzero(ds.labels == c)
        picks.append(_class_rng(seed, _SALT_GRID, c).permutation(members)[:per_class])
    flat = np.concatenate(picks) if picks else np.zeros(0, np.int64)
    cells = ds.subset(flat).to_array(size=size, progress=False)
    h, w = (cells.shape[1:3] if len(cells) else (size or 1, size or 1))
    extra = cells.shape[3:] if len(cells) else ((3,) if ds.mode == "RGB" else ())
    grid = np.zeros((ds.num_classes * (h + pad) - pad, per_class * (w + pad) - pad) + tuple(extra), np.uint8)
    k = 0
    for row, sel in enumerate(picks):
        for col in range(len(sel)):
            grid[row * (h + pad): row * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = cells[k]
            k += 1
    return grid
