"""Shared helpers of the benchmark scripts: offline setup, timing, and writing results/bench/<name>.json."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def setup(threads: int = 1) -> None:
    """One torch thread (the machine is shared), quiet diffusers/transformers logs."""
    import torch

    torch.set_num_threads(threads)
    try:
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
    except Exception:
        pass
    try:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except Exception:
        pass


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call and its result."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def write_result(name: str, ratio: float, details: dict[str, Any]) -> Path:
    """Print the ratio and write ``results/bench/<name>.json`` as ``{"ratio": x, "details": {...}}``."""
    from synthrec_core.paths import results_dir
    from synthrec_core.utils import atomic_write_json

    path = results_dir("bench") / f"{name}.json"
    atomic_write_json(path, {"ratio": float(ratio), "details": details})
    print(f"{name}: ratio = {ratio:.4g}")
    for k, v in details.items():
        print(f"  {k}: {v}")
    print(f"  -> {path}")
    return path
