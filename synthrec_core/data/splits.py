"""Seeded, stratified index arithmetic: split carving, test subsampling, k-shot draws, class subsets.

Everything here is a pure function of labels and a seed, so the same seed gives the same
indices on any machine (NumPy's ``default_rng`` with a ``SeedSequence`` built from
``[seed, purpose, class]``). Draws are made per class, so

- a class's draw does not depend on the other classes, and
- k-shot sets are nested: with one seed the 1-shot set is inside the 2-shot set, and so on.

Only :func:`kshot` knows about splits: it draws from ``train`` and never from ``val``/``test``.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Sequence

import numpy as np

from ..config import ConfigError, check
from .dataset import DatasetSplits, ImageDataset

__all__ = [
    "allocate",
    "stratified_split",
    "stratified_subsample",
    "carve_splits",
    "kshot_indices",
    "kshot",
    "select_classes",
]

# "purpose" salts, so the test carve, the val carve, test subsampling and k-shot draws use
# independent random streams even with the same seed.
_SALT_TEST, _SALT_VAL, _SALT_SUBSAMPLE, _SALT_KSHOT = 101, 102, 103, 104


def _check_seed(seed: int) -> int:
    check(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0,
          f"seed={seed!r} must be a non-negative integer")
    return int(seed)


def _class_rng(seed: int, salt: int, cls: int) -> np.random.Generator:
    return np.random.default_rng([_check_seed(seed), salt, int(cls)])


def allocate(counts: Sequence[int], total: int) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest-remainder rounding).

    The result sums to ``total`` exactly (for ``0 <= total <= sum(counts)``) and never exceeds
    a class's count.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    check(0 <= total <= n, f"cannot take {total} of {n} items")
    if n == 0:
        return np.zeros_like(counts)
    exact = counts * (total / n)
    out = np.floor(exact).astype(np.int64)
    rest = total - int(out.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - out)))  # biggest remainder first, ties by class
    for c in order:
        if rest == 0:
            break
        if out[c] < counts[c]:
            out[c] += 1
            rest -= 1
    return out


def _resolve_size(size: float | int, n: int, what: str) -> int:
    """A fraction in (0, 1) or an absolute count, as a count."""
    if isinstance(size, bool):
        raise ConfigError(f"{what}={size!r} must be a fraction in (0, 1) or a count")
    if isinstance(size, (float, np.floating)):
        check(0.0 < size < 1.0, f"{what}={size!r} must be a fraction in (0, 1) or a count")
        return int(round(float(size) * n))
    check(isinstance(size, (int, np.integer)), f"{what}={size!r} must be a fraction in (0, 1) or a count")
    count = int(size)
    check(0 <= count <= n, f"{what}={size!r} is larger than the {n} items available")
    return count


def stratified_split(labels: np.ndarray, size: float | int, seed: int, salt: int = _SALT_TEST,
                     keep_one: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..N-1`` into ``(rest, taken)`` with ``taken`` stratified by label.

    ``size`` is a fraction or a count. With ``keep_one`` every class keeps at least one item in
    ``rest`` (so a class never vanishes from train). Both outputs are sorted.
    """
    labels = np.asarray(labels, dtype=np.int64)
    total = _resolve_size(size, len(labels), "split size")
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    counts = np.array([len(m) for m in members])
    take = allocate(counts, total)
    if keep_one:
        take = np.minimum(take, np.maximum(counts - 1, 0))
    taken = [
        _class_rng(seed, salt, c).permutation(m)[:t] for c, m, t in zip(classes, members, take)
    ]
    taken_idx = np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[taken_idx] = False
    return np.flatnonzero(mask), taken_idx.astype(np.int64)


def stratified_subsample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a stratified random subset of size ``min(n, N)``."""
    labels = np.asarray(labels, dtype=np.int64)
    check(isinstance(n, (int, np.integer)) and n >= 1, f"max_test={n!r} must be a positive integer")
    if n >= len(labels):
        return np.arange(len(labels), dtype=np.int64)
    _, taken = stratified_split(labels, int(n), seed, salt=_SALT_SUBSAMPLE, keep_one=False)
    return taken


def carve_splits(labels: np.ndarray, seed: int, val_size: float | int,
                 test_size: float | int | None) -> dict[str, np.ndarray]:
    """Positions of train / val (/ test) carved from one pool, stratified and seeded.

    ``test_size=None`` carves only val (the caller has an official test set). Otherwise the
    test set is taken from the whole pool first, then val from what is left.
    """
    labels = np.asarray(labels, dtype=np.int64)
    pool = np.arange(len(labels), dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    if test_size is not None:
        rest, test = stratified_split(labels, test_size, seed, salt=_SALT_TEST)
        out["test"], pool = test, rest
    rest, val = stratified_split(labels[pool], val_size, seed, salt=_SALT_VAL)
    out["val"], out["train"] = pool[val], pool[rest]
    return out


def kshot_indices(dataset_or_labels: ImageDataset | np.ndarray | Sequence[int], k: int, seed: int,
                  classnames: Sequence[str] | None = None) -> np.ndarray:
    """Positions of ``k`` items per class, drawn with ``seed``; sorted.

    Deterministic by seed, independent per class, nested in ``k`` for a fixed seed. Raises
    :class:`ConfigError` if ``k < 1`` or some class has fewer than ``k`` items (naming it).
    """
    if isinstance(dataset_or_labels, ImageDataset):
        labels, classnames = dataset_or_labels.labels, dataset_or_labels.classnames
        num_classes = dataset_or_labels.num_classes
    else:
        labels = np.asarray(dataset_or_labels, dtype=np.int64)
        num_classes = int(labels.max()) + 1 if labels.size else 0
        if classnames is not None:
            num_classes = max(num_classes, len(classnames))
    check(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1,
          f"k={k!r} must be an integer >= 1")
    _check_seed(seed)
    picks = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < k:
            name = classnames[c] if classnames is not None else f"label {c}"
            raise ConfigError(f"k={k} is larger than the {len(members)} training item(s) of class {name!r}")
        picks.append(_class_rng(seed, _SALT_KSHOT, c).permutation(members)[:k])
    return np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.zeros(0, dtype=np.int64)


def kshot(splits: DatasetSplits, k: int, seed: int) -> ImageDataset:
    """A ``k``-shot training set drawn from ``splits.train`` only (never val or test).

    ``splits.replace(train=kshot(splits, k, seed))`` gives k-shot splits with val/test intact.
    """
    if not isinstance(splits, DatasetSplits):
        raise TypeError(f"kshot needs DatasetSplits (it draws from .train only), got {type(splits).__name__}")
    idx = kshot_indices(splits.train, k, seed)
    return splits.train.subset(idx, split=f"train_k{k}_s{seed}")


def _match_class(name: str, classnames: list[str], display: list[str]) -> int:
    for names in (classnames, display):
        if name in names:
            return names.index(name)
    lowered = [c.lower() for c in classnames]
    if str(name).lower() in lowered:
        return lowered.index(str(name).lower())
    close = difflib.get_close_matches(str(name), classnames + display, n=3, cutoff=0.5)
    hint = f" Close matches: {close}." if close else ""
    raise ConfigError(f"unknown class {name!r}.{hint} Known classes: {classnames}")


def select_classes(splits: DatasetSplits, classnames: Sequence[str]) -> DatasetSplits:
    """The splits restricted to ``classnames`` (in that order), relabelled ``0..m-1``.

    Names may be class names or display names. Raises :class:`ConfigError` on an empty list, an
    unknown class (with close matches) or a repeated class.
    """
    if isinstance(classnames, str):
        classnames = [classnames]
    classnames = list(classnames)
    check(len(classnames) > 0, f"select_classes on {splits.name!r}: the class list is empty")
    old = [_match_class(c, list(splits.classnames), list(splits.display_names)) for c in classnames]
    dup = sorted({splits.classnames[o] for o in old if old.count(o) > 1})
    check(not dup, f"select_classes on {splits.name!r}: class(es) {dup} given more than once")
    mapping = {o: i for i, o in enumerate(old)}
    names = [splits.classnames[o] for o in old]
    display = [splits.display_names[o] for o in old]
    new = {s: ds.relabel(mapping, names, display) for s, ds in splits.items()}
    prov = dict(splits.provenance, selected_classes=names)
    return dataclasses.replace(splits, classnames=names, display_names=display, provenance=prov, **new)
