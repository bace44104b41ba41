"""Backbones for pre-training and transfer (paper §3), as data looked up by name.

:data:`BACKBONES` maps a name to a :class:`BackboneSpec` (which library, which architecture,
which arguments, what input size). :func:`build_backbone` builds one, randomly initialised,
with no download ever: ``timm`` models are made with ``pretrained=False`` and torchvision
models with ``weights=None``. Weights come in only through an explicit file (see
``pretraining.PretrainConfig.init_from`` and :func:`load_backbone_weights`).

- ``resnet-mini`` (mini profile): a timm ``ResNet`` with basic blocks, one block per stage,
  widths 32/64/128/256 and the standard 7x7/2 stem + max-pool, so a 32 px image is 8 px at
  stage 1. 1.24M parameters, 256-d features; ~3x the training speed of resnet18 at 32 px.
- ``vit-mini`` (mini profile): a timm ``VisionTransformer`` for 32 px: patch 8 (a 4x4 grid of
  tokens + class token), width 96, depth 4, 3 heads, MLP ratio 4. 0.46M parameters, 96-d
  features. Patch 4 (64 tokens) at width 96 trains *slower* than resnet18 on 2 CPU threads
  (627 vs 751 img/s measured side by side); patch 8 runs at ~1,900 img/s (model step only).
- ``resnet18`` (reference only; the sizing yardstick), ``resnet50`` (torchvision, the paper's
  CNN) and ``deit_small`` (timm ``deit_small_patch16_224``, the paper's ViT): 224 px.

``norm`` replaces a ResNet's BatchNorm: ``"group"`` uses GroupNorm (per-sample statistics,
so DDP on any number of ranks computes what one process computes), ``"sync_batch"`` is
BatchNorm that ``pretraining`` synchronises over the global batch under DDP (torch's
SyncBatchNorm on GPUs, ``distributed.GlobalBatchNorm`` on CPU); built here it is plain
BatchNorm. ViTs have LayerNorm only.

This module builds networks; it does not train them (see ``pretraining`` and ``transfer``).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .config import ConfigError, check, check_choice

__all__ = ["BackboneSpec", "BACKBONES", "NORMS", "list_backbones", "get_spec", "Backbone", "build_backbone",
           "count_parameters", "load_backbone_weights"]

NORMS = ("default", "group", "sync_batch")


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """One backbone preset: ``builder`` is ``"timm-resnet"``, ``"timm-vit"``, ``"timm"`` (a timm
    model name in ``arch``) or ``"torchvision"`` (a ``torchvision.models`` builder in ``arch``)."""

    name: str
    builder: str
    arch: str
    kwargs: Mapping[str, Any]
    input_size: int  # images are resized to this side before entering the network
    family: str  # "resnet" (has BatchNorm, can take norm="group") or "vit"
    profile: str  # "mini" or "paper" ("reference" for the resnet18 yardstick)
    gn_groups: int = 8  # GroupNorm groups when norm="group"


BACKBONES: dict[str, BackboneSpec] = {
    s.name: s
    for s in (
        BackboneSpec("resnet-mini", "timm-resnet", "ResNet",
                     {"layers": (1, 1, 1, 1), "channels": (32, 64, 128, 256), "stem_width": 32}, 32, "resnet", "mini"),
        BackboneSpec("vit-mini", "timm-vit", "VisionTransformer",
                     {"img_size": 32, "patch_size": 8, "embed_dim": 96, "depth": 4, "num_heads": 3, "mlp_ratio": 4.0},
                     32, "vit", "mini"),
        BackboneSpec("resnet18", "torchvision", "resnet18", {}, 32, "resnet", "reference"),
        BackboneSpec("resnet50", "torchvision", "resnet50", {}, 224, "resnet", "paper", gn_groups=32),
        BackboneSpec("deit_small", "timm", "deit_small_patch16_224", {}, 224, "vit", "paper"),
    )
}


def list_backbones(profile: str | None = None) -> list[str]:
    """Registered backbone names, optionally only those of one profile."""
    return [n for n, s in BACKBONES.items() if profile is None or s.profile == profile]


def get_spec(name: str) -> BackboneSpec:
    """The spec of ``name``; an unknown name raises :class:`ConfigError` with the close matches."""
    check_choice("backbone", name, BACKBONES)
    return BACKBONES[name]


class Backbone(nn.Module):
    """A feature extractor ``body`` (images ``[N, C, H, W]`` -> features ``[N, dim]``) and a
    ``head`` (a Linear layer, or Identity when built without classes).

    ``forward`` returns ``head(body(x))``; :meth:`features` returns ``body(x)``.
    """

    def __init__(self, body: nn.Module, dim: int, spec: BackboneSpec, in_chans: int, norm: str, num_classes: int | None):
        super().__init__()
        self.body = body
        self.dim = int(dim)
        self.spec = spec
        self.in_chans = int(in_chans)
        self.norm = norm
        self.head: nn.Module = nn.Linear(self.dim, num_classes) if num_classes else nn.Identity()

    @property
    def name(self) -> str:
        return self.spec.name

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, in_chans={self.in_chans}, dim={self.dim}, norm={self.norm!r}"


def _norm_layer(spec: BackboneSpec, norm: str) -> Any:
    if norm != "group":
        return nn.BatchNorm2d
    import timm.layers

    return functools.partial(timm.layers.GroupNorm, num_groups=spec.gn_groups)  # called as f(num_channels)


def _build_body(spec: BackboneSpec, in_chans: int, norm: str) -> tuple[nn.Module, int]:
    if spec.builder == "timm-resnet":
        from timm.models.resnet import BasicBlock, ResNet

        m = ResNet(BasicBlock, num_classes=0, in_chans=in_chans, norm_layer=_norm_layer(spec, norm), **spec.kwargs)
        return m, m.num_features
    if spec.builder == "timm-vit":
        from timm.models.vision_transformer import VisionTransformer

        m = VisionTransformer(num_classes=0, in_chans=in_chans, **spec.kwargs)
        return m, m.num_features
    if spec.builder == "timm":
        import timm

        m = timm.create_model(spec.arch, pretrained=False, num_classes=0, in_chans=in_chans, **spec.kwargs)
        return m, m.num_features
    if spec.builder == "torchvision":
        import torchvision

        m = getattr(torchvision.models, spec.arch)(weights=None, norm_layer=_norm_layer(spec, norm), **spec.kwargs)
        if in_chans != 3:
            old = m.conv1
            m.conv1 = nn.Conv2d(in_chans, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        dim = m.fc.in_features
        m.fc = nn.Identity()
        return m, dim
    raise ConfigError(f"backbone {spec.name!r} has unknown builder {spec.builder!r}")  # pragma: no cover


def build_backbone(
    name: str, in_chans: int = 1, num_classes: int | None = None, norm: str = "default", seed: int | None = None
) -> tuple[Backbone, int]:
    """A randomly initialised backbone by registry name, and its feature dim.

    ``in_chans`` 1 (grayscale) or 3; ``num_classes`` adds a Linear classifier head (None: the
    model returns features); ``norm`` is one of :data:`NORMS` (see the module docstring; the
    conversion to SyncBatchNorm itself happens where DDP is set up). ``seed`` makes the
    initialisation deterministic without touching the global RNG.
    """
    spec = get_spec(name)
    check(in_chans in (1, 3), f"in_chans={in_chans!r} must be 1 or 3")
    check(num_classes is None or (isinstance(num_classes, int) and num_classes >= 2),
          f"num_classes={num_classes!r} must be None or an int >= 2")
    check_choice("norm", norm, NORMS)
    check(spec.family == "resnet" or norm == "default", f"norm={norm!r} applies to ResNets; {name} has no BatchNorm")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        body, dim = _build_body(spec, in_chans, norm)
        model = Backbone(body, dim, spec, in_chans, norm, num_classes)
    return model, dim


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def load_backbone_weights(backbone: Backbone, source: str | Path | Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Load a feature extractor's weights into ``backbone.body``.

    ``source``: a ``pretraining`` output file (``final.pt``: its backbone name and input
    channels must match), another ``.pt``/``.pth`` state dict (e.g. torchvision's ImageNet
    ResNet-50 weights; classifier keys such as ``fc.*`` / ``head.*`` are dropped), a
    ``.safetensors`` file, or an in-memory state dict. Raises :class:`ConfigError` if the
    architecture does not match. Returns ``{"source", "missing", "loaded"}``.
    """
    state: Mapping[str, torch.Tensor]
    label = "state dict"
    if isinstance(source, (str, Path)):
        path = Path(source)
        check(path.exists(), f"weights file {path} does not exist")
        label = str(path)
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=False)
    else:
        state = source
    if isinstance(state, Mapping) and state.get("kind") == "synthrec-pretrain":
        check(state["backbone"] == backbone.name and int(state["in_chans"]) == backbone.in_chans and state["norm"] == backbone.norm,
              f"{label} holds a {state['backbone']} ({state['in_chans']} channels, norm {state['norm']!r}); "
              f"cannot load it into {backbone.name} ({backbone.in_chans} channels, norm {backbone.norm!r})")
        state = state["body"]
    if isinstance(state, Mapping) and "state_dict" in state and not torch.is_tensor(state.get("state_dict")):
        state = state["state_dict"]
    own = backbone.body.state_dict()
    drop = ("fc.", "head.", "classifier.")
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith(drop) or k in own}
    bad = [k for k, v in state.items() if k not in own or tuple(own[k].shape) != tuple(v.shape)]
    check(not bad, f"{label} does not fit {backbone.name}: {len(bad)} keys unknown or of another shape, e.g. {bad[:3]}")
    missing = [k for k in own if k not in state]
    check(len(missing) < len(own), f"{label} holds none of {backbone.name}'s weights")
    backbone.body.load_state_dict(state, strict=False)
    return {"source": label, "missing": missing, "loaded": len(state)}
