"""The models and datasets a profile names, loaded once and handed to every section's recipe.

:func:`load_toolkit` reads a profile (``profiles/<name>.yaml``) and returns a :class:`Toolkit`:
the CLIP (model, preprocessing, tokenizer, and the feature :class:`~synthrec_core.features.Encoder`
built from them), the text-to-image generator (its pipeline and the job fields every
:class:`~synthrec_core.jobs.GenerationJob` of the profile uses), the language enhancer, and the
per-dataset :class:`~synthrec_core.zero_shot.PromptSpec`. :meth:`Toolkit.splits` loads a dataset
(a registered name or an ImageFolder path) framed the way the profile's CLIP sees it. Both
profiles go through here, so a number in the book and a paper-profile run share one code path.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from .config import ConfigError, check_choice
from .features import Encoder
from .prompts import prompt_spec

__all__ = ["Toolkit", "load_toolkit", "prompt_spec"]

#: how a profile frames datasets before its CLIP sees them
TRANSFORMS = ("none", "mini32")


@dataclasses.dataclass
class Toolkit:
    """What a profile's recipes run on (see the module docstring)."""

    profile: str
    model: Any
    preprocess: Callable
    tokenizer: Callable
    encoder: Encoder
    pipeline: Any
    gen: dict[str, Any]
    enhancer: Callable | None
    data: dict[str, Any]
    clip_id: str

    def prompt_spec(self, dataset: str) -> Any:
        """The :class:`~synthrec_core.zero_shot.PromptSpec` of ``dataset`` (a default for unknown ones)."""
        return prompt_spec(self.data, dataset)

    def splits(self, name: str, seed: int = 0, **kw: Any) -> Any:
        """``load_dataset(name)`` (a registered name or an ImageFolder path), framed for the CLIP."""
        from .data import load_dataset

        s = load_dataset(name, seed=seed, **kw)
        if self.data.get("dataset_transform", "none") == "mini32":
            s = s.to_mini()
        return s


def load_toolkit(profile: str = "mini", device: str = "cpu", generator: bool = True,
                 pipeline: Any = None, clip: tuple | None = None, generator_id: str | None = None,
                 clip_preset: str | None = None, enhancer: Any = None) -> Toolkit:
    """Load the models ``profile`` names.

    ``pipeline`` / ``clip`` (``(model, preprocess, tokenizer)``) replace the profile's models,
    e.g. the tiny retrained ones of a CI run; then ``generator_id`` names the given pipeline in
    every job (a label: the engine keys its sets by the pipeline's tensors). ``generator=False``
    skips loading the generator (the engine loads it on first use when needed). ``clip_preset``
    picks another CLIP preset than the profile's (e.g. ``ViT-B-16-openai``); ``enhancer`` replaces
    the language enhancer (a callable ``(classname, n, seed) -> sentences``, or a preset dict)."""
    import torch

    from .models import load_clip, load_generator
    from .profiles import load_profile

    data = load_profile(profile)
    check_choice("dataset_transform", data.get("dataset_transform", "none"), TRANSFORMS)
    from .models import model_preset

    m = {k: (model_preset(k, v["preset"]) | {kk: vv for kk, vv in v.items() if kk != "preset"}) if isinstance(v, dict) and "preset" in v
         else v for k, v in data.get("models", {}).items()}
    if "clip" not in m or "generator" not in m:
        raise ConfigError(f"profile {profile!r} must name models.clip and models.generator")
    spec = model_preset("clip", clip_preset) if clip_preset else m["clip"]
    if clip is None:
        clip = load_clip(spec["name"], spec.get("pretrained"), device=device)
        clip_id = f"{spec['name']}/{spec.get('pretrained')}"
    else:
        clip_id = f"{type(clip[0]).__name__} (given)"
    model, preprocess, tokenizer = clip
    g = {k: v for k, v in m["generator"].items() if k not in ("kind", "paper")}
    gen = {"pipeline_id": g.pop("pipeline_id"), "revision": g.pop("revision", None), **data.get("generation", {}), **g,
           "device": device}
    if gen.get("dtype") == "float16" and not str(device).startswith("cuda"):
        gen["dtype"] = "float32"  # fp16 on CUDA; fp32 on CPU (half-precision kernels there are slow or missing)
    if pipeline is not None and generator_id is not None:
        gen.update(pipeline_id=generator_id, revision=None)
    if pipeline is None and generator:
        pipeline = load_generator(gen["pipeline_id"], gen["revision"], device=device,
                                  dtype=getattr(torch, gen.get("dtype", "float32")), scheduler=gen.get("scheduler"),
                                  compile=bool(gen.get("compile", False)))
    enhancer = enhancer if callable(enhancer) else _enhancer(enhancer or m.get("language_enhancer", "offline"), device)
    return Toolkit(profile=profile, model=model, preprocess=preprocess, tokenizer=tokenizer,
                   encoder=Encoder(model, preprocess, clip_id), pipeline=pipeline, gen=gen, enhancer=enhancer, data=data,
                   clip_id=clip_id)


def _enhancer(spec: Any, device: str) -> Callable | None:
    """``None`` (the offline enhancer, with each dataset's style) or a T5 enhancer, loaded lazily."""
    if spec in (None, "offline") or (isinstance(spec, dict) and spec.get("kind") == "offline"):
        return None
    if isinstance(spec, dict) and spec.get("kind") == "t5":
        state: dict[int, Any] = {}

        def enhance(name: str, n: int, seed: int) -> list[str]:
            """T5 sentences, cached on disk by model, revision, class, n and seed, so every machine and
            device that makes a set from them (a cluster's job writer, the notebook) uses the same ones."""
            import json

            from .paths import cache_dir
            from .utils import atomic_write_json, stable_hash

            path = cache_dir() / "le" / f"{stable_hash([spec['id'], spec.get('revision'), name, n, seed])}.json"
            if path.exists():
                return json.loads(path.read_text())["sentences"]
            if n not in state:  # the enhancer keeps n of 1.25 n samples, as the paper keeps 200 of 250
                from .prompts import T5LanguageEnhancer

                state[n] = T5LanguageEnhancer(spec["id"], keep=n, num_samples=max(n, int(n * 1.25)), device=device,
                                              revision=spec.get("revision"))
            out = state[n](name, seed=seed)
            atomic_write_json(path, {"model": spec["id"], "revision": spec.get("revision"), "class": name, "n": n, "seed": seed,
                                     "sentences": out})
            return out

        return enhance
    raise ConfigError(f"language_enhancer {spec!r} must be 'offline' or {{kind: t5, id: ..., revision: ...}}")
