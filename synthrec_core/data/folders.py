"""Paper-profile datasets that torchvision cannot fetch, read from documented folders.

Each loader looks for ``root / EXPECTED_DIR[name]`` (default ``root``: ``cache_dir()/datasets``)
and never touches the network: an absent folder raises
:class:`~synthrec_core.data.DatasetUnavailable` at once, naming the dataset and the layout
(``HOW_TO_GET`` in :mod:`.sources`). Layouts and the splits they give:

| name | layout under ``root`` | classes | split |
|---|---|---|---|
| ``imagenet`` | ``imagenet/{train,val}/<wnid>/*`` | 1000 | val serves as test; val carved from train |
| ``imagenet_sketch`` | ``imagenet-sketch/sketch/<wnid>/*`` | 1000 | none: carved by seed |
| ``imagenet_r`` | ``imagenet-r/<wnid>/*`` | 200 | none: carved by seed |
| ``cub`` | ``CUB_200_2011/{classes.txt,images.txt,train_test_split.txt,images/}`` | 200 | official train/test |
| ``birdsnap`` | ``birdsnap/{species.txt,test_images.txt,download/images/<dir>/*}`` | 500 | official test list |

ImageNet-Sketch and ImageNet-R ship no split (the paper evaluates zero-shot on all of each),
so, like every dataset without an official split, test (30% by default), val and train are
carved by seed; the test split is then a stratified sample of the whole set. Their folders
are wnids, named by the ImageNet table (:func:`~synthrec_core.data.classnames.imagenet_names`).
CUB names come from ``classes.txt`` (``001.Black_footed_Albatross`` -> ``Black footed
Albatross``); Birdsnap names are the ``common`` column of ``species.txt``. Birdsnap images are
downloaded from their original URLs, many of which are dead: species left with no training
image are dropped with a warning (recorded in provenance), never silently.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import check
from . import classnames as cn
from .base import DatasetUnavailable, RawPool, warn_user
from .dataset import ImageDataset
from .imagefolder import IMAGE_EXTENSIONS, imagefolder_pool
from .sources import EXPECTED_DIR, unavailable

__all__ = ["FOLDER_LOADERS", "load_imagenet_folder", "load_imagenet_sketch", "load_imagenet_r", "load_cub",
           "load_birdsnap"]


def _require(name: str, root: Path, *inside: str) -> Path:
    """``root/EXPECTED_DIR[name]``, or a DatasetUnavailable if it (or a file ``inside`` it) is absent."""
    base = root / EXPECTED_DIR[name]
    for rel in ("",) + inside:
        if not (base / rel).exists():
            raise unavailable(name, root, f"{base / rel} not found; this dataset has no automatic download")
    return base


def _paths_part(name: str, part: str, paths: list[Path], labels: list[int], classnames: list[str],
                display: list[str], offset: int) -> ImageDataset:
    return ImageDataset(name=name, split=part, classnames=classnames, display_names=display, paths=paths,
                        labels=np.asarray(labels, np.int64), mode="RGB",
                        ids=np.arange(len(paths), dtype=np.int64) + offset)


def _check_files(name: str, base: Path, parts: dict[str, ImageDataset]) -> None:
    absent = [p for ds in parts.values() for p in ds.paths if not p.is_file()]
    if absent:
        raise DatasetUnavailable(f"dataset {name!r}: {len(absent)} image file(s) listed under {base} are missing "
                                 f"(e.g. {absent[0]}); the archive looks partly extracted")


# -- ImageNet and its variants ----------------------------------------------------------------
def _wnid_pool(name: str, folder: Path, expected: tuple[str, ...], what: str) -> RawPool:
    """A folder of ``<wnid>/`` class folders, named by the ImageNet table."""
    pool = imagefolder_pool(folder, verify=False, mode="RGB", name=name, progress=False)
    wnids = list(pool.display_names)
    known = set(cn.imagenet_wnids())
    bad = [w for w in wnids if known and w not in known]
    check(not bad, f"dataset {name!r}: folder(s) {bad[:5]} under {folder} are not ImageNet-1k wnids")
    prov: dict[str, Any] = dict(pool.provenance, source=f"local folder {folder}",
                                classnames="ImageNet table: first WordNet lemma (timm), collisions resolved")
    if expected and set(wnids) != set(expected):
        lacking = sorted(set(expected) - set(wnids))
        extra = sorted(set(wnids) - set(expected))
        msg = f"dataset {name!r}: {len(wnids)} class folders under {folder}, expected the {len(expected)} of {what}"
        msg += f"; missing {len(lacking)} (e.g. {lacking[:3]})" if lacking else ""
        msg += f"; unexpected {extra[:3]}" if extra else ""
        warn_user(msg)
        prov.update(missing_classes=lacking, unexpected_classes=extra)
    names = cn.imagenet_names(wnids)
    parts = {p: dataclasses.replace(ds, classnames=names) for p, ds in pool.parts.items()}
    return RawPool(names, wnids, parts, prov)


def load_imagenet_folder(name: str, root: Path) -> RawPool:
    """ImageNet from ``root/imagenet/{train,val}/<wnid>/``; val serves as the test split."""
    base = root / "imagenet"
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise unavailable(name, root, f"{base}/train and {base}/val not found")
    pool = imagefolder_pool(base, verify=False, mode="RGB", name=name)
    names = cn.imagenet_names(pool.display_names)
    parts = {("test" if p == "val" else p): dataclasses.replace(ds, split="test" if p == "val" else p,
                                                                 classnames=names)
             for p, ds in pool.parts.items()}
    prov = dict(pool.provenance, official_split="train / val (used as test); val carved from train",
                classnames="first WordNet lemma (timm tables), collisions resolved")
    return RawPool(names, pool.display_names, parts, prov)


def load_imagenet_sketch(name: str, root: Path) -> RawPool:
    """ImageNet-Sketch from ``root/imagenet-sketch/sketch/<wnid>/`` (test-only: carved by seed)."""
    pool = _wnid_pool(name, _require(name, root), cn.imagenet_wnids(), "ImageNet-1k")
    pool.provenance["official_split"] = "none (a test-only set); train/val/test carved by seed (stratified)"
    return pool


def load_imagenet_r(name: str, root: Path) -> RawPool:
    """ImageNet-R from ``root/imagenet-r/<wnid>/`` (200 classes; test-only: carved by seed)."""
    pool = _wnid_pool(name, _require(name, root), cn.imagenet_r_wnids(), "ImageNet-R (timm's table)")
    pool.provenance["official_split"] = "none (a test-only set); train/val/test carved by seed (stratified)"
    return pool


# -- CUB-200-2011 ---------------------------------------------------------------------------
def _id_table(path: Path) -> dict[int, str]:
    """``"<id> <value>"`` lines as ``{id: value}`` (the CUB metadata format)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            key, _, value = line.strip().partition(" ")
            out[int(key)] = value.strip()
    return out


def load_cub(name: str, root: Path) -> RawPool:
    """CUB-200-2011: names from ``classes.txt``; the official split from ``train_test_split.txt``.

    Without ``images.txt``/``train_test_split.txt`` the images under ``images/`` form one pool
    and the splits are carved by seed.
    """
    base = _require(name, root, "classes.txt", "images")
    folders = [v for _, v in sorted(_id_table(base / "classes.txt").items())]
    index = {f: i for i, f in enumerate(folders)}
    names, display = [cn.cub_name(f) for f in folders], list(folders)
    images_dir = base / "images"
    if (base / "images.txt").is_file() and (base / "train_test_split.txt").is_file():
        rel, is_train = _id_table(base / "images.txt"), _id_table(base / "train_test_split.txt")
        rows: dict[str, tuple[list[Path], list[int]]] = {"train": ([], []), "test": ([], [])}
        for image_id in sorted(rel):
            folder = rel[image_id].split("/")[0]
            check(folder in index, f"dataset {name!r}: images.txt lists {rel[image_id]!r}, "
                                   f"whose folder is not in classes.txt")
            part = "train" if is_train.get(image_id, "1") == "1" else "test"
            rows[part][0].append(images_dir / rel[image_id])
            rows[part][1].append(index[folder])
        split = "train/test (train_test_split.txt); val carved from train"
    else:
        rows = {"all": ([], [])}
        for folder in folders:
            files = sorted(p for p in (images_dir / folder).glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            rows["all"][0].extend(files)
            rows["all"][1].extend([index[folder]] * len(files))
        split = "none (no train_test_split.txt); carved by seed (stratified)"
    parts, offset = {}, 0
    for part, (paths, labels) in rows.items():
        parts[part] = _paths_part(name, part, paths, labels, names, display, offset)
        offset += len(paths)
    _check_files(name, base, parts)
    prov = {"source": f"local folder {base}", "official_split": split,
            "classnames": "classes.txt folder names without the number prefix, underscores as spaces"}
    return RawPool(names, display, parts, prov)


# -- Birdsnap -------------------------------------------------------------------------------
def _species(path: Path) -> list[dict[str, str]]:
    """``species.txt`` rows (tab-separated ``id, common, scientific, dir`` with a header), by id."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    check(bool(lines), f"{path} is empty")
    header = lines[0].split("\t")
    if header[0].strip().isdigit():  # no header line: the documented column order
        header, body = ["id", "common", "scientific", "dir"], lines
    else:
        header, body = [h.strip() for h in header], lines[1:]
    check({"id", "common", "dir"} <= set(header), f"{path}: expected columns id, common, dir; got {header}")
    rows = [dict(zip(header, (v.strip() for v in ln.split("\t")))) for ln in body]
    return sorted(rows, key=lambda r: int(r["id"]))


def load_birdsnap(name: str, root: Path) -> RawPool:
    """Birdsnap: common names from ``species.txt``; ``test_images.txt`` is the official test set.

    Only images on disk count (the download script leaves dead URLs out). Species without a
    training image are dropped with a warning; without ``test_images.txt`` the splits are carved.
    """
    base = _require(name, root, "species.txt")
    images_dir = next((d for d in (base / "download" / "images", base / "images") if d.is_dir()), None)
    if images_dir is None:
        raise unavailable(name, root, f"{base}/download/images not found (run get_birdsnap.py in {base})")
    species = _species(base / "species.txt")
    test_file = base / "test_images.txt"
    test_list = set()
    if test_file.is_file():
        test_list = {ln.strip() for ln in test_file.read_text(encoding="utf-8").splitlines()
                     if ln.strip() and ln.strip() != "path"}
    files = {s["dir"]: sorted(p for p in (images_dir / s["dir"]).glob("*")
                              if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
             if (images_dir / s["dir"]).is_dir() else [] for s in species}
    is_test = {s["dir"]: [f"{s['dir']}/{p.name}" in test_list for p in files[s["dir"]]] for s in species}
    has_train = {s["dir"]: not all(is_test[s["dir"]]) for s in species}  # all([]) is True: no image at all
    kept = [s for s in species if has_train[s["dir"]]]
    dropped = [s["common"] for s in species if not has_train[s["dir"]]]
    if dropped:
        warn_user(f"dataset {name!r}: {len(dropped)} species have no training image under {images_dir} and are "
                  f"dropped: {dropped[:10]}{' ...' if len(dropped) > 10 else ''}")
    names = [s["common"] for s in kept]
    rows: dict[str, tuple[list[Path], list[int]]] = {"train": ([], []), "test": ([], [])} if test_list \
        else {"all": ([], [])}
    for y, s in enumerate(kept):
        for path, t in zip(files[s["dir"]], is_test[s["dir"]]):
            part = ("test" if t else "train") if test_list else "all"
            rows[part][0].append(path)
            rows[part][1].append(y)
    parts, offset = {}, 0
    for part, (paths, labels) in rows.items():
        parts[part] = _paths_part(name, part, paths, labels, names, names, offset)
        offset += len(paths)
    on_disk = {f"{d}/{p.name}" for d, fs in files.items() for p in fs}
    prov = {"source": f"local folder {base} (images fetched by get_birdsnap.py)",
            "official_split": "train / test (test_images.txt); val carved from train" if test_list
            else "none (no test_images.txt); carved by seed (stratified)",
            "classnames": "species.txt common names", "species_listed": len(species),
            "species_dropped_no_training_image": dropped,
            "test_images_listed": len(test_list), "test_images_missing": len(test_list - on_disk)}
    return RawPool(names, list(names), parts, prov)


FOLDER_LOADERS: dict[str, Callable[[str, Path], RawPool]] = {
    "imagenet": load_imagenet_folder,
    "imagenet_sketch": load_imagenet_sketch,
    "imagenet_r": load_imagenet_r,
    "cub": load_cub,
    "birdsnap": load_birdsnap,
}
