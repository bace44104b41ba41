"""Shared plumbing of the dataset loaders: the raw pool type, the offline switch, the error
for a missing dataset, and a small content-keyed ``.npz`` cache.

A loader returns a :class:`RawPool`: the dataset's images and labels grouped by the splits
its authors ship (``"all"`` when there is no official split; ``"train"``/``"test"``;
or ``"train"``/``"val"``/``"test"``). :func:`synthrec_core.data.registry.load_dataset` turns a
pool into seeded train/val/test splits.
"""

from __future__ import annotations

import dataclasses
import io
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..paths import cache_dir
from ..utils import atomic_write_bytes, file_sha256, stable_hash
from .dataset import ImageDataset

__all__ = ["RawPool", "DatasetUnavailable", "is_offline", "cached_arrays", "datasets_cache_dir", "warn_user"]

_TRUE = {"1", "true", "yes", "on"}


class DatasetUnavailable(FileNotFoundError):
    """A dataset is not on disk and cannot be fetched now. The message says how to get it."""


def is_offline() -> bool:
    """True when downloads are forbidden: ``SYNTHREC_OFFLINE`` or ``HF_HUB_OFFLINE`` is set."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("SYNTHREC_OFFLINE", "HF_HUB_OFFLINE"))


def warn_user(message: str) -> None:
    """``warnings.warn(message, UserWarning)`` attributed to the first caller outside this package."""
    here = str(Path(__file__).parent)
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def datasets_cache_dir() -> Path:
    """``cache_dir()/datasets``: default ``root`` for downloads and parsed-array caches."""
    path = cache_dir() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclasses.dataclass
class RawPool:
    """A dataset as shipped: named official parts sharing one label space.

    ``parts`` maps ``"all"`` or ``"train"``/``"val"``/``"test"`` to an :class:`ImageDataset`
    (``split`` set to the part name). ``provenance`` says where the data came from.
    """

    classnames: list[str]
    display_names: list[str]
    parts: dict[str, ImageDataset]
    provenance: dict[str, Any]


def cached_arrays(tag: str, files: list[Path], parse: Callable[[], dict[str, np.ndarray]],
                  version: int = 1) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``parse()``'s arrays, cached in ``datasets_cache_dir()`` under a key of the files' sha256.

    Returns ``(arrays, info)``; ``info`` has the cache file, whether it was hit, and the
    source hashes. The cache is written atomically; a damaged cache file is re-parsed.
    """
    hashes = {Path(f).name: file_sha256(f) for f in files}
    key = stable_hash({"tag": tag, "version": version, "files": hashes})
    path = datasets_cache_dir() / f"{tag}-{key}.npz"
    info: dict[str, Any] = {"cache_file": str(path), "source_sha256": hashes}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            info["cache_hit"] = True
            return arrays, info
        except Exception:  # noqa: BLE001 - any damage means: parse again
            pass
    t0 = time.perf_counter()
    arrays = parse()
    info.update(cache_hit=False, parse_seconds=round(time.perf_counter() - t0, 3))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return arrays, info
