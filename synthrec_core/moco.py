"""MoCo v2 (He et al. 2020; Chen et al. 2020) as a module: query/key encoders, EMA, queue, InfoNCE logits.

The training step that uses it lives in ``pretraining``; this module holds no training loop.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import Backbone
from .config import check

__all__ = ["MoCo", "moco_loss"]


class MoCo(nn.Module):
    """MoCo v2: query encoder (backbone + MLP ``dim -> hidden -> out``), its EMA as key encoder,
    and a queue ``[out, K]`` of L2-normalised keys with a pointer.

    ``head_bn=True`` puts BatchNorm after the MLP's hidden layer (as MoCo v3 does; MoCo v2's
    head has none). Under DDP ``pretraining`` makes that BatchNorm global (synchronised).

    Per step: :meth:`momentum_update` (``k <- m k + (1 - m) q`` for every parameter), keys from
    the key encoder, :meth:`logits` (the positive first, then the queue, over T), cross-entropy
    with target 0, then :meth:`enqueue` of the step's keys of *all* ranks in rank order:
    ``queue[:, ptr:ptr+B] = keys.T`` and ``ptr = (ptr + B) % K``.
    """

    def __init__(self, backbone: Backbone, out_dim: int = 128, hidden: int | None = None, queue_size: int = 4096,
                 m: float = 0.99, t: float = 0.2, seed: int = 0, head_bn: bool = False):
        super().__init__()
        hidden = hidden or backbone.dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            mid = [nn.Linear(backbone.dim, hidden, bias=False), nn.BatchNorm1d(hidden)] if head_bn else [nn.Linear(backbone.dim, hidden)]
            head = nn.Sequential(*mid, nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))
            queue = F.normalize(torch.randn(out_dim, queue_size), dim=0)
        self.encoder_q = nn.Sequential(backbone, head)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", queue)
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
        self.m, self.t = float(m), float(t)

    @property
    def backbone(self) -> Backbone:
        """The query encoder's backbone: what transfer uses."""
        return self.encoder_q[0]

    @torch.no_grad()
    def momentum_update(self) -> None:
        for pq, pk in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            pk.mul_(self.m).add_(pq.detach(), alpha=1.0 - self.m)

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.encoder_k(x), dim=1)

    def logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """``[b, 1 + K]`` logits of normalised queries ``q`` against their keys and the queue."""
        pos = (q * k).sum(1, keepdim=True)
        neg = q @ self.queue.clone().detach()
        return torch.cat([pos, neg], dim=1) / self.t

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        b, size, ptr = keys.shape[0], self.queue.shape[1], int(self.queue_ptr)
        check(size % b == 0, f"queue size {size} is not a multiple of the key batch {b}")
        self.queue[:, ptr : ptr + b] = keys.T
        self.queue_ptr[0] = (ptr + b) % size


def moco_loss(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE (cross-entropy with the positive at column 0) and the instance accuracy per row."""
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target), (logits.argmax(1) == 0).float()
