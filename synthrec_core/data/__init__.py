"""synthrec's dataset layer: real downstream data behind one API.

- :func:`load_dataset` / :func:`list_datasets`: registered datasets (offline ones from
  packages for the ``mini`` profile; torchvision / folder ones for the ``paper`` profile, all
  17 of the paper's Table 1) as seeded train/val/test :class:`DatasetSplits`; a folder path
  in place of a name loads that ImageFolder directory;
- :func:`imagefolder_dataset`: any user ImageFolder directory;
- :func:`splits_from_pool`: the carving rules, from a dataset as shipped to train/val/test;
- :func:`load_coop_dataset`: a CoOp ``split_zhou_*.json`` split over local images;
- :func:`kshot` / :func:`kshot_indices`: seeded k-shot draws from train only;
- :func:`select_classes`: a subset of the label space, relabelled;
- :func:`to_mini_resolution` / :func:`pad_to`: the mini world's 32x32 framing.
"""

from .base import DatasetUnavailable, RawPool, is_offline
from .dataset import SPLIT_NAMES, DatasetSplits, ImageDataset
from .imagefolder import imagefolder_dataset, imagefolder_pool
from .preview import class_grid
from .pool import splits_from_pool
from .registry import (
    DATASETS,
    DatasetSpec,
    dataset_spec,
    describe_datasets,
    list_datasets,
    load_coop_dataset,
    load_dataset,
)
from .splits import carve_splits, kshot, kshot_indices, select_classes, stratified_subsample
from .transforms import MINI_SIZE, pad_to, to_grayscale, to_mini_resolution

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetSplits",
    "DatasetUnavailable",
    "ImageDataset",
    "MINI_SIZE",
    "RawPool",
    "SPLIT_NAMES",
    "carve_splits",
    "class_grid",
    "dataset_spec",
    "describe_datasets",
    "imagefolder_dataset",
    "imagefolder_pool",
    "is_offline",
    "kshot",
    "kshot_indices",
    "list_datasets",
    "load_coop_dataset",
    "load_dataset",
    "pad_to",
    "select_classes",
    "splits_from_pool",
    "stratified_subsample",
    "to_grayscale",
    "to_mini_resolution",
]
