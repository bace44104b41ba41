"""``synthrec cost``: how many images a notebook config generates, and the GPU-hours, before a cluster is committed.

A *planner* per notebook turns its parameters (``configs/<profile>/<stem>.yaml`` over the
notebook's defaults) into the :class:`SetRequest` s its cells make, mirroring the section's
own functions (for ``01_zero_shot``: ``zero_shot_study.ablation`` / ``saturation`` /
``from_scratch``; the tower, prompt-style and audit cells reuse the ablation's sets). Class
counts come from the dataset registry's ``num_classes`` (an ImageFolder path: its class
folders). Sets that share images are counted once: the engine keys every image by seed,
class, prompt and index, so requests with the same prompts and seed differ only in images
per prompt, and the union holds, per prompt, the most any request asks for.

GPU-hours use *published figures*, not measurements of this project
(``profiles/presets/gpu_figures.yaml``): SD 1.5 at 512 px, 50 steps, batch 1, A100 —
out-of-the-box diffusers 1.60 s per image, compiled + channels-last 1.06 s — scaled linearly
by the denoising steps a set runs (img2img: ``strength x steps``). Only generation is
estimated. :func:`write_jobs` writes the union sets as ``GenerationJob`` files (one per dataset,
prompt kind and seed) plus ``jobs.txt`` for ``scripts/slurm/generate_array.sh``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .config import ConfigError, check

__all__ = ["SetRequest", "register_planner", "plan", "notebook_parameters", "union_images", "gpu_figures",
           "seconds_per_image", "estimate", "format_estimate", "write_jobs", "count_jobs", "NO_GPU_GENERATION"]


@dataclasses.dataclass(frozen=True)
class SetRequest:
    """One set a notebook cell asks the engine for (``zero_shot.pool_job``'s arguments)."""

    purpose: str  # which cells ask for it ("ablation B", "saturation", ...)
    dataset: str
    classes: int
    prompts: str  # "basic" (one prompt per class) or "le" (le_sentences prompts per class)
    seed: int
    per_class: int  # images asked for per class (pool_job's pool_per_class)
    le_sentences: int | None = None
    models: str = "paper"  # the profile whose generator makes it
    strength: float | None = None  # real guidance (img2img): denoises strength x steps

    @property
    def prompts_per_class(self) -> int:
        return 1 if self.prompts == "basic" else int(self.le_sentences)

    @property
    def images_per_prompt(self) -> int:
        return math.ceil(self.per_class / self.prompts_per_class)

    @property
    def images(self) -> int:
        return self.classes * self.prompts_per_class * self.images_per_prompt

    @property
    def group(self) -> tuple:
        """Requests in one group share images (same generator, dataset, prompts and seed)."""
        return (self.models, self.dataset, self.prompts, self.le_sentences, self.seed, self.strength)


#: notebooks that make no image with the profile's generator, and why
NO_GPU_GENERATION = {
    "00_datasets": "it generates no images",
    "00_foundation": "it generates only with the mini world's MiniGen, on the CPU, under every profile",
    "00_synthetic_sets": "it generates only with the mini world's MiniGen, on the CPU, under every profile",
    "04_paper_comparison": "it generates no images (it reads results)",
}
_PLANNERS: dict[str, Callable[[dict[str, Any]], list[SetRequest]]] = {}


def register_planner(stem: str, planner: Callable[[dict[str, Any]], list[SetRequest]]) -> None:
    """Let ``synthrec cost`` plan notebook ``stem``: ``planner(parameters) -> [SetRequest, ...]``."""
    _PLANNERS[stem] = planner


def _classes(dataset: str) -> int:
    from .data.registry import DATASETS, _folder_or_none

    if dataset in DATASETS and DATASETS[dataset].num_classes:
        return int(DATASETS[dataset].num_classes)
    folder = _folder_or_none(dataset)
    if folder is None:
        raise ConfigError(f"dataset {dataset!r}: not registered and not a folder; cannot count its classes")
    split = [folder / s for s in ("train", "val", "test") if (folder / s).is_dir()]
    classes = {p.name for root in (split or [folder]) for p in root.iterdir() if p.is_dir()}
    check(len(classes) > 0, f"ImageFolder {str(folder)!r} has no class folders")
    return len(classes)


def _zero_shot_planner(p: dict[str, Any]) -> list[SetRequest]:
    """``01_zero_shot``: the sets of ``zero_shot_study.ablation``, ``saturation`` and ``from_scratch``."""
    train, pool, L, models = p["train_per_class"], p["pool_per_class"], p["le_sentences"], p["models"]
    out = []
    for d in p["datasets"]:
        n = _classes(d)
        for s in p["seeds"]:  # ablation: B sets have no pool beyond K (study.variants); the LE variants share one set
            out.append(SetRequest("ablation B", d, n, "basic", s, train, None, models))
            out.append(SetRequest("ablation LE (+CF), prompt style, tower, audit", d, n, "le", s, pool, L, models))
    ratio = pool / train
    sat = p["saturation_dataset"]  # study.saturation: per seed, one LE set of the largest size (no CF pool)
    for s in p["seeds"]:
        out.append(SetRequest("saturation", sat, _classes(sat), "le", s, max(p["saturation_sizes"]), L, models))
    if p.get("scratch_dataset"):  # study.from_scratch: the largest synthetic size's pool, seed 0
        d = p["scratch_dataset"]
        out.append(SetRequest("from scratch", d, _classes(d), "le", 0, int(math.ceil(max(p["scratch_synthetic"]) * ratio)), L, models))
    return out


register_planner("01_zero_shot", _zero_shot_planner)


def _pretraining_planner(p: dict[str, Any]) -> list[SetRequest]:
    """``03_pretraining``: per seed and size, one LE set of the source's classes (no CF pool)."""
    n = _classes(p["source"])
    return [SetRequest(f"pre-training, {k} per class", p["source"], n, "le", s, k, p["le_sentences"], p["models"])
            for s in p["seeds"] for k in p["sizes"]]


register_planner("03_pretraining", _pretraining_planner)


def notebook_parameters(notebook: str, profile: str, config: str | Path | None = None,
                        overrides: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """The notebook's path and the parameters a run under ``profile`` gets (defaults, then
    ``configs/<profile>/<stem>.yaml`` or ``config``, then ``overrides``), validated."""
    import yaml

    from .runner import find_notebooks, notebook_defaults, profile_parameters, validate_parameters

    nb = find_notebooks([notebook])[0]
    values = profile_parameters(nb, profile)
    if config is not None:
        path = Path(config)
        check(path.is_file(), f"config file {str(path)!r} does not exist")
        values = {**values, **(yaml.safe_load(path.read_text()) or {})}
    values.update(overrides or {})
    validate_parameters(nb, values)
    return nb, {**notebook_defaults(nb), **values}


def plan(stem: str, params: dict[str, Any]) -> list[SetRequest]:
    """The set requests of notebook ``stem`` under ``params`` ([] for notebooks that generate nothing on GPUs)."""
    if stem in NO_GPU_GENERATION:
        return []
    if stem not in _PLANNERS:
        raise ConfigError(f"no image plan for notebook {stem!r}; planned: {sorted(_PLANNERS)}, no GPU generation: "
                          f"{sorted(NO_GPU_GENERATION)} (a section adds one with cost.register_planner)")
    return _PLANNERS[stem](params)


def union_images(requests: Iterable[SetRequest]) -> dict[tuple, int]:
    """Images per group, shared images counted once: requests of a group have the same prompts,
    so the union holds, per prompt, the most images per prompt any of them asks for. (Requests
    with another number of LE sentences form their own group: T5 need not give the same
    sentences for another count, so they are not assumed shared.)"""
    groups: dict[tuple, list[SetRequest]] = defaultdict(list)
    for r in requests:
        groups[r.group].append(r)
    return {key: rs[0].classes * rs[0].prompts_per_class * max(r.images_per_prompt for r in rs) for key, rs in groups.items()}


def gpu_figures() -> dict[str, Any]:
    """The published per-image figures (``profiles/presets/gpu_figures.yaml``)."""
    import yaml

    from .profiles import PROFILE_DIR

    return yaml.safe_load((PROFILE_DIR / "presets" / "gpu_figures.yaml").read_text())


def _generator(models: str) -> dict[str, Any]:
    from .models import model_preset
    from .profiles import section

    g = section(models, "models", "generator")
    spec = model_preset("generator", g["preset"]) if isinstance(g, dict) and "preset" in g else dict(g)
    return {**spec, **section(models, "generation")}


def seconds_per_image(gen: dict[str, Any], path: str, strength: float | None = None) -> float | None:
    """Published seconds per image for ``gen`` (generator + generation settings) on the
    ``default`` or ``compiled`` path, scaled by denoising steps; None if no figure applies."""
    for fig in gpu_figures()["figures"].values():
        a = fig["applies_to"]
        if gen.get("pipeline_id") in a["pipeline_id"] and gen.get("height") == a["height"] and gen.get("width") == a["width"]:
            steps = gen["steps"] * (strength if strength is not None else 1.0)
            return fig["seconds_per_image"][path] * steps / fig["steps"]
    return None


def estimate(stem: str, params: dict[str, Any]) -> dict[str, Any]:
    """Requested and shared image counts and GPU-hours (default and compiled path) of a notebook run."""
    reqs = plan(stem, params)
    union = union_images(reqs)
    groups = {g: next(r for r in reqs if r.group == g) for g in union}
    hours: dict[str, float | None] = {}
    for path in ("default", "compiled"):
        per = [seconds_per_image(_generator(r.models), path, r.strength) for r in groups.values()]
        hours[path] = None if any(s is None for s in per) else sum(s * union[g] for s, g in zip(per, union)) / 3600
    return {"notebook": stem, "requests": reqs, "requested_images": sum(r.images for r in reqs),
            "images": sum(union.values()), "sets": len(union), "gpu_hours": hours,
            "generators": sorted({r.models for r in reqs})}


def format_estimate(est: dict[str, Any], profile: str, source: str) -> str:
    """The printed estimate: one row per request, totals, GPU-hours labelled as published figures."""
    stem = est["notebook"]
    lines = [f"{stem} under the {profile} profile ({source})"]
    if not est["requests"]:
        return "\n".join(lines + [f"  no images on GPUs: {NO_GPU_GENERATION.get(stem, 'no sets planned')}"])
    for m in est["generators"]:
        g = _generator(m)
        lines.append(f"  generator ({m} profile): {g['pipeline_id']} @ {g.get('revision') or '-'}, {g.get('scheduler')} "
                     f"{g['steps']} steps, {g['height']}x{g['width']}, guidance {g.get('guidance_scale')}, {g.get('dtype')}")
    lines.append(f"  {'cells':46s} {'dataset':16s} {'classes':>7s} {'prompts':>8s} {'seeds':>6s} {'per class':>9s} {'images':>12s}")
    rows: dict[tuple, list[SetRequest]] = defaultdict(list)  # one row per request that differs only in its seed
    for r in est["requests"]:
        rows[(r.purpose, r.dataset, r.prompts, r.le_sentences, r.per_class, r.strength)].append(r)
    for (purpose, dataset, prompts, L, per_class, _), rs in rows.items():
        kind = "basic" if prompts == "basic" else f"LE x{L}"
        seeds = ",".join(str(r.seed) for r in rs)
        lines.append(f"  {purpose[:46]:46s} {str(dataset)[:16]:16s} {rs[0].classes:7d} {kind:>8s} {seeds:>6s} {per_class:9,d} "
                     f"{sum(r.images for r in rs):12,d}")
    lines.append(f"  images to generate: {est['images']:,} in {est['sets']} sets (the cells request {est['requested_images']:,}; "
                 "images shared between cells are made once)")
    figs = gpu_figures()
    h = est["gpu_hours"]
    if h["default"] is None:
        lines.append("  GPU-hours: no published figure for this generator and size (the figures are for SD 1.5 at 512 px)")
    else:
        lines.append(f"  GPU-hours from published figures, not measured here ({figs['label']}), scaled by denoising steps:")
        lines.append(f"    out-of-the-box diffusers: {h['default']:,.0f} A100-hours; compiled + channels-last: {h['compiled']:,.0f} A100-hours")
    lines.append(f"  not included: {figs['not_included']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ job files
def count_jobs(jobs: Sequence[Any]) -> int:
    """Distinct images over ``jobs`` (by render key and image key, as the engine's store shares them)."""
    seen = set()
    for job in jobs:
        rk = job.replace(weights=job.weights or "unresolved").render_key
        seen.update((rk, u.image_key) for u in job.units())
    return len(seen)


def write_jobs(stem: str, params: dict[str, Any], out_dir: str | Path, device: str = "cuda") -> list[Path]:
    """One ``GenerationJob`` JSON per shared set (dataset, prompt kind, seed) in ``out_dir``, and
    ``jobs.txt`` (their paths, one per line, for a Slurm array). The jobs are the notebook's own
    (``zero_shot.pool_job`` over the toolkit's prompts and generator fields); run this on the kind
    of node the notebook will run on: T5 samples sentences on ``device``, and another device's
    sentences would make other sets."""
    from .toolkit import load_toolkit
    from .utils import atomic_write_json, atomic_write_text
    from .zero_shot import basic_prompts, le_prompts, pool_job

    reqs = plan(stem, params)
    out = Path(out_dir)
    groups: dict[tuple, list[SetRequest]] = defaultdict(list)
    for r in reqs:
        groups[r.group].append(r)
    kits: dict[str, Any] = {}
    paths = []
    for i, (key, rs) in enumerate(groups.items()):
        r0 = rs[0]
        check(r0.strength is None, "write_jobs does not write real-guidance jobs (they need the real shots)")
        tk = kits.get(r0.models) or kits.setdefault(r0.models, load_toolkit(r0.models, device=device, generator=False,
                                                                               clip=(None, None, None)))
        splits, spec = tk.splits(r0.dataset), tk.prompt_spec(r0.dataset)
        prompts = le_prompts(splits, spec, r0.le_sentences, r0.seed, tk.enhancer) if r0.prompts == "le" else basic_prompts(splits, spec)
        jobs = [pool_job(list(splits.classnames), prompts, r.per_class, tk.gen, r.seed) for r in rs]
        job = max(jobs, key=lambda j: j.images_per_prompt)
        name = f"{i:03d}_{Path(str(r0.dataset)).name}_{r0.prompts}_seed{r0.seed}.json"
        paths.append(atomic_write_json(out / name, job.to_dict()))
    atomic_write_text(out / "jobs.txt", "".join(f"{p.resolve()}\n" for p in paths))
    return paths
