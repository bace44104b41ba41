"""Transfer of a (pre-trained or random) backbone to a downstream dataset (paper §3).

- :func:`transfer(model, splits, cfg) <transfer>`: ``mode="finetune"`` trains every parameter
  (backbone + a new Linear head) for each learning rate of ``cfg.lrs`` and keeps the
  (lr, epoch) of the best *validation* accuracy; ``mode="linear"`` freezes the backbone,
  extracts features once (eval mode, no augmentation) and fits ``classifier.linear_probe``
  (logistic regression, C chosen on validation). The test split is evaluated once, at the
  end, with the selected model. ``model`` is a ``PretrainResult`` (its weights), a backbone
  name (random init: the from-scratch baseline or a random-feature probe), optionally with
  ``weights=`` a weights file (e.g. ImageNet weights in the paper profile).
  Returns ``(metrics, model)``; metrics are plain dicts/lists (accuracies, per-epoch curves).
- :func:`extract_features`: ``[N, D]`` features of uint8 images (for t-SNE plots, probes).
- :func:`faster_rcnn`: the detection hook of the paper profile (VOC); not run offline.

Transfer runs in one process (the mini downstream sets are small). This module does not
pre-train (see ``pretraining``).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import Backbone, build_backbone, load_backbone_weights
from .classifier import linear_probe, predict
from .config import Config, check, check_choice
from .pretrain_data import AugConfig, as_uint8_tensor, augment, batch_generator, epoch_permutation, to_model_input
from .pretrain_config import lr_lambda
from .pretraining import PretrainResult

__all__ = ["TransferConfig", "transfer", "extract_features", "faster_rcnn"]


@dataclasses.dataclass(frozen=True)
class TransferConfig(Config):
    """Fine-tuning / linear-probe recipe. Defaults: the mini profile (SGD, cosine, light crops)."""

    mode: str = "finetune"  # "finetune" (all parameters) or "linear" (frozen features + logistic regression)
    epochs: int = 10
    lrs: tuple[float, ...] = (0.01, 0.03)  # fine-tuning grid; the best (lr, epoch) on val is kept
    optimizer: str = "sgd"  # "sgd" (momentum 0.9) or "adamw"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine", "step" (x gamma at milestones) or "constant"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.2
    batch_size: int = 128
    aug: AugConfig = AugConfig.light(0.8)
    freeze_bn: bool = False  # keep BatchNorm statistics and affine parameters fixed while fine-tuning
    C_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # linear mode
    seed: int = 0
    device: str = "cpu"
    eval_batch: int = 512

    _not_in_key: ClassVar[tuple[str, ...]] = ("device", "eval_batch")

    def __post_init__(self) -> None:
        for name, kind in (("lrs", float), ("milestones", int), ("C_grid", float)):
            object.__setattr__(self, name, tuple(kind(v) for v in getattr(self, name)))
        if isinstance(self.aug, Mapping):
            object.__setattr__(self, "aug", AugConfig.from_dict(self.aug))
        super().__post_init__()

    def validate(self) -> None:
        check_choice("mode", self.mode, ("finetune", "linear"))
        check_choice("optimizer", self.optimizer, ("sgd", "adamw"))
        check_choice("schedule", self.schedule, ("cosine", "step", "constant"))
        for name in ("epochs", "batch_size", "eval_batch"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an int >= 1")
        check(len(self.lrs) > 0 and all(lr > 0 for lr in self.lrs), f"lrs={self.lrs!r} must be non-empty and positive")
        check(len(self.C_grid) > 0 and all(c > 0 for c in self.C_grid), f"C_grid={self.C_grid!r} must be non-empty and positive")
        check(list(self.milestones) == sorted(set(self.milestones)) and all(0 < m < self.epochs for m in self.milestones),
              f"milestones={self.milestones!r} must be increasing epochs in (0, epochs)")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        check(0 <= self.momentum < 1, f"momentum={self.momentum!r} must be in [0, 1)")
        check(0 < self.gamma <= 1, f"gamma={self.gamma!r} must be in (0, 1]")
        check(isinstance(self.aug, AugConfig), f"aug must be an AugConfig, got {type(self.aug).__name__}")

    @classmethod
    def paper_cifar100(cls, **changes: Any) -> "TransferConfig":
        """Paper §3 CIFAR-100 fine-tuning: SGD lr 0.003 (x0.2 at 60/120/160), 200 epochs, batch 128, wd 5e-4."""
        return cls(**{"lrs": (0.003,), "epochs": 200, "schedule": "step", "milestones": (60, 120, 160), "gamma": 0.2,
                      "batch_size": 128, "weight_decay": 5e-4, "aug": AugConfig.imagenet(), **changes})


# --------------------------------------------------------------------------- data


def _xy(split: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) pair or an object with ``.images``/``.to_array()`` and ``.labels``."""
    if isinstance(split, (tuple, list)):
        check(len(split) == 2, f"{what} must be an (images, labels) pair")
        images, labels = split
    else:
        images = split.to_array() if hasattr(split, "to_array") else split.images
        labels = split.labels
    x = as_uint8_tensor(images)
    y = torch.from_numpy(np.array(labels, dtype=np.int64)).reshape(-1)  # a copy: writable
    check(len(x) == len(y) and len(x) > 0, f"{what}: {len(x)} images, {len(y)} labels")
    return x, y


def _channels(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    if x.shape[1] == in_chans:
        return x
    if in_chans == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    return x.float().mean(1, keepdim=True).round().to(torch.uint8)


def extract_features(model: Backbone, images: Any, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Features ``[N, D]`` (float32) of uint8 ``images`` ``[N,H,W(,3)]`` in eval mode, without augmentation."""
    return _features(model, _channels(as_uint8_tensor(images), model.in_chans), batch_size, device)


@torch.no_grad()
def _features(model: Backbone, x: torch.Tensor, batch_size: int, device: str) -> np.ndarray:
    was = model.training
    model.eval().to(device)
    try:
        out = [model.features(to_model_input(x[i : i + batch_size].to(device), model.spec.input_size)).float().cpu()
               for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(out).numpy()


@torch.no_grad()
def _predict(model: Backbone, x: torch.Tensor, cfg: TransferConfig) -> torch.Tensor:
    model.eval()
    return torch.cat([model(to_model_input(x[i : i + cfg.eval_batch].to(cfg.device), model.spec.input_size)).argmax(1).cpu()
                      for i in range(0, len(x), cfg.eval_batch)])


def _accuracy(model: Backbone, x: torch.Tensor, y: torch.Tensor, cfg: TransferConfig) -> float:
    return float((_predict(model, x, cfg) == y).float().mean())


# --------------------------------------------------------------------------- transfer


def _init(model: Any, weights: Any, norm: str) -> tuple[str, int | None, str, Any, str]:
    """(backbone name, in_chans or None, norm, weights source, label of the init)."""
    if isinstance(model, PretrainResult):
        check(weights is None, "give either a PretrainResult or weights=, not both")
        return model.config.backbone, model.in_chans, model.config.norm, model.path, f"pretrained:{model.run_key}"
    check(isinstance(model, str), f"model must be a backbone name or a PretrainResult, got {type(model).__name__}")
    in_chans = None
    if weights is not None and isinstance(weights, (str, Path)) and Path(weights).exists():
        meta = torch.load(weights, map_location="cpu", weights_only=False)
        if isinstance(meta, Mapping) and meta.get("kind") == "synthrec-pretrain":
            in_chans, norm = int(meta["in_chans"]), meta["norm"]
    return model, in_chans, norm, weights, "scratch" if weights is None else f"weights:{weights if isinstance(weights, (str, Path)) else 'state dict'}"


def _fresh(name: str, in_chans: int, num_classes: int, norm: str, weights: Any, seed: int) -> Backbone:
    model, _ = build_backbone(name, in_chans, num_classes, norm, seed=seed)
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


def _train_bn(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def _finetune(make: Any, tr: tuple, va: tuple, cfg: TransferConfig) -> tuple[Backbone, list[dict[str, Any]], dict[str, Any]]:
    (x, y), (vx, vy) = tr, va
    curves, best = [], {"val_acc": -1.0}
    best_state = None
    steps = max(1, len(x) // cfg.batch_size)
    for lr in cfg.lrs:
        model = make().to(cfg.device)
        size = model.spec.input_size
        if cfg.freeze_bn:
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = (torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay) if cfg.optimizer == "sgd"
               else torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, steps))
        for epoch in range(1, cfg.epochs + 1):
            _train_bn(model, cfg.freeze_bn)
            perm = epoch_permutation(len(x), cfg.seed, epoch)[: steps * cfg.batch_size]
            losses = []
            for step, idx in enumerate(perm.split(cfg.batch_size)):
                xb = augment(x[idx].to(cfg.device), cfg.aug, batch_generator(cfg.seed, epoch, step), size)
                loss = F.cross_entropy(model(xb), y[idx].to(cfg.device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            row = {"lr": lr, "epoch": epoch, "train_loss": float(np.mean(losses)), "val_acc": _accuracy(model, vx, vy, cfg),
                   "selected": False}
            curves.append(row)
            if row["val_acc"] > best["val_acc"]:  # strict: ties keep the earlier epoch / the earlier lr
                best, best_state = row, copy.deepcopy(model.state_dict())
    best["selected"] = True
    model.load_state_dict(best_state)
    return model.eval(), curves, {"lr": best["lr"], "epoch": best["epoch"], "val_acc": best["val_acc"]}


def transfer(model: str | PretrainResult, splits: Sequence[Any], cfg: TransferConfig = TransferConfig(), weights: Any = None,
             norm: str = "default") -> tuple[dict[str, Any], Backbone]:
    """Fine-tune or linear-probe ``model`` on ``splits = (train, val, test)``.

    Each split is an ``(images uint8 [N,H,W(,3)], labels)`` pair or an ``ImageDataset``.
    ``model``: a ``PretrainResult`` (start from its weights), or a backbone name (random init
    with ``cfg.seed``; ``weights`` optionally loads a weights file or state dict; ``norm`` as
    in ``build_backbone``). Images are matched to the backbone's input channels.
    Returns ``(metrics, model)``: ``metrics`` has ``test_acc`` and ``val_acc`` (fractions), ``test_pred``,
    ``selected`` ({lr, epoch} or {C}), ``curves`` (fine-tuning: one row per lr and epoch with
    ``train_loss`` and ``val_acc``; linear: one row per C), ``init``, ``seconds``; ``model`` is
    the selected network (linear mode: the frozen backbone with the probe as its head).
    """
    check(len(splits) == 3, f"splits must be (train, val, test), got {len(splits)} parts")
    tr, va, te = (_xy(s, n) for s, n in zip(splits, ("train", "val", "test")))
    num_classes = int(max(int(s[1].max()) for s in (tr, va, te))) + 1
    check(len(torch.unique(tr[1])) >= 2, "train has one class; transfer needs two or more")
    name, in_chans, norm, source, label = _init(model, weights, norm)
    in_chans = in_chans or tr[0].shape[1]
    tr, va, te = ((_channels(x, in_chans), y) for x, y in (tr, va, te))
    make = lambda: _fresh(name, in_chans, num_classes, norm, source, cfg.seed)  # noqa: E731
    t0 = time.perf_counter()
    if cfg.mode == "finetune":
        net, curves, selected = _finetune(make, tr, va, cfg)
        test_pred = _predict(net, te[0], cfg).numpy()
    else:
        net = make().to(cfg.device)
        f_tr, f_va, f_te = (_features(net, x, cfg.eval_batch, cfg.device) for x, _ in (tr, va, te))
        probe, info = linear_probe(f_tr, tr[1].numpy(), val=(f_va, va[1].numpy()), C_grid=cfg.C_grid, num_classes=num_classes)
        test_pred = predict(probe, f_te)
        net.head = probe
        net.eval()
        curves = [{"C": c, "val_acc": a, "selected": c == info["C"]} for c, a in info["grid"].items()]
        selected = {"C": info["C"], "val_acc": info["val_acc"]}
    test_acc = float((test_pred == te[1].numpy()).mean())
    metrics = {"mode": cfg.mode, "backbone": name, "init": label, "num_classes": num_classes, "n_train": len(tr[1]),
               "val_acc": selected["val_acc"], "test_acc": test_acc, "test_pred": test_pred.astype(int).tolist(),
               "selected": selected, "curves": curves,
               "seconds": time.perf_counter() - t0, "config": cfg.to_dict()}
    return metrics, net


# --------------------------------------------------------------------------- detection (paper profile)


def faster_rcnn(backbone: Backbone, num_classes: int = 21, trainable_layers: int = 5, fpn_channels: int = 256,
                min_size: int = 800, max_size: int = 1333, **kwargs: Any) -> nn.Module:
    """Torchvision Faster R-CNN with an FPN on a (pre-trained) ResNet ``backbone``, for PASCAL VOC.

    Paper profile only. **Not run in this project** (no VOC offline, no GPU): the paper's
    Tables 10-11 (AP50 on VOC07 test after VOC07+12 trainval fine-tuning, MoCo's protocol)
    need a detection training loop and the VOC evaluator, neither of which is here.
    ``num_classes`` counts the background (VOC: 20 + 1). The stages ``layer1..layer4`` feed an
    FPN (``LastLevelMaxPool`` for the extra level); ``trainable_layers`` (0-5) of
    ``conv1, layer1..layer4`` counted from the top stay trainable, as in torchvision. The
    backbone's normalisation layers are kept as built (MoCo's protocol fine-tunes SyncBN;
    torchvision's own detection backbones freeze BN instead). MoCo's R50-C4 head is not built.
    ``kwargs`` go to ``FasterRCNN`` (anchor sizes, RPN settings ...).
    """
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    check(isinstance(backbone, Backbone) and backbone.spec.family == "resnet",
          f"faster_rcnn needs a ResNet Backbone, got {getattr(getattr(backbone, 'spec', None), 'name', type(backbone).__name__)}")
    check(backbone.in_chans == 3, f"VOC images are RGB; {backbone.name} takes {backbone.in_chans} channel(s)")
    check(0 <= trainable_layers <= 5, f"trainable_layers={trainable_layers!r} must be in [0, 5]")
    body = copy.deepcopy(backbone.body)
    stages = ["layer1", "layer2", "layer3", "layer4"]
    keep = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    for name, p in body.named_parameters():
        p.requires_grad_(any(name.startswith(k) for k in keep))
    with torch.no_grad():
        was = body.training
        shapes = IntermediateLayerGetter(body.eval(), {s: s for s in stages})(torch.zeros(1, 3, 64, 64))
        body.train(was)
    in_channels = [shapes[s].shape[1] for s in stages]
    fpn = BackboneWithFPN(body, {s: str(i) for i, s in enumerate(stages)}, in_channels, fpn_channels, extra_blocks=LastLevelMaxPool())
    return FasterRCNN(fpn, num_classes=num_classes, min_size=min_size, max_size=max_size, **kwargs)
