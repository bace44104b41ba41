"""End-to-end tuning of a CLIP image tower together with its linear head (paper §1 Table 3, §2 F11).

Two experiments of the paper train more than the head:

- **Share of parameters tuned** (Table 3, EuroSAT, RN50): head only (0.02% of the classifier's
  parameters) beats tuning the last block or the whole image tower, because of the domain gap
  between synthetic and real images.
- **BatchNorm frozen or not** (§2, F11): end-to-end tuning on few real or synthetic images
  reaches 85.63 on EuroSAT 16-shot with BN frozen and 75.31 without.

:func:`tune_tower` trains a chosen part of ``model.visual`` (an open_clip model) plus a
:class:`~synthrec_core.classifier.ZeroShotHead` on preprocessed image tensors ``[N, C, H, W]``
with the CT recipe (:class:`~synthrec_core.classifier.HeadConfig`: AdamW, per-step cosine,
grad clip, CE or SCE, epoch chosen on validation). Parts (:class:`TowerConfig.parts`):

- ``"head"``: the tower is frozen (eval mode), features are computed once, and the loop is CT's:
  given the same features and config it reproduces :func:`~synthrec_core.classifier.tune_head`
  (same data order, optimiser, schedule, clipping and selection; tested to float precision).
- ``"last_block"``: the head plus the tower's last block, per architecture (:func:`last_block`):
  MiniCLIP's ``TimmModel(MiniCNN)``: the last CNN stage (after the last max-pool) and the
  TimmModel projection; ``ModifiedResNet`` (RN50): ``layer4`` and ``attnpool``;
  ``VisionTransformer``: the last resblock, ``ln_post``, ``proj`` (and attention poolers if any).
  Other towers raise :class:`~synthrec_core.config.ConfigError`.
- ``"all"``: the head and every parameter of the image tower.

SCE's teacher is the frozen initial head (or ``teacher``) on the *frozen initial* features, which
are computed once before training, as in the paper. With ``freeze_bn`` the BatchNorm layers of
the tuned part stay in eval mode (running statistics frozen) and their affine parameters are not
trained; without it they use batch statistics, update their running statistics and train.
Layers outside the tuned part are always frozen and in eval mode (so ``freeze_bn`` does not
matter for ``parts="head"``). The caller's model and head
are never modified: training runs on deep copies. No augmentation is applied (inputs are
tensors); that belongs to whoever builds them.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .classifier import HeadConfig, ZeroShotHead, _teacher, lr_schedule, soft_target_ce
from .config import Config, ConfigError, check, check_choice

__all__ = ["TowerConfig", "register_last_block", "last_block", "tuned_parameters", "parameter_share", "encode_tower", "evaluate_tower", "tune_tower"]

PARTS = ("head", "last_block", "all")


@dataclass(frozen=True)
class TowerConfig(Config):
    """Which part of the image tower is tuned and how; ``train`` is the shared CT recipe
    (loss, lr, wd, epochs, batch, clip, schedule, seed, selection, device)."""

    parts: str = "head"  # "head", "last_block" or "all"
    freeze_bn: bool = True  # BN of the tuned part: eval mode and affine frozen (the paper's few-shot setting)
    tower_lr: float | None = None  # lr of the tower's parameters; None: train.lr (the paper gives one lr)
    train: HeadConfig = field(default_factory=HeadConfig)
    eval_batch_size: int = 256  # encoding batch of evaluation and of the frozen features

    _not_in_key: ClassVar[tuple[str, ...]] = ("eval_batch_size",)

    def validate(self) -> None:
        check_choice("parts", self.parts, PARTS)
        check(isinstance(self.freeze_bn, bool), f"freeze_bn={self.freeze_bn!r} must be a bool")
        check(self.tower_lr is None or self.tower_lr > 0, f"tower_lr={self.tower_lr!r} must be > 0 or None")
        check(isinstance(self.train, HeadConfig), f"train must be a HeadConfig, got {type(self.train).__name__}")
        check(isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1, f"eval_batch_size={self.eval_batch_size!r} must be >= 1")


# --------------------------------------------------------------------------- which parameters


#: (predicate on the image tower, function giving its last block's names), added by plugins
_LAST_BLOCKS: list[tuple[Any, Any]] = []


def register_last_block(matches: Any, names: Any) -> None:
    """Teach :func:`last_block` another tower: ``matches(visual) -> bool``, ``names(visual) -> list[str]``
    (the mini world registers MiniCLIP's ``TimmModel(MiniCNN)`` this way)."""
    _LAST_BLOCKS.append((matches, names))


def last_block(visual: nn.Module) -> list[str]:
    """Names (module or parameter paths inside ``visual``) that make up the tower's last block.

    Raises :class:`ConfigError` for towers whose last block is not defined here or registered.
    """
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.timm_model import TimmModel
    from open_clip.transformer import VisionTransformer

    from .profiles import ensure_plugins

    ensure_plugins()
    for matches, names in _LAST_BLOCKS:
        if matches(visual):
            return names(visual)
    if isinstance(visual, ModifiedResNet):
        return ["layer4", "attnpool"]
    if isinstance(visual, VisionTransformer):
        names = [f"transformer.resblocks.{len(visual.transformer.resblocks) - 1}", "ln_post", "proj"]
        return names + [n for n in ("attn_pool", "attn_pool_contrastive") if getattr(visual, n, None) is not None]
    inner = f" with a {type(visual.trunk).__name__} trunk" if isinstance(visual, TimmModel) else ""
    raise ConfigError(f"parts='last_block' is defined for MiniCLIP's TimmModel(MiniCNN), open_clip's ModifiedResNet and "
                      f"VisionTransformer image towers, not for {type(visual).__name__}{inner}; use parts='head' or 'all'")


def _prefixes(visual: nn.Module, parts: str) -> list[str]:
    return [] if parts == "head" else [""] if parts == "all" else last_block(visual)


def _under(name: str, prefixes: list[str]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def _bn_modules(visual: nn.Module, prefixes: list[str]) -> list[nn.Module]:
    return [m for n, m in visual.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and _under(n, prefixes)]


def tuned_parameters(model: nn.Module, parts: str, freeze_bn: bool = True) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` of ``model.visual`` trained for ``parts`` (BN affine left out if ``freeze_bn``)."""
    check_choice("parts", parts, PARTS)
    visual = _visual(model)
    prefixes = _prefixes(visual, parts)
    bn = {id(p) for m in _bn_modules(visual, prefixes) for p in m.parameters()} if freeze_bn else set()
    return [(n, p) for n, p in visual.named_parameters() if _under(n, prefixes) and id(p) not in bn]


def parameter_share(model: nn.Module, head: ZeroShotHead, parts: str, freeze_bn: bool = True) -> dict[str, Any]:
    """How many parameters ``parts`` trains: ``tuned`` (tower part + head W and b), ``total``
    (image tower + head W and b: the classifier the paper counts), ``share = tuned / total``,
    and ``share_of_clip`` (over the whole CLIP, text tower included, plus the head)."""
    n_head = head.weight.numel() + head.bias.numel()
    n_tower = sum(p.numel() for p in _visual(model).parameters())
    n_clip = sum(p.numel() for p in model.parameters())
    tuned = n_head + sum(p.numel() for _, p in tuned_parameters(model, parts, freeze_bn))
    return {"parts": parts, "freeze_bn": freeze_bn, "tuned": tuned, "total": n_tower + n_head, "share": tuned / (n_tower + n_head),
            "share_of_clip": tuned / (n_clip + n_head), "tower": n_tower, "head": n_head}


def _visual(model: nn.Module) -> nn.Module:
    visual = getattr(model, "visual", None)
    check(isinstance(visual, nn.Module) and hasattr(model, "encode_image"), f"model must be an open_clip model with .visual, got {type(model).__name__}")
    return visual


# --------------------------------------------------------------------------- encoding and evaluation


def _images(images: Any, what: str) -> torch.Tensor:
    x = images if torch.is_tensor(images) else torch.as_tensor(np.asarray(images))
    check(x.ndim == 4 and x.is_floating_point(), f"{what} images must be a float tensor [N, C, H, W] (preprocessed), got {x.dtype} {tuple(x.shape)}")
    check(x.shape[0] > 0, f"{what} is empty")
    return x.float()


def _labels(labels: Any, n: int, num_classes: int, what: str) -> torch.Tensor:
    y = torch.as_tensor(np.array(labels) if not torch.is_tensor(labels) else labels)  # a copy: labels may be read-only
    check(y.ndim == 1 and len(y) == n, f"{what}: {tuple(y.shape)} labels for {n} images")
    check(not y.is_floating_point() or bool((y == y.round()).all()), f"{what} labels must be integers")
    y = y.long()
    check(int(y.min()) >= 0 and int(y.max()) < num_classes, f"{what} labels must be in [0, {num_classes})")
    return y


@torch.no_grad()
def encode_tower(model: nn.Module, images: Any, batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """Image features ``[N, D]`` (float32, not normalised) of preprocessed images, in eval mode,
    ``batch_size`` at a time; the model's train/eval modes are restored afterwards."""
    x = _images(images, "encode")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        return torch.cat([model.encode_image(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])
    finally:
        for m, t in modes:
            m.train(t)


def evaluate_tower(model: nn.Module, head: nn.Module, images: Any, labels: Any, batch_size: int = 256, device: str = "cpu") -> float:
    """Top-1 accuracy (fraction) of ``head`` on ``model``'s eval-mode features of ``images``."""
    f = encode_tower(model, images, batch_size, device)
    with torch.no_grad():
        was = head.training
        z = head.eval()(f.to(device)).cpu()
        head.train(was)
    y = _labels(labels, len(f), z.shape[1], "evaluate")
    return float((z.argmax(1) == y).float().mean())


# --------------------------------------------------------------------------- training


def _set_modes(model: nn.Module, prefixes: list[str], freeze_bn: bool) -> None:
    """Frozen parts in eval mode; the tuned part in train mode (its BN in eval if ``freeze_bn``)."""
    model.eval()
    visual = model.visual
    for n, m in visual.named_modules():
        if prefixes and _under(n, prefixes):
            m.train()
    if freeze_bn:
        for m in _bn_modules(visual, prefixes):
            m.eval()


def tune_tower(
    model: nn.Module,
    head_init: ZeroShotHead,
    train_images: Any,
    train_labels: Any,
    cfg: TowerConfig = TowerConfig(),
    val: tuple[Any, Any] | None = None,
    teacher: nn.Module | None = None,
) -> tuple[nn.Module, ZeroShotHead, list[dict[str, Any]]]:
    """Train ``cfg.parts`` of a copy of ``model.visual`` and a copy of ``head_init`` end to end.

    ``train_images`` / ``val[0]``: preprocessed float tensors ``[N, C, H, W]``; labels ``[N]``.
    Loss ``cfg.train.loss``: CE, or SCE against ``teacher`` (default the frozen ``head_init``)
    on the initial model's features. Returns ``(model, head, history)``: the tuned copies (eval
    mode, the caller's ``requires_grad`` flags) of the best-validation epoch (or the last, with
    ``select="last"``) and one row per epoch as :func:`~synthrec_core.classifier.tune_head`
    gives (``epoch`` 0 = the init; ``loss``, ``lr``, ``val_acc``, ``selected``) plus
    ``seconds`` and ``images_per_s`` (training throughput of the epoch). All inputs are
    checked before any training.
    """
    tc = cfg.train
    check(isinstance(head_init, ZeroShotHead), f"head_init must be a ZeroShotHead, got {type(head_init).__name__}")
    check(tc.select != "val" or val is not None, "select='val' needs val=(images, labels), or use select='last'")
    visual = _visual(model)
    prefixes = _prefixes(visual, cfg.parts)  # errors for an unsupported last block come here
    x = _images(train_images, "train")
    y = _labels(train_labels, len(x), head_init.num_classes, "train")
    if val is not None:
        check(isinstance(val, (tuple, list)) and len(val) == 2, "val must be an (images, labels) pair")
        vx = _images(val[0], "val")
        vy = _labels(val[1], len(vx), head_init.num_classes, "val")
        check(vx.shape[1:] == x.shape[1:], f"val images {tuple(vx.shape[1:])} != train images {tuple(x.shape[1:])}")
    dev, bs = tc.device, cfg.eval_batch_size
    dim = encode_tower(model, x[:1], 1, dev).shape[1]
    check(dim == head_init.dim, f"the image tower gives {dim}-d features, the head expects {head_init.dim}")

    model = copy.deepcopy(model).to(dev)
    head = copy.deepcopy(head_init).to(dev).train()
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for _, p in tuned_parameters(model, cfg.parts, cfg.freeze_bn)]
    for p in params:
        p.requires_grad_(True)
    head.logit_scale.requires_grad_(False)

    frozen = encode_tower(model, x, bs, dev) if (cfg.parts == "head" or tc.loss == "sce") else None
    z0 = None
    if tc.loss == "sce":
        z0 = torch.cat([_teacher(head_init, teacher).to(dev)(frozen[i : i + 8192].to(dev)).cpu() for i in range(0, len(frozen), 8192)])
    feats = frozen if cfg.parts == "head" else None
    vfeats = encode_tower(model, vx, bs, dev) if (cfg.parts == "head" and val is not None) else None

    groups = [{"params": [head.weight, head.bias], "lr": tc.lr}]
    if params:
        groups.append({"params": params, "lr": cfg.tower_lr or tc.lr})
    opt = torch.optim.AdamW(groups, lr=tc.lr, weight_decay=tc.weight_decay)
    total = tc.epochs * math.ceil(len(y) / tc.batch_size)
    sched = lr_schedule(opt, total, tc.schedule)
    gen = torch.Generator().manual_seed(tc.seed)
    clip_params = [head.weight, head.bias] + params

    def val_acc() -> float | None:
        if val is None:
            return None
        if vfeats is not None:
            with torch.no_grad():
                return float((head.eval()(vfeats.to(dev)).argmax(1).cpu() == vy).float().mean())
        return evaluate_tower(model, head, vx, vy, bs, dev)

    def step(idx: torch.Tensor) -> float:
        opt.zero_grad(set_to_none=True)
        f = feats[idx].to(dev) if feats is not None else model.encode_image(x[idx].to(dev))
        z, t = head(f), y[idx].to(dev)
        loss = F.cross_entropy(z, t) if tc.loss == "ce" else soft_target_ce(z, t, z0[idx].to(dev), tc.sce_lambda, tc.sce_T)
        loss.backward()
        if tc.grad_clip is not None:
            nn.utils.clip_grad_norm_(clip_params, tc.grad_clip)
        opt.step()
        sched.step()
        return float(loss.detach())

    history = [{"epoch": 0, "loss": None, "lr": tc.lr, "val_acc": val_acc(), "selected": False, "seconds": None, "images_per_s": None}]
    best_acc, best_state, best_row = -1.0, None, None
    for epoch in range(1, tc.epochs + 1):
        _set_modes(model, prefixes, cfg.freeze_bn)
        head.train()
        t0 = time.perf_counter()
        losses = [step(idx) for idx in torch.randperm(len(y), generator=gen).split(tc.batch_size)]
        sec = time.perf_counter() - t0
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"], "val_acc": None, "selected": False,
               "seconds": sec, "images_per_s": len(y) / sec if sec > 0 else None}
        if val is not None and (epoch % tc.eval_every == 0 or epoch == tc.epochs):
            row["val_acc"] = val_acc()
            if tc.select == "val" and row["val_acc"] > best_acc:  # strict: ties keep the earlier epoch
                best_acc, best_row = row["val_acc"], row
                best_state = (copy.deepcopy(model.visual.state_dict()), copy.deepcopy(head.state_dict()))
        history.append(row)
    if tc.select == "val":
        model.visual.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
    else:
        best_row = history[-1]
    best_row["selected"] = True
    for n, p in model.named_parameters():
        p.requires_grad_(flags[n])
    return model.eval(), head.eval(), history
