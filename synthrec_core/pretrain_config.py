"""The pre-training recipe as data: :class:`PretrainConfig`, the named :data:`PRESETS`, :func:`lr_lambda`.

``PretrainConfig`` is frozen and validated (bad values raise ``ConfigError`` naming them);
``PretrainConfig.preset(name, **changes)`` builds a named recipe. The ``paper-*`` presets
follow paper §3 (and MoCo v2 / DeiT where the paper defers to them); the ``mini-*`` ones are
sized for 2 CPU cores. Training itself is in ``pretraining``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Mapping

from .backbones import NORMS, get_spec
from .config import Config, check, check_choice
from .pretrain_data import AugConfig

__all__ = ["PretrainConfig", "PRESETS", "lr_lambda"]


@dataclasses.dataclass(frozen=True)
class PretrainConfig(Config):
    """One pre-training run. Defaults: the mini profile's supervised recipe on ``resnet-mini``."""

    method: str = "supervised"  # "supervised" (CE over the synthetic classes) or "moco" (MoCo v2)
    backbone: str = "resnet-mini"  # a name in backbones.BACKBONES
    norm: str = "default"  # "default" | "group" | "sync_batch" (ResNets; see backbones)
    epochs: int = 10
    global_batch: int = 128  # over all ranks; must divide by the world size
    optimizer: str = "adamw"  # "adamw" or "sgd" (momentum below); weight decay on all parameters
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"  # per step: "cosine" (to 0), "step" (x gamma at milestones), "constant"
    warmup_epochs: int = 0  # linear warm-up (per step) before the schedule
    milestones: tuple[int, ...] = ()  # "step": epochs after which lr *= gamma
    gamma: float = 0.1
    aug: AugConfig = AugConfig.light()
    moco_dim: int = 128  # MoCo v2: projection output
    moco_hidden: int | None = None  # MLP hidden width; None = the backbone's feature dim (MoCo v2: 2048 = R50's)
    moco_queue: int = 4096  # K negatives (MoCo v2: 65536); a multiple of global_batch
    moco_m: float = 0.99  # key-encoder EMA momentum (MoCo v2: 0.999 over 200 epochs; fewer steps here)
    moco_t: float = 0.2  # InfoNCE temperature (MoCo v2: 0.2)
    moco_head_bn: bool = False  # BatchNorm in the MLP head (MoCo v3 style; v2 has none; global under DDP)
    init_from: str | None = None  # weights file to start from (its sha256 is in the run key, not its path)
    seed: int = 0
    device: str = "cpu"

    _not_in_key: ClassVar[tuple[str, ...]] = ("device", "init_from")

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if isinstance(self.aug, Mapping):
            object.__setattr__(self, "aug", AugConfig.from_dict(self.aug))
        super().__post_init__()

    def validate(self) -> None:
        check_choice("method", self.method, ("supervised", "moco"))
        get_spec(self.backbone)
        check_choice("norm", self.norm, NORMS)
        check_choice("optimizer", self.optimizer, ("adamw", "sgd"))
        check_choice("schedule", self.schedule, ("cosine", "step", "constant"))
        for name in ("epochs", "global_batch", "moco_dim", "moco_queue"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an int >= 1")
        check(isinstance(self.warmup_epochs, int) and 0 <= self.warmup_epochs < self.epochs,
              f"warmup_epochs={self.warmup_epochs!r} must be an int in [0, epochs)")
        check(self.lr > 0, f"lr={self.lr!r} must be > 0")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        check(0 <= self.momentum < 1, f"momentum={self.momentum!r} must be in [0, 1)")
        check(list(self.milestones) == sorted(set(self.milestones)) and all(0 < m < self.epochs for m in self.milestones),
              f"milestones={self.milestones!r} must be increasing epochs in (0, epochs)")
        check(0 < self.gamma <= 1, f"gamma={self.gamma!r} must be in (0, 1]")
        check(isinstance(self.aug, AugConfig), f"aug must be an AugConfig, got {type(self.aug).__name__}")
        check(0 <= self.moco_m < 1 and self.moco_t > 0, f"moco_m={self.moco_m!r} must be in [0, 1) and moco_t={self.moco_t!r} > 0")
        check(self.moco_hidden is None or self.moco_hidden >= 1, f"moco_hidden={self.moco_hidden!r} must be >= 1 or None")
        if self.method == "moco":
            check(self.moco_queue % self.global_batch == 0,
                  f"moco_queue={self.moco_queue} must be a multiple of global_batch={self.global_batch}")
        check(get_spec(self.backbone).family == "resnet" or self.norm == "default",
              f"norm={self.norm!r} applies to ResNets; {self.backbone} has no BatchNorm")

    @classmethod
    def preset(cls, name: str, **changes: Any) -> "PretrainConfig":
        """A named recipe from :data:`PRESETS`, with ``changes`` on top."""
        check_choice("preset", name, PRESETS)
        return cls(**{**PRESETS[name], **changes})


#: recipes as data. "paper-*" follow paper §3 (and MoCo v2 / DeiT); the mini ones are sized for 2 CPU cores.
PRESETS: dict[str, dict[str, Any]] = {
    "mini-supervised": dict(method="supervised", backbone="resnet-mini", epochs=10, global_batch=128, optimizer="adamw",
                            lr=2e-3, weight_decay=0.05, warmup_epochs=1, aug=AugConfig.light()),
    # MoCo v2 at mini size: GroupNorm backbone; BatchNorm in the head, lr 0.06 and crops of 40-100% area were chosen
    # on Fashion-MNIST *validation* probes after 5 epochs (K=1024) on 5,000 unlabelled train images (probe 0.674 vs 0.632
    # with lr 0.03 and MoCo v2's 20-100% crops, 0.615 without the head BatchNorm, 0.608 for random features)
    "mini-moco": dict(method="moco", backbone="resnet-mini", norm="group", epochs=10, global_batch=128, optimizer="sgd",
                      lr=0.06, weight_decay=1e-4, momentum=0.9, moco_queue=4096, moco_m=0.99, moco_t=0.2, moco_head_bn=True,
                      aug=AugConfig(scale=(0.4, 1.0))),
    # downstream-aware, ResNet-50: AdamW, batch 512, 90 epochs, cosine, lr 1e-4 (1e-5 when init_from ImageNet weights)
    "paper-aware-resnet50": dict(method="supervised", backbone="resnet50", epochs=90, global_batch=512, optimizer="adamw",
                                 lr=1e-4, weight_decay=0.05, aug=AugConfig.imagenet()),
    # downstream-agnostic supervised, ResNet-50: SGD lr 0.2 x0.1 every 30 epochs, 90 epochs, batch 512, wd 1e-4
    "paper-agnostic-resnet50": dict(method="supervised", backbone="resnet50", epochs=90, global_batch=512, optimizer="sgd",
                                    lr=0.2, weight_decay=1e-4, schedule="step", milestones=(30, 60), gamma=0.1, aug=AugConfig.imagenet()),
    # DeiT-S: the official DeiT optimiser and schedule (lr 5e-4 x batch/512, wd 0.05, 5 warm-up epochs, 300 epochs)
    "paper-deit-small": dict(method="supervised", backbone="deit_small", epochs=300, global_batch=1024, optimizer="adamw",
                             lr=1e-3, weight_decay=0.05, warmup_epochs=5, aug=AugConfig.imagenet()),
    # MoCo v2: SGD lr 0.03, wd 1e-4, batch 256, 200 epochs, cosine, K 65536, m 0.999, T 0.2, MLP 2048-128
    "paper-moco-resnet50": dict(method="moco", backbone="resnet50", epochs=200, global_batch=256, optimizer="sgd", lr=0.03,
                                weight_decay=1e-4, moco_queue=65536, moco_m=0.999, moco_t=0.2, aug=AugConfig.moco_v2(paper=True)),
}


def lr_lambda(cfg: Any, steps_per_epoch: int) -> Any:
    """Per-step lr factor of a config with ``epochs``, ``schedule`` ("cosine" to 0, "step":
    x ``gamma`` after each of ``milestones`` epochs, "constant") and ``warmup_epochs`` (linear)."""
    warm = getattr(cfg, "warmup_epochs", 0) * steps_per_epoch
    total = cfg.epochs * steps_per_epoch

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(s - warm, total - warm) / max(1, total - warm)))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(s >= m * steps_per_epoch for m in cfg.milestones)
        return 1.0

    return factor
