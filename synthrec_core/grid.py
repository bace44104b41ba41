"""Experiment grids whose finished cells survive a crash and are never computed twice.

A :class:`Grid` runs a function per cell (a dataset x method x seed combination) and stores its
result as one JSON file per cell under ``cache_dir()/grids/<name>/<cell key>.json``, written
atomically as the cell finishes. The cell key hashes everything that changes the result (the
caller passes it: configs, data keys, model identities, seed), so a re-run after a crash, or a
warm re-run of a notebook, reads finished cells back instead of recomputing them, and a changed
input gives a new key instead of a stale result.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from .utils import atomic_write_json, stable_hash

__all__ = ["Grid"]


class Grid:
    """Cells of one experiment grid (``name`` names the folder, e.g. ``01_zero_shot``)."""

    def __init__(self, name: str, root: str | Path | None = None) -> None:
        from .paths import cache_dir

        self.name = name
        self.dir = Path(root) if root is not None else cache_dir() / "grids" / name
        self.computed = 0
        self.reused = 0
        self.seconds = 0.0

    def path(self, key: dict[str, Any]) -> Path:
        return self.dir / f"{stable_hash(key, length=20)}.json"

    def cell(self, key: dict[str, Any], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The result of ``fn()`` for the cell ``key``: read back if already finished, else
        computed now and written before returning."""
        path = self.path(key)
        if path.exists():
            try:
                out = json.loads(path.read_text())
                self.reused += 1
                return out["result"]
            except (json.JSONDecodeError, KeyError):
                pass  # an unreadable cell is recomputed
        t0 = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t0
        atomic_write_json(path, {"key": key, "seconds": round(dt, 3), "result": result})
        self.computed += 1
        self.seconds += dt
        return result

    def summary(self) -> dict[str, Any]:
        """How many cells were computed now and how many were read back."""
        return {"computed": self.computed, "reused": self.reused, "seconds_computing": round(self.seconds, 1)}
