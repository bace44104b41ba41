"""Small torch.distributed helpers shared by DDP code: join a torchrun group, agree on failure, gather.

Under ``torchrun`` (``WORLD_SIZE`` > 1) :func:`setup` joins the process group (gloo on CPU,
NCCL on CUDA, one GPU per local rank). :func:`agree` is a barrier that spreads failure: every
rank passes its own exception (or None), and if any rank failed, all of them raise, so no rank
is left waiting in a collective. Without a group every function is a no-op.

:class:`GlobalBatchNorm` is BatchNorm over the *global* batch on any backend: torch 2.14's
``SyncBatchNorm`` refuses CPU tensors, so on CPU (gloo) :func:`sync_batchnorm` uses this
module instead (batch sums and sums of squares through a differentiable all-reduce; under
DDP the gradient is the gradient of the mean loss over all ranks). On CUDA it uses torch's
``SyncBatchNorm``. With one process both are plain BatchNorm.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["setup", "attempt", "agree", "gather_cat", "GlobalBatchNorm", "sync_batchnorm"]


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


class _SumAcrossRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward is the all-reduce (sum) of the incoming gradients."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as dist

        t = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _SumAcrossRanks.apply(grad)


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d or 2d input) whose training statistics are those of the global batch.

    Used whenever a process group is initialised (even of one rank); otherwise plain BatchNorm.
    Mean first, then the mean squared deviation from it (two all-reduces: no cancellation).
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c, dims = x.shape[1], [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // c], dtype=x.dtype, device=x.device)
        total = _SumAcrossRanks.apply(torch.cat([x.sum(dims), count]))
        n = total[-1].detach()
        mean = total[:c] / n
        d = x - mean.view(shape)
        var = _SumAcrossRanks.apply((d * d).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        y = d * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(module: nn.Module, device: str = "cpu") -> nn.Module:
    """Replace every BatchNorm of ``module`` (in place) by a synchronised one: torch's
    ``SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm` elsewhere. State dict keys are kept."""
    if str(device).startswith("cuda"):
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            for p_new, p_old in zip(new.parameters(), child.parameters()):
                p_new.requires_grad_(p_old.requires_grad)
            setattr(module, name, new.to(next(child.buffers(), torch.zeros(0)).device))
        else:
            sync_batchnorm(child, device)
    return module
