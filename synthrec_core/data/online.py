"""Loaders for the paper profile's datasets that torchvision can fetch, and CoOp split files.

Datasets with no torchvision class (ImageNet and its variants, Birdsnap, CUB) are read from
documented folders by :mod:`.folders`; ``HOW_TO_GET`` / ``EXPECTED_DIR`` live in
:mod:`.sources` (re-exported here).

Nothing is held in memory except CIFAR's arrays: file-based sets become path-backed
:class:`~synthrec_core.data.ImageDataset` objects. Every loader first looks for the data under
``root`` (default ``cache_dir()/datasets``) *without* downloading. If it is absent:

- offline (``SYNTHREC_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``): raise
  :class:`~synthrec_core.data.DatasetUnavailable` at once, naming the dataset and how to get it;
- online: let torchvision download it; if that fails, raise the same error with the cause.

Class names are cleaned to human-readable words (see :mod:`synthrec_core.data.classnames`);
Caltech-101 follows CoOp (no background class, no duplicate "Faces_easy"). Caltech-256 keeps
its 257th folder, "257.clutter", as class "clutter", as the paper's official code does (it
evaluates on all 257); ``select_classes`` drops it in one call for CoOp-style practice.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import classnames as cn
from .base import DatasetUnavailable, RawPool, is_offline
from .dataset import ImageDataset
from .folders import load_imagenet_folder
from .sources import EXPECTED_DIR, HOW_TO_GET, unavailable

__all__ = ["PAPER_LOADERS", "HOW_TO_GET", "EXPECTED_DIR", "load_imagenet_folder", "load_coop_split"]

# the ImageNet name table, under the name earlier code imported it by
_imagenet_names = cn.imagenet_names


def _open(name: str, root: Path, build: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
    """``build(download)`` -> parts; fail fast offline, try a download online."""
    expected = root / EXPECTED_DIR[name]
    if is_offline() and not expected.exists():
        raise unavailable(name, root, f"offline: SYNTHREC_OFFLINE or HF_HUB_OFFLINE is set, and {expected} is absent")
    try:
        return build(False)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        if is_offline():
            raise unavailable(name, root, "offline: SYNTHREC_OFFLINE or HF_HUB_OFFLINE is set") from err
    try:
        return build(True)
    except Exception as err:  # noqa: BLE001 - any download problem is reported the same way
        raise unavailable(name, root, f"download failed: {type(err).__name__}: {err}") from err


def _to_image_dataset(name: str, part: str, ds: Any, classnames: list[str], display: list[str],
                      offset: int) -> ImageDataset:
    """A torchvision dataset as an array- or path-backed :class:`ImageDataset`."""
    common = dict(name=name, split=part, classnames=classnames, display_names=display)
    if hasattr(ds, "data") and isinstance(getattr(ds, "data"), np.ndarray):  # CIFAR
        labels = np.asarray(ds.targets, dtype=np.int64)
        return ImageDataset(images=ds.data, labels=labels, ids=np.arange(len(labels)) + offset, **common)
    if hasattr(ds, "samples"):  # ImageFolder subclasses (EuroSAT)
        paths, labels = zip(*ds.samples) if ds.samples else ((), ())
    elif hasattr(ds, "_image_files") and hasattr(ds, "_labels"):  # DTD, Flowers, Food, Pets, Aircraft, SUN397
        paths, labels = ds._image_files, ds._labels
    elif hasattr(ds, "_samples"):  # StanfordCars
        paths, labels = zip(*ds._samples) if ds._samples else ((), ())
    elif hasattr(ds, "categories") and hasattr(ds, "index") and hasattr(ds, "y"):  # Caltech101
        base = Path(ds.root) / "101_ObjectCategories"
        paths = [base / ds.categories[y] / f"image_{i:04d}.jpg" for i, y in zip(ds.index, ds.y)]
        labels = ds.y
    else:  # pragma: no cover - an unknown torchvision class: index it lazily
        labels = [ds[i][1] for i in range(len(ds))]
        return ImageDataset(source=ds, labels=np.asarray(labels), ids=np.arange(len(labels)) + offset,
                            mode="RGB", **common)
    labels = np.asarray(labels, dtype=np.int64)
    return ImageDataset(paths=list(paths), labels=labels, ids=np.arange(len(labels)) + offset, mode="RGB", **common)


def _pool(name: str, parts: dict[str, Any], classnames: list[str], display: list[str], prov: dict) -> RawPool:
    out, offset = {}, 0
    for part, ds in parts.items():
        out[part] = _to_image_dataset(name, part, ds, classnames, display, offset)
        offset += len(out[part])
    return RawPool(classnames, display, out, dict(prov, source=f"torchvision.datasets ({name})"))


def _tv():
    import torchvision.datasets as tvd

    return tvd


def _cifar(name: str, root: Path, hundred: bool) -> RawPool:
    cls = "CIFAR100" if hundred else "CIFAR10"
    parts = _open(name, root, lambda dl: {p: getattr(_tv(), cls)(str(root), train=(p == "train"), download=dl)
                                            for p in ("train", "test")})
    raw = list(parts["train"].classes)
    return _pool(name, parts, [cn.clean_identifier(c) for c in raw], raw,
                 {"official_split": "train 50,000 / test 10,000; val carved from train"})


def _eurosat(name: str, root: Path) -> RawPool:
    parts = _open(name, root, lambda dl: {"all": _tv().EuroSAT(str(root), download=dl)})
    raw = list(parts["all"].classes)
    names = [cn.EUROSAT.get(c, cn.clean_identifier(c)) for c in raw]
    return _pool(name, parts, names, names, {"official_split": "none; carved by seed (stratified)",
                                             "classnames": "full CoOp-style names (not truncated)"})


def _split_parts(name: str, root: Path, cls: str, splits: dict[str, str], **kw: Any) -> dict:
    """Parts from a torchvision class (named, so torchvision is imported only when needed)."""
    return _open(name, root, lambda dl: {p: getattr(_tv(), cls)(str(root), split=s, download=dl, **kw)
                                         for p, s in splits.items()})


def _dtd(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "DTD", {"train": "train", "val": "val", "test": "test"}, partition=1)
    raw = list(parts["train"].classes)
    return _pool(name, parts, [cn.clean_identifier(c) for c in raw], raw, {"official_split": "partition 1 train/val/test"})


def _flowers(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "Flowers102", {"train": "train", "val": "val", "test": "test"})
    return _pool(name, parts, list(cn.FLOWERS102), list(cn.FLOWERS102), {"official_split": "train/val/test (setid.mat)"})


def _food(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "Food101", {"train": "train", "test": "test"})
    raw = list(parts["train"].classes)
    return _pool(name, parts, [cn.clean_identifier(c) for c in raw], raw,
                 {"official_split": "train 75,750 / test 25,250; val carved from train"})


def _pets(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "OxfordIIITPet", {"train": "trainval", "test": "test"})
    raw = list(parts["train"].classes)
    return _pool(name, parts, raw, raw, {"official_split": "trainval / test; val carved from trainval"})


def _cars(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "StanfordCars", {"train": "train", "test": "test"})
    raw = list(parts["train"].classes)
    return _pool(name, parts, raw, raw, {"official_split": "train 8,144 / test 8,041; val carved from train"})


def _aircraft(name: str, root: Path) -> RawPool:
    parts = _split_parts(name, root, "FGVCAircraft", {"train": "train", "val": "val", "test": "test"},
                         annotation_level="variant")
    raw = list(parts["train"].classes)
    return _pool(name, parts, raw, raw, {"official_split": "train/val/test (variant level)"})


def _caltech(name: str, root: Path) -> RawPool:
    parts = _open(name, root, lambda dl: {"all": _tv().Caltech101(str(root), target_type="category", download=dl)})
    raw = list(parts["all"].categories)
    pool = _pool(name, parts, [cn.clean_identifier(c) for c in raw], raw,
                 {"official_split": "none; carved by seed (stratified)",
                  "classnames": f"CoOp convention: dropped {list(cn.CALTECH101_IGNORED)}, renamed {cn.CALTECH101_RENAME}"})
    kept = [i for i, c in enumerate(raw) if c not in cn.CALTECH101_IGNORED]
    names = [cn.clean_identifier(cn.CALTECH101_RENAME.get(raw[i], raw[i])) for i in kept]
    display = [raw[i] for i in kept]
    mapping = {old: new for new, old in enumerate(kept)}
    pool.parts = {p: ds.relabel(mapping, names, display) for p, ds in pool.parts.items()}
    return dataclasses.replace(pool, classnames=names, display_names=display)


def _sun(name: str, root: Path) -> RawPool:
    parts = _open(name, root, lambda dl: {"all": _tv().SUN397(str(root), download=dl)})
    raw = list(parts["all"].classes)
    return _pool(name, parts, [cn.sun397_name(c) for c in raw], raw,
                 {"official_split": "none used (the 10 official partitions are not read); carved by seed"})


def _caltech256(name: str, root: Path) -> RawPool:
    """Caltech-256: all 257 folders, "257.clutter" kept as class "clutter" (the paper's code does)."""
    parts = _open(name, root, lambda dl: {"all": _tv().Caltech256(str(root), download=dl)})
    folders = list(parts["all"].categories)
    base = Path(parts["all"].root) / "256_ObjectCategories"
    paths: list[Path] = []
    labels: list[int] = []
    for y, folder in enumerate(folders):  # the files torchvision counts: *.jpg directly in the folder
        files = sorted(p for p in (base / folder).iterdir()
                       if p.name.endswith(".jpg") and not p.name.startswith(".") and p.is_file())
        paths += files
        labels += [y] * len(files)
    names = [cn.caltech256_name(f) for f in folders]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # not the case for the official folders; a modified copy must not silently merge prompts
        names = [f"{n} ({f})" if n in dup else n for n, f in zip(names, folders)]
    part = ImageDataset(name=name, split="all", classnames=names, display_names=folders, paths=paths,
                        labels=np.asarray(labels, np.int64), mode="RGB")
    clutter = "kept as class 'clutter' (as the paper's code)" if cn.CALTECH256_CLUTTER in folders else "absent"
    prov = {"source": f"torchvision.datasets ({name})", "files": str(base),
            "official_split": "none; carved by seed (stratified)",
            "classnames": "folder names without the number prefix and '-101' suffix; "
                          f"{cn.CALTECH256_CLUTTER} {clutter}"}
    return RawPool(names, folders, {"all": part}, prov)


PAPER_LOADERS: dict[str, Callable[[str, Path], RawPool]] = {
    "cifar10": lambda n, r: _cifar(n, r, False),
    "cifar100": lambda n, r: _cifar(n, r, True),
    "eurosat": _eurosat,
    "dtd": _dtd,
    "flowers102": _flowers,
    "food101": _food,
    "oxford_pets": _pets,
    "stanford_cars": _cars,
    "fgvc_aircraft": _aircraft,
    "caltech101": _caltech,
    "caltech256": _caltech256,
    "sun397": _sun,
}


def load_coop_split(split_file: str | Path, image_dir: str | Path, name: str | None = None) -> RawPool:
    """A dataset from a CoOp-style split file (``split_zhou_<Dataset>.json``) over local images.

    The file maps ``"train"``/``"val"``/``"test"`` to ``[relative_path, label, classname]``
    triples; paths are relative to ``image_dir``. Class names are taken from the file (CoOp's
    cleaned names). The paper's few-shot protocol uses these splits, so a GPU reproduction can
    pass them here instead of our seeded carving.
    """
    import json

    split_file, image_dir = Path(split_file), Path(image_dir)
    name = name or split_file.stem.replace("split_zhou_", "").lower()
    if not split_file.is_file():
        raise DatasetUnavailable(f"dataset {name!r}: split file {split_file} not found")
    with open(split_file, encoding="utf-8") as f:
        table = json.load(f)
    names: dict[int, str] = {}
    for part in ("train", "val", "test"):
        for _, label, cname in table.get(part, []):
            names.setdefault(int(label), str(cname))
    n = max(names) + 1 if names else 0
    missing = sorted(set(range(n)) - set(names))
    if missing or not names:
        raise ValueError(f"{split_file}: labels {missing[:5]} have no entries")
    classnames = [names[i] for i in range(n)]
    parts, offset = {}, 0
    for part in ("train", "val", "test"):
        rows = table.get(part, [])
        if not rows:
            continue
        parts[part] = ImageDataset(name=name, split=part, classnames=classnames, mode="RGB",
                                   paths=[image_dir / r[0] for r in rows],
                                   labels=np.array([int(r[1]) for r in rows], np.int64),
                                   ids=np.arange(len(rows), dtype=np.int64) + offset)
        offset += len(rows)
    absent = [str(ds.paths[0]) for ds in parts.values() if ds.paths and not ds.paths[0].exists()]
    if absent:
        raise DatasetUnavailable(f"dataset {name!r}: images of {split_file.name} not found under {image_dir} "
                                 f"(e.g. {absent[0]})")
    prov = {"source": f"CoOp split file {split_file}", "files": str(image_dir),
            "official_split": "CoOp split file (" + "/".join(parts) + ")"}
    return RawPool(classnames, list(classnames), parts, prov)
