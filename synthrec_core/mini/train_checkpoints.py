"""Checkpoint formats of the mini world's training runs, and their content identity.

Two forms, neither of which unpickles anything:

- a **run checkpoint** ``checkpoint.pt`` (the resumable state: weights, EMA, optimizer, RNG,
  step, configs), written with ``torch.save`` and always read with ``weights_only=True``, so it
  may hold only tensors, dicts, lists, tuples, numbers and strings;
- a **portable checkpoint**, the shippable form: a folder with ``checkpoint.safetensors`` (every
  dict of tensors in the state, e.g. ``unet``, ``ema``, ``norm``, stored as ``<group>.<name>``)
  and ``checkpoint.json`` (everything else: configs, step, wall time, provenance, and the
  tensor file's sha256, checked on load).

:func:`load_checkpoint` reads either (or a run folder); :func:`checkpoint_identity` is what a run
that starts from a checkpoint is keyed by. Nothing here knows a model or a recipe.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError
from ..utils import atomic_write_bytes, atomic_write_json, file_sha256

__all__ = [
    "PORTABLE_TENSORS",
    "PORTABLE_JSON",
    "save_checkpoint",
    "load_checkpoint",
    "save_portable_checkpoint",
    "is_portable_checkpoint",
    "checkpoint_identity",
]

PORTABLE_TENSORS = "checkpoint.safetensors"
PORTABLE_JSON = "checkpoint.json"
PORTABLE_FORMAT = "synthrec-mini-checkpoint/1"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a resumable run state (tensors, dicts, lists, numbers, strings) atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _tensor_groups(state: dict) -> list[str]:
    return [k for k, v in state.items()
            if isinstance(v, dict) and v and all(isinstance(t, torch.Tensor) for t in v.values())]


def save_portable_checkpoint(state: dict, folder: str | Path) -> Path:
    """Write ``state`` as ``folder/checkpoint.safetensors`` (its dicts of tensors) and
    ``folder/checkpoint.json`` (the rest, plus the tensor file's sha256); returns ``folder``.

    The JSON is written last, so a folder with a JSON is complete; values must be JSON-able.
    """
    from safetensors.torch import save

    folder = Path(folder)
    groups = _tensor_groups(state)
    tensors = {f"{g}.{name}": t.detach().contiguous() for g in groups for name, t in state[g].items()}
    atomic_write_bytes(folder / PORTABLE_TENSORS, save(tensors))
    meta = {k: v for k, v in state.items() if k not in groups}
    meta.update(format=PORTABLE_FORMAT, tensor_groups=groups, tensors_sha256=file_sha256(folder / PORTABLE_TENSORS))
    atomic_write_json(folder / PORTABLE_JSON, meta)
    return folder


def is_portable_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a portable checkpoint folder (it has a ``checkpoint.json``)."""
    return (Path(path) / PORTABLE_JSON).is_file()


def _load_portable(folder: Path) -> dict:
    from safetensors.torch import load_file

    meta = json.loads((folder / PORTABLE_JSON).read_text())
    if meta.get("format") != PORTABLE_FORMAT:
        raise ConfigError(f"{folder}: checkpoint format {meta.get('format')!r}, expected {PORTABLE_FORMAT!r}")
    if file_sha256(folder / PORTABLE_TENSORS) != meta["tensors_sha256"]:
        raise ConfigError(f"{folder / PORTABLE_TENSORS} does not match the sha256 its {PORTABLE_JSON} records")
    state: dict[str, Any] = {g: {} for g in meta["tensor_groups"]}
    for key, t in load_file(str(folder / PORTABLE_TENSORS)).items():
        group, name = key.split(".", 1)
        state[group][name] = t
    state.update({k: v for k, v in meta.items() if k not in ("format", "tensor_groups", "tensors_sha256")})
    return state


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint's state: a portable folder, a run folder (its ``checkpoint.pt``) or a ``.pt``
    file. ``.pt`` files are read with ``weights_only=True`` (tensors and plain data only)."""
    p = Path(path)
    if is_portable_checkpoint(p):
        return _load_portable(p)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (a checkpoint.pt, a run folder or a portable checkpoint folder)")
    return torch.load(p, map_location="cpu", weights_only=True)


def checkpoint_identity(path: str | Path) -> str:
    """Content identity of a checkpoint given as ``init_from``: of a portable folder, the sha256
    of its tensors (so its recorded wall time does not matter); of a run folder or ``.pt`` file,
    the sha256 of the file. A missing checkpoint is a :class:`ConfigError`."""
    p = Path(path)
    if is_portable_checkpoint(p):
        return "tensors:" + file_sha256(p / PORTABLE_TENSORS)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if p.is_file():
        return "sha256:" + file_sha256(p)
    raise ConfigError(f"init_from={str(path)!r}: no checkpoint there (a checkpoint.pt, a run folder or a "
                      "portable checkpoint folder)")
