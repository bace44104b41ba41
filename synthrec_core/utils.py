"""Small shared helpers: atomic file writes, stable content hashing, seeding.

Everything that writes to disk in synthrec goes through the ``atomic_*`` helpers, so a
crash never leaves a half-written file behind: data goes to a temporary file in the same
directory, is flushed and fsync'ed, then renamed over the target (``os.replace`` is atomic
on POSIX).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "stable_hash",
    "canonical_json",
    "seed_everything",
    "file_sha256",
]


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same object always gives the same text."""
    return json.dumps(_to_jsonable(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as pretty JSON atomically (dataclasses, numpy scalars and paths allowed)."""
    return atomic_write_text(path, json.dumps(_to_jsonable(obj), indent=indent, sort_keys=True) + "\n")


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short sha256 hex digest of ``canonical_json(obj)``; stable across runs and machines."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The full sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency in practice
        pass


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def memo_file_sha256(path: str | os.PathLike) -> str:
    """:func:`file_sha256`, memoised in this process by (resolved path, size, mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    k = (str(p), st.st_size, st.st_mtime_ns)
    if k not in _FILE_HASHES:
        _FILE_HASHES[k] = file_sha256(p)
    return _FILE_HASHES[k]


def files_sha256(paths: "list[Path]", root: str | os.PathLike | None = None) -> str:
    """One sha256 over several files: each file's path (relative to ``root`` when below it) and
    content hash, in sorted order. A renamed or edited file changes it; moving ``root`` does not."""
    items = []
    for p in paths:
        p = Path(p)
        try:
            name = p.relative_to(root).as_posix() if root is not None else p.name
        except ValueError:
            name = p.name
        items.append((name, memo_file_sha256(p)))
    return stable_hash(sorted(items), length=32)
