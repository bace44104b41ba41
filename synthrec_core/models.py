"""The one place synthrec loads CLIP models (open_clip) and image generators (diffusers).

Both profiles go through here:

- ``paper``: open_clip names and tags (``load_clip("RN50", "openai")``, ``("ViT-B-16",
  "openai")``, ``hf-hub:`` ids) and hub ids or local folders of diffusers pipelines
  (``load_generator("stable-diffusion-v1-5/stable-diffusion-v1-5", revision=...)``);
- plugins (the mini world, :mod:`synthrec_core.mini`) register their own models through
  :func:`register_clip`, :func:`register_generator` and :func:`register_pipeline_class`; this
  module never imports a plugin by name. Plugins are listed as data in the profiles
  (``profiles/*.yaml``, key ``plugins``) and imported on first use.

With ``HF_HUB_OFFLINE=1`` a model that is not cached fails at once with
:class:`ModelUnavailable`, whose message names the model and says how to get it.
:func:`generator_identity` gives the content identity of a generator's weights, which the
generation engine puts in every set's key.

Every generator goes through :func:`speed_up` (the GPU defaults: SDPA attention, channels-last
UNet/VAE on CUDA, an opt-in ``torch.compile`` of the UNet); :func:`img2img_pipeline` gives the
real-guidance sibling of a text-to-image pipeline over the same modules. A folder or snapshot
whose ``model_index.json`` is not a text-to-image (or img2img) pipeline is refused before its
weights load.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .config import ConfigError

__all__ = [
    "ModelUnavailable",
    "model_presets",
    "model_preset",
    "register_clip",
    "register_generator",
    "register_pipeline_class",
    "load_clip",
    "load_generator",
    "generator_identity",
    "make_scheduler",
    "SCHEDULERS",
    "speed_up",
    "is_compiled",
    "img2img_pipeline",
    "GENERATOR_KINDS",
]

from .schedulers import SCHEDULERS, make_scheduler  # noqa: E402,F401  (re-exported)


class ModelUnavailable(FileNotFoundError):
    """A model's weights are not available here (offline and not cached, or not shipped)."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


# ------------------------------------------------------------------------------ plugin hooks
#: name prefix -> loader(name, pretrained, device) -> (model, preprocess, tokenizer)
_CLIPS: dict[str, Callable[..., tuple]] = {}


@dataclasses.dataclass(frozen=True)
class _Generator:
    folder: Callable[[], Path]  # the diffusers folder the name stands for
    extra_files: Callable[[], Sequence[Path]] = lambda: ()  # weights loaded from elsewhere (a text encoder)


_GENERATORS: dict[str, _Generator] = {}
#: ``model_index.json`` ``_class_name`` -> loader(folder, img2img, dtype) -> pipeline
_PIPELINE_CLASSES: dict[str, Callable[..., Any]] = {}
_EXTRA_FILES: dict[str, Callable[[], Sequence[Path]]] = {}


def register_clip(prefix: str, loader: Callable[..., tuple]) -> None:
    """Route :func:`load_clip` names starting with ``prefix`` to ``loader(name, pretrained, device)``."""
    _CLIPS[prefix] = loader


def register_generator(name: str, folder: Callable[[], Path], extra_files: Callable[[], Sequence[Path]] = lambda: ()) -> None:
    """Make ``name`` stand for a diffusers folder (``folder()``), e.g. shipped weights.

    ``extra_files`` lists weight files the pipeline loads from outside that folder (hashed into
    the generator's identity too)."""
    _GENERATORS[name] = _Generator(folder, extra_files)


def register_pipeline_class(class_name: str, loader: Callable[..., Any], extra_files: Callable[[], Sequence[Path]] = lambda: ()) -> None:
    """Load folders whose ``model_index.json`` names ``class_name`` with ``loader(folder, img2img, dtype)``."""
    _PIPELINE_CLASSES[class_name] = loader
    _EXTRA_FILES[class_name] = extra_files


def _ensure_plugins() -> None:
    from .profiles import ensure_plugins

    ensure_plugins()


# ------------------------------------------------------------------------------ presets
def model_presets(kind: str) -> dict[str, dict[str, Any]]:
    """The presets of ``kind`` (``"clip"``, ``"generator"``, ``"language_enhancer"``) by name
    (``profiles/presets/models.yaml``)."""
    import yaml

    from .config import check_choice
    from .profiles import PROFILE_DIR

    data = yaml.safe_load((PROFILE_DIR / "presets" / "models.yaml").read_text())
    check_choice("model kind", kind, list(data))
    return {k: dict(v) for k, v in data[kind].items()}


def model_preset(kind: str, name: str) -> dict[str, Any]:
    """One preset; an unknown name is reported as unknown, with close matches."""
    from .config import check_choice

    table = model_presets(kind)
    check_choice(f"{kind} preset", name, list(table))
    if kind == "generator":  # the sections need a text-to-image model (its img2img sibling does real guidance)
        check_choice(f"kind of generator preset {name!r}", table[name].get("kind"), GENERATOR_KINDS)
    return table[name]


#: the generator kinds the recipes can use
GENERATOR_KINDS = ("text-to-image",)


# ------------------------------------------------------------------------------ CLIP
def load_clip(name: str, pretrained: str | None = None, device: str | torch.device = "cpu"
              ) -> tuple[torch.nn.Module, Callable, Callable]:
    """``(model, preprocess, tokenizer)`` of a CLIP, in eval mode on ``device``.

    Args:
        name: an open_clip model name (``"RN50"``, ``"ViT-B-16"``, ``"hf-hub:org/repo"`` ...)
            or a name a plugin registered (``"MiniCLIP-CNN"``).
        pretrained: an open_clip tag (``"openai"``), a weights file, ``None`` for random
            weights (tests), or what the plugin accepts (MiniCLIP: ``"mini"``).

    Raises:
        ConfigError: the name is unknown to open_clip and to every plugin (close matches named).
        ModelUnavailable: the weights are not cached and cannot be downloaded (offline).
    """
    import open_clip

    _ensure_plugins()
    for prefix, loader in _CLIPS.items():
        if name.startswith(prefix):
            return loader(name, pretrained, device)
    if not name.startswith("hf-hub:") and name not in open_clip.list_models():
        from .config import check_choice

        check_choice("CLIP model name", name, open_clip.list_models() + [p + "..." for p in _CLIPS])
    if pretrained is not None and not Path(str(pretrained)).is_file() and not name.startswith("hf-hub:"):
        tags = open_clip.list_pretrained_tags_by_model(name)
        if pretrained not in tags:
            from .config import check_choice

            check_choice(f"pretrained tag of {name}", pretrained, tags)
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
def _folder_of(model_id: str) -> Path | None:
    """The local folder ``model_id`` names (a registered name or a path), or None for a hub id.

    Raises :class:`ConfigError` for a path that does not exist."""
    _ensure_plugins()
    if model_id in _GENERATORS:
        folder = _GENERATORS[model_id].folder()
        if not (folder / "model_index.json").is_file():
            raise ModelUnavailable(f"generator {model_id!r}: its folder {folder} has no model_index.json (weights not shipped)")
        return folder
    p = Path(model_id).expanduser()
    if p.is_dir():
        if not (p / "model_index.json").is_file():
            raise ConfigError(f"generator folder {str(p)!r} has no model_index.json: not a diffusers pipeline folder")
        return p
    if p.exists() or model_id.startswith((".", "/", "~")) or model_id.count("/") > 1 or model_id.endswith("/"):
        raise ConfigError(f"generator folder not found: {model_id!r}")
    return None


def _pipeline_class(folder: Path) -> str:
    return json.loads((folder / "model_index.json").read_text()).get("_class_name", "")


def _extra_files(model_id: str, folder: Path) -> Sequence[Path]:
    if model_id in _GENERATORS:
        return _GENERATORS[model_id].extra_files()
    return _EXTRA_FILES.get(_pipeline_class(folder), lambda: ())()


def _hub_snapshot(model_id: str, revision: str | None) -> Path | None:
    """The cached snapshot folder of a hub repo at ``revision`` (None if not cached)."""
    from huggingface_hub import snapshot_download

    try:  # allow_patterns: a pipeline's snapshot never holds every file of its repo's cached listing
        return Path(snapshot_download(model_id, revision=revision, local_files_only=True, allow_patterns=["model_index.json"]))
    except Exception:  # noqa: BLE001 - not cached (or not a valid repo id)
        return None


def generator_identity(model_id: str, revision: str | None = None, pipeline: Any = None) -> str:
    """Content identity of a generator's weights, for set keys.

    - a registered name or a local folder: sha256 over its files (configs and weights; files a
      plugin loads from elsewhere, such as MiniGen's text encoder, included);
    - a hub id: ``hub:<commit>`` of the cached snapshot at ``revision`` (so a snapshot that
      changed under the same branch name gets a new identity); offline and not cached, a
      :class:`ModelUnavailable` naming the model;
    - otherwise (a label for a pipeline object): ``tensors:<sha256>`` over the object's modules.
    """
    from .utils import files_sha256

    folder = _folder_of(model_id)
    if folder is not None:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() not in (".md", ".csv"))
        return "files:" + files_sha256(files + list(_extra_files(model_id, folder)), root=folder)
    if pipeline is not None and "/" not in model_id:
        return "tensors:" + pipeline_tensors_hash(pipeline)
    snap = _hub_snapshot(model_id, revision)
    if snap is not None:
        return f"hub:{snap.name}"
    if pipeline is not None:
        return "tensors:" + pipeline_tensors_hash(pipeline)
    raise ModelUnavailable(_not_cached_message("generator", model_id, revision))


def pipeline_tensors_hash(pipeline: Any) -> str:
    """sha256 over every ``torch.nn.Module`` component of a pipeline (name-ordered)."""
    from .features import weights_hash
    from .utils import stable_hash

    comps = getattr(pipeline, "components", None) or {"unet": getattr(pipeline, "unet", pipeline)}
    return stable_hash({k: weights_hash(v) for k, v in sorted(comps.items()) if isinstance(v, torch.nn.Module)}, length=32)


def _not_cached_message(kind: str, model_id: str, revision: str | None) -> str:
    how = (f"unset HF_HUB_OFFLINE and run `hf download {model_id}"
           f"{' --revision ' + revision if revision else ''}` with network access")
    return (f"{kind} {model_id!r}{' @ ' + revision if revision else ''} is not in the local Hugging Face cache"
            f"{' and HF_HUB_OFFLINE=1 forbids downloading it' if _offline() else ' and could not be downloaded'}. "
            f"To get it: {how}; or pass a local folder"
            f"{' (no local folder ' + repr(model_id) + ' exists)' if model_id.count('/') == 1 else ''}.")


def load_generator(model_id: str, revision: str | None = None, *, img2img: bool = False,
                   device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                   scheduler: str | None = None, compile: bool = False) -> Any:
    """A diffusers pipeline for text-to-image (or img2img) generation.

    Args:
        model_id: a registered name (``"minigen"``), a local diffusers folder, or a hub id such
            as ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``.
        revision: hub revision (commit, branch or tag); ignored for local folders.
        img2img: return an image-to-image pipeline (``AutoPipelineForImage2Image`` for hub
            models; a plugin's pipeline may do both).
        device, dtype: where and in what precision the pipeline runs.
        scheduler: replace the pipeline's scheduler by one of :data:`SCHEDULERS`, built from the
            pipeline's scheduler config (``None`` keeps it).
        compile: ``torch.compile`` the UNet (see :func:`speed_up`, which every pipeline goes
            through: SDPA attention, channels-last on CUDA).

    Raises:
        ConfigError: a local path that does not exist ("folder not found"); a pipeline whose
            ``model_index.json`` is not a text-to-image (or img2img) pipeline.
        ModelUnavailable: not shipped / not cached and offline; the message says how to get it.
    """
    folder = _folder_of(model_id)
    if folder is not None and _pipeline_class(folder) in _PIPELINE_CLASSES:
        pipe = _PIPELINE_CLASSES[_pipeline_class(folder)](folder, img2img, dtype)
    else:
        pipe = _load_diffusers(str(folder) if folder is not None else model_id, revision, img2img, dtype, local=folder is not None)
    if scheduler is not None:
        pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return speed_up(pipe.to(device), device, compile=compile)


def _load_diffusers(model_id: str, revision: str | None, img2img: bool, dtype: torch.dtype, local: bool) -> Any:
    index = Path(model_id) if local else _hub_snapshot(model_id, revision)
    if index is None and _offline():  # before diffusers is imported: a miss fails in a second or two
        raise ModelUnavailable(_not_cached_message("generator", model_id, revision))
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    cls = AutoPipelineForImage2Image if img2img else AutoPipelineForText2Image
    if index is None:  # online and not cached: fetch model_index.json alone first, to check the kind
        from huggingface_hub import hf_hub_download

        try:
            index = Path(hf_hub_download(model_id, "model_index.json", revision=revision)).parent
        except Exception:  # noqa: BLE001 - from_pretrained below reports the failure with instructions
            index = None
    if index is not None:
        _check_text_to_image(model_id, index)
    try:
        return cls.from_pretrained(model_id, revision=None if local else revision, dtype=dtype)
    except Exception as e:
        if local or not _looks_like_missing(e):
            raise
        raise ModelUnavailable(_not_cached_message("generator", model_id, revision)) from e


def _check_text_to_image(model_id: str, folder: Path) -> None:
    """:class:`ConfigError` unless ``folder/model_index.json`` names a text-to-image or img2img
    pipeline (diffusers' auto-pipeline tables, or a plugin's registered class)."""
    from diffusers.pipelines.auto_pipeline import AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, AUTO_TEXT2IMAGE_PIPELINES_MAPPING

    if not (folder / "model_index.json").is_file():
        raise ConfigError(f"generator {model_id!r}: {folder} has no model_index.json: not a diffusers pipeline")
    name = _pipeline_class(folder)
    known = {c.__name__ for table in (AUTO_TEXT2IMAGE_PIPELINES_MAPPING, AUTO_IMAGE2IMAGE_PIPELINES_MAPPING)
             for c in table.values()} | set(_PIPELINE_CLASSES)
    if name not in known:
        raise ConfigError(f"generator {model_id!r} is a {name or 'pipeline without a _class_name'} (model_index.json), "
                          "not a text-to-image pipeline; give one such as a StableDiffusionPipeline")


# ------------------------------------------------------------------------------ GPU defaults
#: ``torch.compile`` arguments for the UNet (CUDA graphs suit the engine's fixed micro-batch shapes)
COMPILE_OPTIONS: dict[str, Any] = {"mode": "reduce-overhead", "fullgraph": False}


def speed_up(pipe: Any, device: str | torch.device, compile: bool = False, *, channels_last: bool | None = None,
             compile_options: dict[str, Any] | None = None) -> Any:
    """The GPU defaults, applied in place to a loaded pipeline (which is returned).

    - Attention: every classic ``AttnProcessor`` of the pipeline's diffusers modules becomes
      PyTorch's SDPA ``AttnProcessor2_0`` (diffusers' own default when torch has SDPA, so this
      is a no-op for SD v1.5, MiniGen and the tests' tiny SD; it guards configs that set the
      classic one).
    - Memory format: the UNet and VAE in channels-last on CUDA (``channels_last=None``), or
      when ``channels_last=True``.
    - ``compile``: ``torch.compile`` of the UNet with :data:`COMPILE_OPTIONS` (updated by
      ``compile_options``); the first calls are slow (compilation), later ones faster.

    Precision is the caller's ``dtype`` (the profiles ask for float16 on CUDA, float32 on CPU).
    What is in a set's key: ``dtype`` is; compiling must be too, because compiled kernels fuse
    and round differently, so a compiled run must not share (or resume) an uncompiled run's
    sets. SDPA and channels-last are fixed for a device, like the device's own kernels (the
    device is not in the key). ``pipe._synthrec_speed`` records what was applied.
    """
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    cuda = str(device).startswith("cuda")
    swapped = 0
    for name, module in _modules(pipe).items():
        procs = getattr(module, "attn_processors", None)
        if not procs or not hasattr(module, "set_attn_processor"):
            continue
        classic = [k for k, v in procs.items() if type(v) is AttnProcessor]
        if classic and hasattr(torch.nn.functional, "scaled_dot_product_attention"):
            module.set_attn_processor({k: AttnProcessor2_0() if k in classic else v for k, v in procs.items()})
            swapped += len(classic)
    last = cuda if channels_last is None else channels_last
    if last:
        for name in ("unet", "vae"):
            if isinstance(getattr(pipe, name, None), torch.nn.Module):
                getattr(pipe, name).to(memory_format=torch.channels_last)
    if compile and not is_compiled(pipe):
        pipe.unet = torch.compile(pipe.unet, **{**COMPILE_OPTIONS, **(compile_options or {})})
    pipe._synthrec_speed = {"sdpa_swapped": swapped, "channels_last": bool(last), "compiled": is_compiled(pipe),
                            "device": str(device)}
    return pipe


def _modules(pipe: Any) -> dict[str, torch.nn.Module]:
    comps = getattr(pipe, "components", None) or {"unet": getattr(pipe, "unet", None)}
    return {k: v for k, v in comps.items() if isinstance(v, torch.nn.Module)}


def is_compiled(pipe: Any) -> bool:
    """True if the pipeline's UNet is a ``torch.compile`` module."""
    return hasattr(getattr(pipe, "unet", None), "_orig_mod")


def img2img_pipeline(pipe: Any) -> Any:
    """A pipeline that does real guidance (img2img) with ``pipe``'s modules: ``pipe`` itself if
    its call takes ``image`` and ``strength`` (MiniGen's does both), else its diffusers img2img
    sibling (``AutoPipelineForImage2Image.from_pipe``: the same modules, nothing reloaded)."""
    import inspect

    params = inspect.signature(type(pipe).__call__).parameters
    if "image" in params and "strength" in params:
        return pipe
    from diffusers import AutoPipelineForImage2Image

    out = AutoPipelineForImage2Image.from_pipe(pipe)
    out.set_progress_bar_config(disable=True)
    if hasattr(pipe, "_synthrec_speed"):
        out._synthrec_speed = dict(pipe._synthrec_speed)
    return out
