"""Small torch.distributed helpers shared by DDP code: join a torchrun group, agree on failure, gather.

Under ``torchrun`` (``WORLD_SIZE`` > 1) :func:`setup` joins the process group (gloo on CPU,
NCCL on CUDA, one GPU per local rank). :func:`agree` is a barrier that spreads failure: every
rank passes its own exception (or None), and if any rank failed, all of them raise, so no rank
is left waiting in a collective. Without a group every function is a no-op.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Callable

import torch

__all__ = ["setup", "attempt", "agree", "gather_cat"]


def setup(device: str = "cpu", timeout_min: float = 10.0) -> tuple[int, int, Any, str]:
    """(rank, world size, ``torch.distributed`` or None, this rank's device)."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_min))
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        if device == "cuda":
            device = f"cuda:{torch.cuda.current_device()}"
        return dist.get_rank(), dist.get_world_size(), dist, device
    return 0, 1, None, device


def attempt(fn: Callable[[], Any]) -> Exception | None:
    """Run ``fn``; return its exception instead of raising it (for :func:`agree`)."""
    try:
        fn()
    except Exception as e:  # re-raised by agree on this rank, reported to the others
        return e
    return None


def agree(dist: Any, err: BaseException | None, device: str = "cpu", what: str = "run again to resume") -> None:
    """Raise ``err`` here, and on every other rank if any rank had one."""
    if dist is not None:
        flag = torch.tensor([0 if err is None else 1], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if err is None and int(flag.item()):
            raise RuntimeError(f"another rank failed (see its error); {what}")
    if err is not None:
        raise err


def gather_cat(dist: Any, t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` of every rank in rank order (``t`` itself without a group)."""
    if dist is None:
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)
