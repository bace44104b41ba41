"""Generation jobs: a frozen description of a synthetic set, and the engine that makes it.

A :class:`GenerationJob` is data: label space, prompts (a template or explicit sentences per
class), images per prompt, seed, pipeline id + revision, scheduler, steps, guidance, size and,
for real guidance (RG), reference images + strength. :func:`generate` turns it into a set on
disk (layout in ``sets``) with these guarantees:

- **Per-image seeds.** Image ``(class, reference, prompt, index)`` gets the seed
  ``hash(job key, class, reference index, prompt index, image index)``, fed to the pipeline as
  its own CPU ``torch.Generator``. With ``kernel_chunk`` (default 4) the batched layers run on
  fixed-size chunks (:func:`batch_invariant_kernels`), so an image does not depend on the
  batch size, on the other images of its batch, or on how the work is split across ranks.
- **Resumable and atomic.** Every PNG is written to a temp file and renamed; a restart skips
  images whose PNG exists and decodes, regenerates the rest and rebuilds the manifest. The
  ``COMPLETE`` marker is written last, only when every image exists. ``run.json`` records the
  first run's torch CPU thread count, and later runs on CPU use it too (kernels split work by
  thread count, which changes rounding); it also records torch/diffusers versions.
- **Distributed.** Under ``torchrun`` each rank takes every ``world``-th image of the fixed
  image list; rank 0 shows progress, then, after a barrier, writes manifest, card and marker.
- **Content-addressed.** The set key hashes every field that changes images (the reference
  images by their sha256) and none that does not (``batch_size``, ``device``, ``output_dir``).

Run as a module for ``torchrun``: ``python -m synthrec_core.generation --job job.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Sequence

from .config import Config, ConfigError, check, check_choice
from .models import SCHEDULERS  # scheduler names a job may ask for (built by models.make_scheduler)
from .sets import (
    COMPLETE_FILE,
    IMAGES_DIR,
    JOB_FILE,
    RUN_FILE,
    SetMismatchError,
    SyntheticSet,
    class_dirname,
    write_dataset_card,
    write_manifest,
)
from .utils import atomic_write_bytes, atomic_write_json, atomic_write_text, file_sha256, stable_hash

__all__ = [
    "GenerationJob",
    "ImageUnit",
    "GenerationError",
    "generate",
    "batch_invariant_kernels",
    "SCHEDULERS",
    "set_scheduler",
    "main",
]

DTYPES = ("float32", "float16", "bfloat16")


class GenerationError(RuntimeError):
    """Generation could not finish (e.g. disk full, permission denied); completed images are kept."""


def _as_tuple(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return tuple(_as_tuple(v) for v in x)
    return x


@dataclass(frozen=True)
class GenerationJob(Config):
    """Everything that defines a synthetic set, plus how to run it (batch size, device, place).

    ``sentences`` (one tuple of full prompts per class, e.g. from language enhancement)
    overrides ``template``. With ``references`` (one tuple of image paths per class) the
    job is real guidance: img2img from each reference at ``strength``; then each reference
    gets ``images_per_prompt`` images per prompt.
    """

    classnames: tuple[str, ...]
    pipeline_id: str
    revision: str | None = None
    template: str = "a photo of a {}."
    sentences: tuple[tuple[str, ...], ...] | None = None
    images_per_prompt: int = 1
    seed: int = 0
    scheduler: str | None = None  # None: the pipeline's own scheduler
    steps: int = 25
    guidance_scale: float = 3.0  # the paper's GLIDE value
    height: int = 32
    width: int = 32
    negative_prompt: str | None = None
    references: tuple[tuple[str, ...], ...] | None = None  # RG: per-class reference image paths
    strength: float | None = None  # RG: img2img strength = t*/T
    dtype: str = "float32"
    # batched layers run on fixed chunks of this many samples so that an image does not depend
    # on batch size or rank split (see batch_invariant_kernels); None = plain batched kernels
    # (faster on GPUs, but images then differ by rounding across batch sizes)
    kernel_chunk: int | None = 4
    # not in the key: they do not change any image
    batch_size: int = 8
    device: str = "cpu"
    output_dir: str | None = None  # the set's own directory; default cache_dir()/sets/<key>

    _not_in_key: ClassVar[tuple[str, ...]] = ("batch_size", "device", "output_dir")

    def __post_init__(self) -> None:
        for name in ("classnames", "sentences", "references"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        if self.output_dir is not None:
            object.__setattr__(self, "output_dir", str(self.output_dir))
        super().__post_init__()

    def validate(self) -> None:
        check(isinstance(self.classnames, tuple) and len(self.classnames) > 0, "classnames is empty: give at least one class")
        for c in self.classnames:
            check(isinstance(c, str) and c.strip() != "", f"class name {c!r} must be a non-empty string")
        dup = sorted({c for c in self.classnames if self.classnames.count(c) > 1})
        check(not dup, f"duplicate class names {dup}")
        dirs = [class_dirname(c) for c in self.classnames]
        clash = sorted({c for c, d in zip(self.classnames, dirs) if dirs.count(d) > 1})
        check(not clash, f"class names {clash} map to the same folder name; rename them")
        check(isinstance(self.pipeline_id, str) and self.pipeline_id != "", f"pipeline_id={self.pipeline_id!r} is empty")
        if self.sentences is None:
            check(isinstance(self.template, str) and "{}" in self.template, f"template={self.template!r} has no '{{}}' for the class name")
        else:
            check(
                len(self.sentences) == len(self.classnames),
                f"sentences has {len(self.sentences)} entries for {len(self.classnames)} classes",
            )
            for c, s in zip(self.classnames, self.sentences):
                check(len(s) > 0, f"sentences for class {c!r} is empty")
                check(all(isinstance(x, str) and x.strip() for x in s), f"sentences for class {c!r} holds an empty prompt")
        check(
            self.kernel_chunk is None or (isinstance(self.kernel_chunk, int) and self.kernel_chunk >= 1),
            f"kernel_chunk={self.kernel_chunk!r} must be None or an integer >= 1",
        )
        for name in ("images_per_prompt", "steps", "height", "width", "batch_size"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an integer >= 1")
        check(self.height % 8 == 0 and self.width % 8 == 0, f"height x width = {self.height}x{self.width} must be multiples of 8")
        check(isinstance(self.seed, int) and self.seed >= 0, f"seed={self.seed!r} must be an integer >= 0")
        check(
            isinstance(self.guidance_scale, (int, float)) and self.guidance_scale >= 0,
            f"guidance_scale={self.guidance_scale!r} must be >= 0",
        )
        if self.scheduler is not None:
            check_choice("scheduler", self.scheduler, SCHEDULERS)
        check_choice("dtype", self.dtype, DTYPES)
        if self.references is None:
            check(self.strength is None, f"strength={self.strength!r} is set but no references are given")
        else:
            check(
                len(self.references) == len(self.classnames),
                f"references has {len(self.references)} entries for {len(self.classnames)} classes",
            )
            for c, refs in zip(self.classnames, self.references):
                check(len(refs) > 0, f"references for class {c!r} is empty")
            check(
                isinstance(self.strength, (int, float)) and 0 < self.strength <= 1,
                f"strength={self.strength!r} must be in (0, 1] for real guidance",
            )

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "GenerationJob":
        """Read a job from a JSON file (a set's ``job.json`` works too: its ``set_key`` is checked)."""
        values = json.loads(Path(path).read_text())
        key = values.pop("set_key", None)
        job = cls.from_dict(values)
        if key is not None and key != job.set_key:
            raise ConfigError(f"{path}: set_key {key!r} does not match the job's fields (key {job.set_key!r})")
        return job

    # -- identity --------------------------------------------------------------------
    def cache_key(self, length: int = 16) -> str:
        """Hash of all fields but batch size, device and output dir; references by content."""
        payload = {k: v for k, v in self.to_dict().items() if k not in self._not_in_key}
        if self.references is not None:
            payload["references"] = [[_reference_hash(p) for p in refs] for refs in self.references]
        payload["__class__"] = type(self).__name__
        return stable_hash(payload, length=length)

    @functools.cached_property
    def set_key(self) -> str:
        """The set's key (computed once per job object)."""
        return self.cache_key()

    def set_dir(self) -> Path:
        """Where the set lives: ``output_dir``, or ``cache_dir()/sets/<set_key>``."""
        if self.output_dir is not None:
            return Path(self.output_dir)
        from .paths import cache_dir

        return cache_dir() / "sets" / self.set_key

    def prompts(self, class_index: int) -> tuple[str, ...]:
        """The prompts of one class."""
        if self.sentences is not None:
            return self.sentences[class_index]
        return (self.template.replace("{}", self.classnames[class_index]),)

    def units(self) -> list["ImageUnit"]:
        """Every image of the set, in a fixed order (class, reference, prompt, index)."""
        key = self.set_key
        refs_hashes = (
            [[_reference_hash(p) for p in refs] for refs in self.references] if self.references is not None else None
        )
        out = []
        for c, name in enumerate(self.classnames):
            refs = self.references[c] if self.references is not None else (None,)
            for r, ref in enumerate(refs):
                for p, prompt in enumerate(self.prompts(c)):
                    for i in range(self.images_per_prompt):
                        seed = int(stable_hash([key, name, r, p, i], length=16), 16) & (2**63 - 1)
                        stem = (f"r{r:03d}_" if ref is not None else "") + f"p{p:04d}_i{i:03d}"
                        out.append(
                            ImageUnit(
                                id=f"{class_dirname(name)}/{stem}",
                                class_index=c,
                                classname=name,
                                prompt_index=p,
                                prompt=prompt,
                                image_index=i,
                                seed=seed,
                                reference_index=r if ref is not None else None,
                                reference=ref,
                                reference_sha256=refs_hashes[c][r] if refs_hashes is not None else None,
                            )
                        )
        return out

    def __len__(self) -> int:
        n_refs = [len(r) for r in self.references] if self.references is not None else [1] * len(self.classnames)
        return sum(n * len(self.prompts(c)) * self.images_per_prompt for c, n in enumerate(n_refs))


_REF_HASHES: dict[tuple[str, float, int], str] = {}


def _reference_hash(path: str) -> str:
    """sha256 of a reference image's bytes (memoised by path, mtime and size)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"reference image {path!r} does not exist")
    st = p.stat()
    k = (str(p.resolve()), st.st_mtime, st.st_size)
    if k not in _REF_HASHES:
        _REF_HASHES[k] = file_sha256(p)
    return _REF_HASHES[k]


@dataclass(frozen=True)
class ImageUnit:
    """One image to make: where it sits in the set and the seed that makes it.

    ``id`` is ``<class folder>/<stem>`` (stem ``p0003_i007``, or ``r001_p0003_i007`` with a
    reference): unique in the set, stable, and the image's path is ``images/<id>.png``.
    """

    id: str
    class_index: int
    classname: str
    prompt_index: int
    prompt: str
    image_index: int
    seed: int
    reference_index: int | None = None
    reference: str | None = None
    reference_sha256: str | None = None

    @property
    def relpath(self) -> str:
        return f"{IMAGES_DIR}/{self.id}.png"


# -- pipelines ------------------------------------------------------------------------
def set_scheduler(pipe: Any, name: str | None) -> Any:
    """Swap the pipeline's scheduler for ``name`` (one of :data:`SCHEDULERS`), keeping its config."""
    if name is None:
        return pipe
    from .models import make_scheduler

    check_choice("scheduler", name, SCHEDULERS)
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe


def _load_pipeline(job: GenerationJob) -> Any:
    """Load the job's pipeline (and scheduler) through ``models.load_generator``, the one loading place."""
    import torch

    from .models import load_generator

    pipe = load_generator(
        job.pipeline_id,
        job.revision,
        img2img=job.references is not None,
        device=job.device,
        dtype=getattr(torch, job.dtype),
        scheduler=job.scheduler,
    )
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe


# -- batch invariance ------------------------------------------------------------------
def _unbatched(module: Any, x: Any) -> bool:
    """True if dim 0 of ``x`` is not a batch of independent rows for ``module``."""
    import torch

    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return True
    if isinstance(module, torch.nn.Conv1d):
        return x.dim() != 3
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        return x.dim() != 4
    if isinstance(module, torch.nn.LayerNorm):
        return x.dim() <= len(module.normalized_shape)
    return False


@contextlib.contextmanager
def batch_invariant_kernels(chunk: int = 4) -> Iterator[None]:
    """Make a sample's result independent of its batch (process-wide; not thread-safe).

    Convolution, matmul and normalisation kernels choose blockings and code paths by tensor
    shape and memory layout, so image *i* of a batch of 16 differs from the same image made in
    a batch of 5 by ~1e-7, which flips a few 8-bit pixels (measured: 7 of 16 tiny-SD images at
    64 px; 1 of 16 MiniGen images). Inside this context the forward of ``Conv1d/Conv2d/
    ConvTranspose2d``, ``Linear``, ``GroupNorm``, ``LayerNorm`` and
    ``scaled_dot_product_attention`` runs on contiguous chunks of exactly ``chunk`` samples
    (the last one zero-padded), so every kernel always sees the same shapes; elementwise work
    stays batched. Measured: bit-identical PNGs at batch sizes 1, 5 and 16 on tiny SD and
    MiniGen, at plain batched speed for batches >= 16 (``benchmarks/batching.py``).
    """
    import torch
    import torch.nn.functional as F

    def split(x: Any) -> tuple[list, int]:
        b = x.shape[0]
        n = -(-b // chunk) * chunk
        if n != b:
            x = torch.cat([x, x.new_zeros((n - b,) + tuple(x.shape[1:]))])
        return [x[i : i + chunk].contiguous() for i in range(0, n, chunk)], b

    def chunked(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def forward(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
            if _unbatched(self, x):
                return orig(self, x, *args, **kwargs)
            parts, b = split(x)
            return torch.cat([orig(self, p, *args, **kwargs) for p in parts])[:b]

        return forward

    orig_sdpa = F.scaled_dot_product_attention

    @functools.wraps(orig_sdpa)
    def sdpa(query: Any, key: Any, value: Any, attn_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
        b = query.shape[0]
        if query.dim() < 3 or key.shape[0] != b or value.shape[0] != b:
            return orig_sdpa(query, key, value, attn_mask, *args, **kwargs)
        (qs, _), (ks, _), (vs, _) = split(query), split(key), split(value)
        if isinstance(attn_mask, torch.Tensor) and attn_mask.dim() == query.dim() and attn_mask.shape[0] == b:
            ms = split(attn_mask)[0]
        else:
            ms = [attn_mask] * len(qs)
        return torch.cat([orig_sdpa(q, k, v, m, *args, **kwargs) for q, k, v, m in zip(qs, ks, vs, ms)])[:b]

    classes = [torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear, torch.nn.GroupNorm, torch.nn.LayerNorm]
    saved = [(cls, cls.__dict__["forward"]) for cls in classes]
    try:
        for cls, fwd in saved:
            cls.forward = chunked(fwd)
        F.scaled_dot_product_attention = sdpa
        yield
    finally:
        for cls, fwd in saved:
            cls.forward = fwd
        F.scaled_dot_product_attention = orig_sdpa


# -- distributed helpers --------------------------------------------------------------
def _dist() -> tuple[int, int, Any]:
    """(rank, world size, torch.distributed or None); joins a torchrun group when launched by one."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1, None
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), dist
    return 0, 1, None


# -- the engine -----------------------------------------------------------------------
def _image_ok(path: Path) -> bool:
    """True if ``path`` is a complete, decodable image."""
    if not path.exists():
        return False
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def _to_pil(images: Any) -> list:
    from PIL import Image

    if isinstance(images, list) and images and isinstance(images[0], Image.Image):
        return images
    import numpy as np

    arr = np.asarray(images)
    arr = (np.clip(arr, 0, 1) * 255).round().astype("uint8") if arr.dtype != np.uint8 else arr
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arr]


def _png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _write_image(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        why = {errno.ENOSPC: "disk full", errno.EACCES: "permission denied", errno.EROFS: "read-only file system"}.get(
            e.errno, e.strerror or str(e)
        )
        raise GenerationError(
            f"could not write {path}: {why} ({e.__class__.__name__}: {e}). Images written so far are kept; "
            "free space or fix permissions and run the same job again to resume."
        ) from e


def _open_reference(path: str, width: int, height: int) -> Any:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB").resize((width, height), Image.BICUBIC)


def _call_pipeline(pipe: Any, job: GenerationJob, batch: Sequence[ImageUnit]) -> list:
    import torch

    kwargs: dict[str, Any] = dict(
        prompt=[u.prompt for u in batch],
        num_inference_steps=job.steps,
        guidance_scale=job.guidance_scale,
        generator=[torch.Generator("cpu").manual_seed(u.seed) for u in batch],
        output_type="pil",
    )
    if job.negative_prompt is not None:
        kwargs["negative_prompt"] = [job.negative_prompt] * len(batch)
    if job.references is not None:
        kwargs["image"] = [_open_reference(u.reference, job.width, job.height) for u in batch]
        kwargs["strength"] = job.strength
    else:
        kwargs["height"], kwargs["width"] = job.height, job.width
    guard = batch_invariant_kernels(job.kernel_chunk) if job.kernel_chunk else contextlib.nullcontext()
    with torch.inference_mode(), guard:
        out = pipe(**kwargs)
    images = _to_pil(out.images if hasattr(out, "images") else out[0])
    if len(images) != len(batch):
        raise GenerationError(f"pipeline returned {len(images)} images for a batch of {len(batch)}")
    return images


def _manifest_row(job: GenerationJob, u: ImageUnit, sha: str) -> dict[str, Any]:
    return {
        "id": u.id,
        "path": u.relpath,
        "class": u.classname,
        "class_index": u.class_index,
        "prompt": u.prompt,
        "prompt_index": u.prompt_index,
        "image_index": u.image_index,
        "seed": u.seed,
        "pipeline_id": job.pipeline_id,
        "revision": job.revision,
        "scheduler": job.scheduler,
        "steps": job.steps,
        "guidance_scale": job.guidance_scale,
        "height": job.height,
        "width": job.width,
        "negative_prompt": job.negative_prompt,
        "reference": u.reference_sha256,
        "reference_index": u.reference_index,
        "strength": job.strength,
        "set_key": job.set_key,
        "sha256": sha,
    }


def _claim_dir(job: GenerationJob, set_dir: Path) -> None:
    """Write ``job.json`` or check that the one there is this job's."""
    path = set_dir / JOB_FILE
    if path.exists():
        try:
            there = json.loads(path.read_text()).get("set_key")
        except json.JSONDecodeError:
            there = None
        if there != job.set_key:
            raise SetMismatchError(
                f"{set_dir} holds a different set (key {there!r}, this job's key is {job.set_key!r}); "
                "choose another output_dir or delete that one"
            )
        return
    nonempty = set_dir.exists() and any(set_dir.iterdir())
    if nonempty:
        raise SetMismatchError(f"{set_dir} is not empty and holds no {JOB_FILE}; refusing to write a set into it")
    payload = job.to_dict()
    for k in job._not_in_key:
        payload.pop(k)
    payload["set_key"] = job.set_key
    atomic_write_json(path, payload)


def _run_info(job: GenerationJob) -> dict[str, Any]:
    import diffusers
    import torch

    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "cpu_threads": torch.get_num_threads()}


def _claim_run(job: GenerationJob, set_dir: Path) -> dict[str, Any]:
    """Write ``run.json`` on the first run; later runs read it (and warn if the software changed)."""
    path = set_dir / RUN_FILE
    now = _run_info(job)
    if not path.exists():
        atomic_write_json(path, now)
        return now
    first = json.loads(path.read_text())
    changed = {k: (first.get(k), now[k]) for k in ("torch", "diffusers") if first.get(k) != now[k]}
    if changed:
        import warnings

        warnings.warn(f"resuming set {set_dir} with other software than it was started with {changed}; "
                      "new images may differ in rounding from an uninterrupted run", stacklevel=3)
    return first


@contextlib.contextmanager
def _cpu_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch CPU threads (kernels split work by thread count, which changes rounding)."""
    import torch

    old = torch.get_num_threads()
    if n and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def _clean_temps(set_dir: Path) -> None:
    """Remove temp files a killed run left behind (never complete images)."""
    for tmp in (set_dir / IMAGES_DIR).glob("*/.*.tmp"):
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def _sync(dist: Any, err: Exception | None) -> None:
    """A barrier that also spreads failure: if any rank failed, every rank raises."""
    if dist is not None:
        import torch

        flag = torch.tensor([0 if err is None else 1])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if err is None and flag.item():
            raise GenerationError("another rank failed (see its error); completed images are kept, run again to resume")
    if err is not None:
        raise err


def _attempt(fn: Callable[[], Any]) -> Exception | None:
    try:
        fn()
    except Exception as e:  # re-raised by _sync on this rank, reported to the others
        return e
    return None


def _make_images(job: GenerationJob, pipeline: Any, todo: Sequence[ImageUnit], set_dir: Path, world: int, show: bool) -> None:
    from tqdm.auto import tqdm

    own_scheduler = None
    if pipeline is None:
        pipeline = _load_pipeline(job)
    elif job.scheduler is not None:  # swap for this job only; the caller's pipeline is restored
        own_scheduler = pipeline.scheduler
        set_scheduler(pipeline, job.scheduler)
    bar = tqdm(total=len(todo) * world, desc=f"generate {job.set_key}", unit="img", disable=not show, dynamic_ncols=True)
    inner_bar = getattr(pipeline, "_progress_bar_config", None)
    if hasattr(pipeline, "set_progress_bar_config"):  # one bar per set, not one per pipeline call
        pipeline.set_progress_bar_config(disable=True)
    try:
        for start in range(0, len(todo), job.batch_size):
            batch = todo[start : start + job.batch_size]
            images = _call_pipeline(pipeline, job, batch)
            for u, img in zip(batch, images):
                _write_image(set_dir / u.relpath, _png_bytes(img))
            bar.update(len(batch) * world)
    finally:
        bar.close()
        if own_scheduler is not None:
            pipeline.scheduler = own_scheduler
        if hasattr(pipeline, "set_progress_bar_config"):
            if inner_bar is None:
                pipeline.__dict__.pop("_progress_bar_config", None)
            else:
                pipeline._progress_bar_config = inner_bar


def _finish(job: GenerationJob, units: Sequence[ImageUnit], s: SyntheticSet) -> None:
    missing = [u.relpath for u in units if not (s.root / u.relpath).exists()]
    if missing:
        raise GenerationError(f"{len(missing)} images missing after generation, e.g. {missing[:3]}")
    rows = [_manifest_row(job, u, file_sha256(s.root / u.relpath)) for u in units]
    try:
        write_manifest(s.root, rows)
        write_dataset_card(s.root, s.job, rows)
        atomic_write_text(s.root / COMPLETE_FILE, f"{len(rows)} images\n")
    except OSError as e:
        raise GenerationError(f"could not finish set {s.root}: {e}") from e


def generate(job: GenerationJob, pipeline: Any = None, *, progress: bool = True) -> SyntheticSet:
    """Make (or finish) the set ``job`` describes and return it.

    ``pipeline``: a diffusers-style pipeline object; if None it is loaded from
    ``job.pipeline_id`` / ``job.revision`` through ``models.load_generator``. A given pipeline
    runs with ``job.scheduler`` (if set) for this call only; its own scheduler is restored.
    Safe to call again after a crash; returns at once if the set is complete. Under
    ``torchrun`` every rank must call it with the same job; an error on one rank is raised
    on all of them (no rank is left waiting at a barrier).
    """
    rank, world, dist = _dist()
    set_dir = job.set_dir()
    s = SyntheticSet(set_dir)

    def claim() -> None:
        if rank == 0:
            set_dir.mkdir(parents=True, exist_ok=True)
            _claim_dir(job, set_dir)
            if not (set_dir / COMPLETE_FILE).exists():
                _claim_run(job, set_dir)

    _sync(dist, _attempt(claim))
    _sync(dist, _attempt(lambda: _claim_dir(job, set_dir)))  # every rank checks the key, none writes
    if s.is_complete:
        return s
    _sync(dist, _attempt(lambda: _clean_temps(set_dir)) if rank == 0 else None)

    units = job.units()
    todo = [u for u in units[rank::world] if not _image_ok(set_dir / u.relpath)]
    threads = json.loads((set_dir / RUN_FILE).read_text()).get("cpu_threads") if str(job.device).startswith("cpu") else None

    def make() -> None:
        with _cpu_threads(threads):  # the thread count of the set's first run, so a resume matches it
            _make_images(job, pipeline, todo, set_dir, world, progress and rank == 0)

    err = _attempt(make) if todo else None
    _sync(dist, err)
    _sync(dist, _attempt(lambda: _finish(job, units, s)) if rank == 0 else None)
    return s


# -- command line (torchrun entry) ----------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m synthrec_core.generation --job job.json [--batch-size N] [--output-dir D]``."""
    ap = argparse.ArgumentParser(prog="python -m synthrec_core.generation", description=__doc__.splitlines()[0])
    ap.add_argument("--job", required=True, help="JSON file with GenerationJob fields")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--output-dir", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (a resumed set keeps its first run's count)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    job = GenerationJob.from_json(args.job)
    overrides = {"batch_size": args.batch_size, "device": args.device, "output_dir": args.output_dir}
    job = job.replace(**{k: v for k, v in overrides.items() if v is not None})
    t0 = time.time()
    s = generate(job, progress=not args.no_progress)
    rank, _, dist = _dist()
    if rank == 0:
        print(f"set {job.set_key} complete at {s.root} ({len(job)} images, {time.time() - t0:.1f} s)", file=sys.stderr)
    if dist is not None:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
