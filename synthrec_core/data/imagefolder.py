"""Any ImageFolder directory as a dataset, so a researcher can bring their own label space.

Two layouts are accepted::

    root/<class>/<image>                      one pool; train/val/test carved by seed
    root/train/<class>/<image>  [root/val/...] [root/test/...]
                                              official splits; missing val/test carved from train

Class folders are sorted by name; the prompt name is the folder name with ``_`` as spaces.
With ``verify=True`` (the default) every image is fully decoded once: unreadable or corrupt
files are skipped, listed in a warning and recorded in ``provenance["skipped_files"]``. Images
are served in one consistent mode: ``"L"`` when every image is grayscale, else ``"RGB"``
(palette and alpha images are converted; transparency becomes the ``background`` level,
black by default, the mini-world polarity).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..config import ConfigError, check
from . import classnames as cn
from .base import RawPool
from .dataset import ImageDataset
from .pool import splits_from_pool

__all__ = ["IMAGE_EXTENSIONS", "folder_name", "imagefolder_pool", "imagefolder_dataset"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
_SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames)
                if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    return out


def _probe(path: Path) -> str:
    """Decode ``path`` fully; return its mode. Raises on any unreadable file."""
    with Image.open(path) as im:
        im.load()
        return "L" if im.mode == "P" and _palette_is_gray(im) else im.mode


def _palette_is_gray(im: Image.Image) -> bool:
    pal = np.asarray(im.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    return bool(len(pal)) and bool(np.all(pal[:, 0] == pal[:, 1]) and np.all(pal[:, 1] == pal[:, 2]))


def folder_name(path: str | os.PathLike) -> str:
    """The folder's own name, also for ``"."``, ``"~"`` or a trailing slash (symlinks not followed)."""
    return Path(os.path.abspath(Path(path).expanduser())).name


def imagefolder_pool(path: str | os.PathLike, *, verify: bool = True, mode: str | None = None,
                     name: str | None = None, progress: bool = True) -> RawPool:
    """Scan an ImageFolder directory into a :class:`RawPool` (parts ``"all"`` or official splits)."""
    root = Path(path).expanduser()
    name = name or folder_name(root)
    if not root.is_dir():
        raise ConfigError(f"imagefolder {name!r}: {root} is not a directory")
    top = _subdirs(root)
    split_layout = bool(top) and {d.name.lower() for d in top} <= set(_SPLIT_DIRS) and \
        any(d.name.lower() == "train" for d in top)
    groups = {_SPLIT_DIRS[d.name.lower()]: d for d in top} if split_layout else {"all": root}

    class_dirs = _subdirs(groups["train" if split_layout else "all"])
    check(bool(class_dirs), f"imagefolder {name!r}: no class folders in {groups.get('train', root)}"
                            " (expected <root>/<class>/<image> or <root>/train/<class>/<image>)")
    folder_names = [d.name for d in class_dirs]
    index = {c: i for i, c in enumerate(folder_names)}

    found: dict[str, list[tuple[Path, int]]] = {}
    for part, pdir in groups.items():
        extra = [d.name for d in _subdirs(pdir) if d.name not in index]
        check(not extra, f"imagefolder {name!r}: {part} has class folder(s) {extra} not present in train")
        found[part] = [(f, index[d.name]) for d in _subdirs(pdir) for f in _image_files(d)]

    skipped: list[dict[str, str]] = []
    modes: Counter[str] = Counter()
    if verify:
        from ..progress import progress as _progress

        total = sum(len(v) for v in found.values())
        bar = _progress(total, f"verify {name}", "img", disable=not progress or total < 2000)
        for part, items in found.items():
            good = []
            for f, y in items:
                try:
                    modes[_probe(f)] += 1
                    good.append((f, y))
                except Exception as err:  # noqa: BLE001 - any decoding failure: skip and report
                    skipped.append({"path": str(f), "error": f"{type(err).__name__}: {err}"})
                bar.update(1)
            found[part] = good
        bar.close()
    if skipped:
        shown = ", ".join(s["path"] for s in skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        warnings.warn(f"imagefolder {name!r}: skipped {len(skipped)} unreadable image file(s): {shown}",
                      stacklevel=2)

    for part, items in found.items():
        counts = np.bincount([y for _, y in items], minlength=len(folder_names))
        if part in ("train", "all"):
            empty = [folder_names[i] for i in np.flatnonzero(counts == 0)]
            check(not empty, f"imagefolder {name!r}: class folder(s) {empty} hold no readable images")
    check(sum(len(v) for v in found.values()) > 0, f"imagefolder {name!r}: no readable images under {root}")

    if mode is None:
        mode = "L" if modes and set(modes) <= _GRAY_MODES else "RGB"
    check(mode in ("L", "RGB"), f"mode={mode!r} must be 'L' or 'RGB'")
    classnames = [cn.clean_identifier(c) for c in folder_names]
    converted = {m: n for m, n in sorted(modes.items()) if m != mode}

    parts: dict[str, ImageDataset] = {}
    offset = 0
    for part in sorted(found, key=lambda p: ("all", "train", "val", "test").index(p)):
        items = found[part]
        parts[part] = ImageDataset(name=name, split=part, classnames=classnames, display_names=folder_names,
                                   paths=[f for f, _ in items], labels=np.array([y for _, y in items], np.int64),
                                   ids=np.arange(len(items), dtype=np.int64) + offset, mode=mode)
        offset += len(items)
    prov: dict[str, Any] = {
        "source": f"ImageFolder {root}",
        "layout": "train/val/test folders" if split_layout else "class folders (no official split)",
        "official_split": "/".join(p for p in parts) if split_layout else "none; carved by seed (stratified)",
        "verified": bool(verify),
        "mode": mode,
        "modes_found": dict(modes),
        "converted_modes": converted,
        "skipped_files": skipped,
    }
    return RawPool(classnames, folder_names, parts, prov)


def imagefolder_dataset(path: str | os.PathLike, *, split_seed: int = 0, val_size: float | int = 0.1,
                        test_size: float | int = 0.2, max_test: int | None = None, mode: str | None = None,
                        name: str | None = None, verify: bool = True) -> "Any":
    """A user ImageFolder directory as :class:`~synthrec_core.data.DatasetSplits`.

    Args:
        path: ``<root>/<class>/<image>`` or ``<root>/{train,val,test}/<class>/<image>``.
        split_seed: seed of the carved splits (val from train; test too if there is no test folder).
        val_size, test_size: fraction in (0, 1) or count, used only where a split is carved.
        max_test: subsample the test split to at most this many (stratified, seeded).
        mode: force ``"L"`` or ``"RGB"``; default: ``"L"`` if all images are grayscale.
        name: dataset name (default: the folder's name).
        verify: decode every image once and skip (and report) unreadable files.

    Warns (``UserWarning``) when a class has too few images to reach val or test, naming the
    class and the splits (also in ``provenance["classes_missing_from_splits"]``).
    """
    pool = imagefolder_pool(path, verify=verify, mode=mode, name=name)
    name = name or folder_name(path)
    return splits_from_pool(name, pool, seed=split_seed, val_size=val_size, test_size=test_size,
                            max_test=max_test, description=f"ImageFolder dataset at {path}")
