"""The one place synthrec loads CLIP models (open_clip) and image generators (diffusers).

Both profiles go through here:

- ``mini``: the shipped MiniCLIP (``load_clip("MiniCLIP-CNN", "mini")``) and MiniGen
  (``load_generator("minigen")``), trained in this project (``synthrec_core/mini/weights/``);
- ``paper``: open_clip tags (``load_clip("RN50", "openai")``, ``("ViT-B-16", "openai")``) and
  hub ids / local folders of diffusers pipelines (``load_generator("CompVis/stable-diffusion-v1-4")``).

With ``HF_HUB_OFFLINE=1`` a model that is not cached fails at once with
:class:`ModelUnavailable`, whose message names the model and says how to get it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = [
    "ModelUnavailable",
    "MINI_WEIGHTS",
    "load_clip",
    "load_generator",
    "make_scheduler",
    "SCHEDULERS",
    "is_mini_clip",
]

#: shipped weights of the mini world
MINI_WEIGHTS = Path(__file__).resolve().parent / "mini" / "weights"
_MINICLIP_FILE = MINI_WEIGHTS / "miniclip" / "miniclip.safetensors"
_MINIGEN_DIR = MINI_WEIGHTS / "minigen"
_MINIGEN_NAMES = ("minigen", "mini", "MiniGen")


class ModelUnavailable(FileNotFoundError):
    """A model's weights are not available here (offline and not cached, or not shipped)."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------------------ CLIP
def is_mini_clip(name: str) -> bool:
    """True for the mini world's MiniCLIP architectures."""
    return name.startswith("MiniCLIP")


def load_clip(name: str, pretrained: str | None = None, device: str | torch.device = "cpu"
              ) -> tuple[torch.nn.Module, Callable, Callable]:
    """``(model, preprocess, tokenizer)`` of a CLIP, in eval mode on ``device``.

    Args:
        name: an open_clip model name (``"RN50"``, ``"ViT-B-16"`` ...) or a MiniCLIP name
            (``"MiniCLIP-CNN"``, registered with open_clip on first use).
        pretrained: an open_clip tag (``"openai"``), a weights file, ``None`` for random weights
            (tests; MiniCLIP keeps its real MiniLM text tower), or for MiniCLIP ``"mini"``: the
            shipped weights. A MiniCLIP weights file may hold only the trained parts (as shipped);
            a full open_clip checkpoint is then assembled once in the cache.

    Raises:
        ModelUnavailable: the weights are not cached and cannot be downloaded (offline).
    """
    import open_clip

    if is_mini_clip(name):
        from .mini.miniclip import assemble_checkpoint, register_miniclip

        register_miniclip()
        if pretrained in ("mini", "shipped"):
            if not _MINICLIP_FILE.exists():
                raise ModelUnavailable(
                    f"MiniCLIP weights are not shipped at {_MINICLIP_FILE}; train them with "
                    "synthrec_core.mini.train.train_miniclip and export_miniclip")
            pretrained = str(_MINICLIP_FILE)
        if pretrained is not None:
            if not Path(pretrained).is_file():
                raise ModelUnavailable(f"MiniCLIP weights file {pretrained!r} not found")
            pretrained = str(_full_miniclip_checkpoint(pretrained, assemble_checkpoint))
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    except Exception as e:  # open_clip raises RuntimeError for failed downloads
        if pretrained is not None and not Path(str(pretrained)).is_file() and _looks_like_missing(e):
            raise ModelUnavailable(
                f"open_clip model {name!r} with pretrained={pretrained!r} is not cached here and cannot be "
                f"downloaded{' (HF_HUB_OFFLINE=1)' if _offline() else ''}. Get it with network access: unset "
                f"HF_HUB_OFFLINE and run open_clip.create_model({name!r}, pretrained={pretrained!r}) once "
                f"(it caches to ~/.cache/huggingface), or pass pretrained=<path to weights>.") from e
        raise
    tokenizer = open_clip.get_tokenizer(name)
    return model.eval(), preprocess, tokenizer


def _full_miniclip_checkpoint(path: str, assemble: Callable) -> Path:
    from safetensors import safe_open

    if path.endswith(".safetensors"):
        with safe_open(path, "pt") as f:
            if not any(k.startswith("text.transformer.") for k in f.keys()):
                return assemble(path)
    return Path(path)


def _looks_like_missing(e: BaseException) -> bool:
    parts, seen = [], 0
    while e is not None and seen < 10:  # walk the cause chain
        parts.append(f"{type(e).__name__} {e}")
        e, seen = e.__cause__ or e.__context__, seen + 1
    text = " ".join(parts).lower()
    return any(s in text for s in ("offline", "not found", "cannot find", "couldn't", "could not", "connection",
                                   "localentrynotfound", "offlinemodeisenabled", "download", "not cached", "no such file",
                                   "does not appear to have"))


# ------------------------------------------------------------------------------ generators
#: scheduler names accepted by :func:`load_generator` (built ``from_config`` of the pipeline's)
SCHEDULERS = ("ddim", "dpm", "dpm++", "euler", "euler_a", "pndm", "ddpm")


def make_scheduler(name: str, config: Any) -> Any:
    """A diffusers scheduler called ``name`` built from another scheduler's ``config``."""
    import diffusers

    classes = {
        "ddim": diffusers.DDIMScheduler,
        "dpm": diffusers.DPMSolverMultistepScheduler,
        "dpm++": diffusers.DPMSolverMultistepScheduler,
        "euler": diffusers.EulerDiscreteScheduler,
        "euler_a": diffusers.EulerAncestralDiscreteScheduler,
        "pndm": diffusers.PNDMScheduler,
        "ddpm": diffusers.DDPMScheduler,
    }
    if name not in classes:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {list(classes)}")
    return classes[name].from_config(config)


def _is_minigen_folder(path: Path) -> bool:
    index = path / "model_index.json"
    return index.is_file() and json.loads(index.read_text()).get("_class_name") == "MiniGenPipeline"


def load_generator(model_id: str, revision: str | None = None, *, img2img: bool = False,
                   device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                   scheduler: str | None = None) -> Any:
    """A diffusers pipeline for text-to-image (or img2img) generation.

    Args:
        model_id: ``"minigen"`` (the shipped MiniGen), a local diffusers folder (MiniGen's or any
            pipeline's), or a hub id such as ``"CompVis/stable-diffusion-v1-4"``.
        revision: hub revision (commit, branch or tag); ignored for local folders.
        img2img: return an image-to-image pipeline. MiniGen's one pipeline does both (pass
            ``image=`` and ``strength=``); for hub models ``AutoPipelineForImage2Image`` is used.
        device, dtype: where and in what precision the pipeline runs.
        scheduler: replace the pipeline's scheduler by one of :data:`SCHEDULERS`, built from the
            pipeline's scheduler config (``None`` keeps it).

    Raises:
        ModelUnavailable: not shipped / not cached and offline; the message says how to get it.
    """
    if model_id in _MINIGEN_NAMES:
        if not _is_minigen_folder(_MINIGEN_DIR):
            raise ModelUnavailable(
                f"MiniGen weights are not shipped at {_MINIGEN_DIR}; train them with "
                "synthrec_core.mini.train.train_minigen and export_minigen")
        model_id = str(_MINIGEN_DIR)
    path = Path(model_id)
    if path.is_dir() and _is_minigen_folder(path):
        pipe = _load_minigen(path, dtype)
    else:
        pipe = _load_diffusers(model_id, revision, img2img, dtype)
    if scheduler is not None:
        pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    return pipe.to(device)


def _load_minigen(path: Path, dtype: torch.dtype) -> Any:
    from .mini.miniclip import load_minilm
    from .mini.minigen import MiniGenPipeline

    tok, bert = load_minilm()
    pipe = MiniGenPipeline.from_pretrained(str(path), text_encoder=bert, tokenizer=tok, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load_diffusers(model_id: str, revision: str | None, img2img: bool, dtype: torch.dtype) -> Any:
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    cls = AutoPipelineForImage2Image if img2img else AutoPipelineForText2Image
    local = Path(model_id).is_dir()
    how = (f"unset HF_HUB_OFFLINE and run `huggingface-cli download {model_id}"
           f"{' --revision ' + revision if revision else ''}` (or `hf download {model_id}`) with network access")
    if not local and _offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model_id, "model_index.json", revision=revision), str):
            raise ModelUnavailable(
                f"generator {model_id!r}{' @ ' + revision if revision else ''} is not in the local Hugging Face "
                f"cache and HF_HUB_OFFLINE=1 forbids downloading it. To get it: {how}; or pass a local folder.")
    try:
        return cls.from_pretrained(model_id, revision=None if local else revision, dtype=dtype)
    except Exception as e:
        if local or not _looks_like_missing(e):
            raise
        raise ModelUnavailable(
            f"generator {model_id!r}{' @ ' + revision if revision else ''} is not in the local Hugging Face cache"
            f"{' and HF_HUB_OFFLINE=1 forbids downloading it' if _offline() else ' and could not be downloaded'}. "
            f"To get it: {how}; or pass a local folder.") from e
