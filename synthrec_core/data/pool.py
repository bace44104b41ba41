"""From a dataset as shipped (a :class:`~synthrec_core.data.base.RawPool`) to seeded
train/val/test :class:`~synthrec_core.data.DatasetSplits`: :func:`splits_from_pool`.

The rules:

- no official split: ``test`` is carved from the whole pool (``test_size``, stratified), then
  ``val`` from the rest (``val_size``);
- official train/test: test kept, ``val`` carved from train;
- official train/val/test: used as shipped (``val_size`` is ignored);
- ``max_test``: the test split is subsampled (stratified, seeded) for fast runs.

Carving keeps at least one image of every class in train, so a class with very few images
(one image, say) can end up with none in val or test. That is reported, not silent: one
``UserWarning`` names every such class and the splits it is missing from, and
``provenance["classes_missing_from_splits"]`` records it (``{class: [splits]}``; checked before
``max_test``, whose subsampling is the caller's explicit choice).

This module loads nothing; the registry, the folder loaders and :mod:`.imagefolder` all use it,
so none of them has to import another to carve splits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import check
from .base import RawPool, warn_user
from .dataset import SPLIT_NAMES, DatasetSplits, ImageDataset
from .splits import carve_splits, stratified_subsample

__all__ = ["splits_from_pool", "missing_from_splits"]


def missing_from_splits(parts: dict[str, ImageDataset], classnames: list[str]) -> dict[str, list[str]]:
    """``{class: [splits]}`` for classes present in train but absent from a non-empty val/test."""
    counts = {s: parts[s].class_counts() for s in SPLIT_NAMES}
    out: dict[str, list[str]] = {}
    for c, name in enumerate(classnames):
        if counts["train"][c] == 0:
            continue  # no training images is an error, raised by the caller
        lacking = [s for s in ("val", "test") if len(parts[s]) and counts[s][c] == 0]
        if lacking:
            out[name] = lacking
    return out


def _warn_missing(name: str, missing: dict[str, list[str]], parts: dict[str, ImageDataset],
                  classnames: list[str]) -> None:
    total = sum(parts[s].class_counts() for s in SPLIT_NAMES)
    index = {c: i for i, c in enumerate(classnames)}
    shown = "; ".join(f"{c!r} ({int(total[index[c]])} image(s)): no {' or '.join(s)}" for c, s in missing.items())
    lacking = sorted({s for splits in missing.values() for s in splits}, key=SPLIT_NAMES.index)
    small = [f"{s} holds {len(parts[s])} image(s) for {len(classnames)} classes" for s in lacking
             if len(parts[s]) < len(classnames)]
    sizes = " or ".join(s.split()[0] + "_size" for s in small)
    hint = f" ({'; '.join(small)}: a larger {sizes} helps)" if small else ""
    warn_user(f"dataset {name!r}: {len(missing)} class(es) have too few images to reach every split, "
              f"so they are not evaluated there: {shown}{hint}")


def splits_from_pool(name: str, pool: RawPool, *, seed: int = 0, val_size: float | int = 0.1,
                     test_size: float | int = 0.2, max_test: int | None = None,
                     description: str = "") -> DatasetSplits:
    """Seeded train/val/test splits from a raw pool (see the module docstring for the rules).

    Raises:
        ConfigError: bad sizes, no train split, or a class without training images.
    Warns:
        UserWarning: some class has no images in val or test (named, with the splits).
    """
    parts = dict(pool.parts)
    carved: list[str] = []
    if set(parts) == {"all"}:
        full = parts.pop("all")
        idx = carve_splits(full.labels, seed, val_size, test_size)
        parts = {s: full.subset(idx[s], split=s) for s in SPLIT_NAMES}
        carved = list(SPLIT_NAMES)
    else:
        check("train" in parts, f"dataset {name!r}: no train split in {sorted(parts)}")
        if "val" not in parts or "test" not in parts:
            train = parts["train"]
            idx = carve_splits(train.labels, seed, val_size, test_size if "test" not in parts else None)
            parts["train"] = train.subset(idx["train"], split="train")
            for s in ("val", "test"):
                if s not in parts:
                    parts[s] = train.subset(idx[s], split=s)
                    carved.append(s)
    counts_train = parts["train"].class_counts()
    empty = [pool.classnames[i] for i in np.flatnonzero(counts_train == 0)]
    check(not empty, f"dataset {name!r}: class(es) {empty} have no training images")
    missing = missing_from_splits(parts, list(pool.classnames))
    if missing:
        _warn_missing(name, missing, parts, list(pool.classnames))
    full_test = len(parts["test"])
    if max_test is not None:
        parts["test"] = parts["test"].subset(stratified_subsample(parts["test"].labels, max_test, seed), split="test")
    prov: dict[str, Any] = dict(pool.provenance)
    prov.update(
        name=name,
        seed=seed,
        val_size=val_size if "val" in carved else None,
        test_size=test_size if "test" in carved else None,
        carved_splits=carved,
        max_test=max_test,
        test_size_before_max_test=full_test,
        classes_missing_from_splits=missing,
        sizes={s: len(parts[s]) for s in SPLIT_NAMES},
        image_shape=list(parts["train"].images.shape[1:]) if parts["train"].images is not None else "varies (files)",
        mode=parts["train"].mode,
    )
    return DatasetSplits(name=name, classnames=list(pool.classnames), display_names=list(pool.display_names),
                         train=parts["train"], val=parts["val"], test=parts["test"],
                         description=description, provenance=prov)
