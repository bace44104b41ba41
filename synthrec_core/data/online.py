"""Loaders for the paper profile's datasets, through torchvision (or a folder for ImageNet).

Nothing is held in memory except CIFAR's arrays: file-based sets become path-backed
:class:`~synthrec_core.data.ImageDataset` objects. Every loader first looks for the data under
``root`` (default ``cache_dir()/datasets``) *without* downloading. If it is absent:

- offline (``SYNTHREC_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``): raise
  :class:`~synthrec_core.data.DatasetUnavailable` at once, naming the dataset and how to get it;
- online: let torchvision download it; if that fails, raise the same error with the cause.

Class names are cleaned to human-readable words (see :mod:`synthrec_core.data.classnames`);
Caltech-101 follows CoOp (no background class, no duplicate "Faces_easy").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import classnames as cn
from .base import DatasetUnavailable, RawPool, is_offline
from .dataset import ImageDataset

__all__ = ["PAPER_LOADERS", "HOW_TO_GET", "EXPECTED_DIR", "load_imagenet_folder", "load_coop_split"]

# How to get each dataset by hand (shown in every "not available" error).
HOW_TO_GET = {
    "cifar10": "torchvision downloads it (~170 MB) when online; or extract cifar-10-python.tar.gz into {root}",
    "cifar100": "torchvision downloads it (~170 MB) when online; or extract cifar-100-python.tar.gz into {root}",
    "eurosat": "torchvision downloads it (~90 MB) when online; or unzip EuroSAT.zip to {root}/eurosat/2750/<class>/",
    "dtd": "torchvision downloads it (~600 MB) when online; or extract dtd-r1.0.1.tar.gz into {root}/dtd/",
    "flowers102": "torchvision downloads it (~330 MB) when online; or put 102flowers.tgz contents, imagelabels.mat "
                  "and setid.mat in {root}/flowers-102/",
    "food101": "torchvision downloads it (~5 GB) when online; or extract food-101.tar.gz into {root}/food-101/",
    "oxford_pets": "torchvision downloads it (~800 MB) when online; or extract images.tar.gz and annotations.tar.gz "
                   "into {root}/oxford-iiit-pet/",
    "stanford_cars": "its original URL is gone, so torchvision cannot download it: get the Stanford Cars images and "
                     "devkit (e.g. from Kaggle) and arrange them as {root}/stanford_cars/{{cars_train,cars_test,devkit,"
                     "cars_test_annos_withlabels.mat}}",
    "fgvc_aircraft": "torchvision downloads it (~2.6 GB) when online; or extract fgvc-aircraft-2013b.tar.gz into "
                     "{root}/fgvc-aircraft-2013b/",
    "caltech101": "torchvision downloads it (~130 MB, needs the gdown package) when online; or extract "
                  "101_ObjectCategories into {root}/caltech101/",
    "sun397": "torchvision downloads it (~37 GB) when online; or extract SUN397.tar.gz into {root}/SUN397/",
    "imagenet": "ImageNet cannot be downloaded automatically: place ILSVRC-2012 as {root}/imagenet/train/<wnid>/*.JPEG "
                "and {root}/imagenet/val/<wnid>/*.JPEG (val sorted into wnid folders)",
}


# The folder torchvision looks for under ``root``: checked before importing torchvision, so an
# offline miss fails in milliseconds rather than after torch's multi-second import.
EXPECTED_DIR = {
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "eurosat": "eurosat/2750",
    "dtd": "dtd/dtd",
    "flowers102": "flowers-102",
    "food101": "food-101",
    "oxford_pets": "oxford-iiit-pet",
    "stanford_cars": "stanford_cars",
    "fgvc_aircraft": "fgvc-aircraft-2013b",
    "caltech101": "caltech101/101_ObjectCategories",
    "sun397": "SUN397",
}


def _unavailable(name: str, root: Path, reason: str) -> DatasetUnavailable:
    how = HOW_TO_GET[name].format(root=root)
    return DatasetUnavailable(f"dataset {name!r} is not available under {root} ({reason}). To get it: {how}")


def _open(name: str, root: Path, build: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
    """``build(download)`` -> parts; fail fast offline, try a download online."""
    expected = root / EXPECTED_DIR[name]
    if is_offline() and not expected.exists():
        raise _unavailable(name, root, f"offline: SYNTHREC_OFFLINE or HF_HUB_OFFLINE is set, and {expected} is absent")
    try:
        return build(False)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        if is_offline():
            raise _unavailable(name, root, "offline: SYNTHREC_OFFLINE or HF_HUB_OFFLINE is set") from err
    try:
        return build(True)
    except Exception as err:  # noqa: BLE001 - any download problem is reported the same way
        raise _unavailable(name, root, f"download failed: {type(err).__name__}: {err}") from err


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


def _imagenet_names(wnids: list[str]) -> list[str]:
    """First WordNet lemma of each synset (from timm's bundled tables), made unique."""
    lemma: dict[str, str] = {}
    try:
        from importlib import resources

        text = resources.files("timm").joinpath("data/_info/imagenet_synset_to_lemma.txt").read_text()
        for line in text.splitlines():
            wnid, _, lemmas = line.partition("\t")
            lemma[wnid] = lemmas.split(",")[0].strip()
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        pass
    names = [cn.IMAGENET_OVERRIDES.get(w, lemma.get(w, w)) for w in wnids]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [f"{n} ({w})" if seen[n] > 1 else n for n, w in zip(names, wnids)]


def load_imagenet_folder(name: str, root: Path) -> RawPool:
    """ImageNet from ``root/imagenet/{train,val}/<wnid>/``; val serves as the test split."""
    from .imagefolder import imagefolder_pool

    base = root / "imagenet"
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise _unavailable(name, root, f"{base}/train and {base}/val not found")
    pool = imagefolder_pool(base, verify=False, mode="RGB", name=name)
    names = _imagenet_names(pool.display_names)
    parts = {("test" if p == "val" else p): dataclasses.replace(ds, split="test" if p == "val" else p,
                                                                 classnames=names)
             for p, ds in pool.parts.items()}
    prov = dict(pool.provenance, official_split="train / val (used as test); val carved from train",
                classnames="first WordNet lemma (timm tables), collisions resolved")
    return RawPool(names, pool.display_names, parts, prov)


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
    "sun397": _sun,
    "imagenet": load_imagenet_folder,
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
