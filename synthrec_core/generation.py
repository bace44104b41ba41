"""The generation engine: a :class:`~synthrec_core.jobs.GenerationJob` in, a set on disk out.

:func:`generate` makes (or finishes) the set a job describes (layout in :mod:`synthrec_core.sets`)
with these guarantees:

- **Invariant by construction.** Every pipeline call runs on exactly ``job.micro_batch``
  images (the last call of a run is padded with copies whose outputs are dropped), so every
  kernel always sees the same shapes; on CPU each call runs single-threaded (``workers``
  copies of the pipeline run side by side, each with its own scheduler). An image therefore
  does not depend on the batch size, on its neighbours, on the number of workers or ranks, or on
  being made after a resume. Each distinct prompt is encoded once per run, also at a fixed shape.
- **Shared images.** Images are also kept in a store keyed by what determines their pixels
  (``job.render_key`` + seed + prompt + reference): a set that contains an image made before,
  by any job, links it instead of generating it again.
- **Resumable and atomic.** Every PNG is written to a temp file and renamed; a restart skips
  images whose PNG exists and decodes, makes the rest and rebuilds the manifest. ``COMPLETE``
  is written last, only when every image exists. ``run.json`` records torch/diffusers versions.
- **Distributed.** Under ``torchrun`` each rank takes every ``world``-th image; rank 0 writes
  manifest, card and marker after a barrier; an error on any rank is raised on all of them.
- **Content-addressed.** The set key hashes every field that changes images, the generator by
  the content of its weights (``GenerationJob.resolved``).

The command line (``synthrec generate --job job.json``, also under ``torchrun``) is in
:mod:`synthrec_core.cli`.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import io
import json
import os
import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from .image_store import from_store, image_ok, image_store_dir, link, store_enabled, store_path
from .jobs import SCHEDULERS, GenerationJob, ImageUnit
from .prompt_embeds import PromptCache
from .sets import COMPLETE_FILE, IMAGES_DIR, JOB_FILE, RUN_FILE, SetMismatchError, SyntheticSet, write_dataset_card, write_manifest
from .utils import atomic_write_bytes, atomic_write_json, atomic_write_text, file_sha256

__all__ = ["GenerationJob", "ImageUnit", "GenerationError", "generate", "SCHEDULERS", "set_scheduler", "image_store_dir"]

#: what this process generated so far (for the book's cost table): images, seconds, sets started
STATS = {"images": 0, "seconds": 0.0, "sets": 0}
_STATS_LOCK = threading.Lock()


class GenerationError(RuntimeError):
    """Generation could not finish (e.g. disk full, permission denied); completed images are kept."""


def set_scheduler(pipe: Any, name: str | None) -> Any:
    """Swap the pipeline's scheduler for ``name`` (one of :data:`SCHEDULERS`), keeping its config."""
    if name is None:
        return pipe
    from .config import check_choice
    from .schedulers import make_scheduler

    check_choice("scheduler", name, SCHEDULERS)
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe


def _device(job: GenerationJob) -> str:
    """The job's device; plain "cuda" under torchrun means this rank's GPU (``cuda:LOCAL_RANK``)."""
    if str(job.device) == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return str(job.device)


def _load_pipeline(job: GenerationJob) -> Any:
    import torch

    from .models import load_generator

    return load_generator(job.pipeline_id, job.revision, img2img=job.references is not None, device=_device(job),
                          dtype=getattr(torch, job.dtype), scheduler=job.scheduler, compile=job.compile)


# -- one micro-batch ------------------------------------------------------------------------
def _open_reference(path: str, width: int, height: int) -> Any:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB").resize((width, height), Image.BICUBIC)
    except OSError as e:
        raise GenerationError(f"reference image {path!r} cannot be read: {e}") from e


def _to_pil(images: Any) -> list:
    from PIL import Image

    if isinstance(images, list) and images and isinstance(images[0], Image.Image):
        return images
    import numpy as np

    arr = np.asarray(images)
    arr = (np.clip(arr, 0, 1) * 255).round().astype("uint8") if arr.dtype != np.uint8 else arr
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arr]


def _call(pipe: Any, job: GenerationJob, units: Sequence[ImageUnit], cache: PromptCache) -> list:
    """Images for ``units`` from one pipeline call of exactly ``job.micro_batch`` images."""
    import torch

    padded = list(units) + [units[-1]] * (job.micro_batch - len(units))
    kwargs: dict[str, Any] = dict(num_inference_steps=job.steps, guidance_scale=job.guidance_scale,
                                  generator=[torch.Generator("cpu").manual_seed(u.seed) for u in padded], output_type="pil")
    kwargs.update(cache.kwargs([u.prompt for u in padded], guided=job.guidance_scale > 1))
    if cache.kind is None and job.negative_prompt is not None:
        kwargs["negative_prompt"] = [job.negative_prompt] * len(padded)
    if job.references is not None:
        kwargs["image"] = [_open_reference(u.reference, job.width, job.height) for u in padded]
        kwargs["strength"] = job.strength
    else:
        kwargs["height"], kwargs["width"] = job.height, job.width
    with torch.inference_mode():
        out = pipe(**kwargs)
    images = _to_pil(out.images if hasattr(out, "images") else out[0])
    if len(images) != len(padded):
        raise GenerationError(f"pipeline returned {len(images)} images for a micro-batch of {len(padded)}")
    return images[: len(units)]


def _write_image(job: Any, set_dir: Path, u: Any, img: Any) -> None:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    path = set_dir / u.relpath
    try:
        atomic_write_bytes(path, buf.getvalue())
        if store_enabled():
            store = store_path(job, u)
            if not store.exists():
                link(path, store)
    except OSError as e:
        why = {errno.ENOSPC: "disk full", errno.EACCES: "permission denied", errno.EROFS: "read-only file system"}.get(
            e.errno, e.strerror or str(e))
        raise GenerationError(f"could not write {path}: {why} ({e.__class__.__name__}: {e}). Images written so far are "
                              "kept; free space or fix permissions and run the same job again to resume.") from e


# -- bookkeeping ---------------------------------------------------------------------------
def _claim_dir(job: GenerationJob, set_dir: Path) -> None:
    """Write ``job.json`` or check that the one there is this job's."""
    path = set_dir / JOB_FILE
    if path.exists():
        try:
            there = json.loads(path.read_text()).get("set_key")
        except json.JSONDecodeError:
            there = None
        if there != job.set_key:
            raise SetMismatchError(f"{set_dir} holds a different set (key {there!r}, this job's key is {job.set_key!r}); "
                                   "choose another output_dir or delete that one")
        return
    if set_dir.exists() and any(set_dir.iterdir()):
        raise SetMismatchError(f"{set_dir} is not empty and holds no {JOB_FILE}; refusing to write a set into it")
    payload = {k: v for k, v in job.to_dict().items() if k not in job._not_in_key}
    payload["set_key"] = job.set_key
    atomic_write_json(path, payload)


def _claim_run(set_dir: Path) -> None:
    """Write ``run.json`` on the first run; later runs warn if the software changed."""
    import diffusers
    import torch

    path = set_dir / RUN_FILE
    now = {"torch": torch.__version__, "diffusers": diffusers.__version__, "cpu_intra_op_threads": 1}
    if not path.exists():
        atomic_write_json(path, now)
        return
    first = json.loads(path.read_text())
    changed = {k: (first.get(k), now[k]) for k in ("torch", "diffusers") if first.get(k) != now[k]}
    if changed:
        warnings.warn(f"resuming set {set_dir} with other software than it was started with {changed}; "
                      "new images may differ in rounding from an uninterrupted run", stacklevel=3)


def _clean_temps(set_dir: Path) -> None:
    """Remove temp files a killed run left behind (never complete images)."""
    for tmp in (set_dir / IMAGES_DIR).glob("*/.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _manifest_row(job: GenerationJob, u: ImageUnit, sha: str) -> dict[str, Any]:
    return {"id": u.id, "path": u.relpath, "class": u.classname, "class_index": u.class_index, "prompt": u.prompt,
            "prompt_index": u.prompt_index, "image_index": u.image_index, "seed": u.seed, "pipeline_id": job.pipeline_id,
            "revision": job.revision, "weights": job.weights, "scheduler": job.scheduler, "steps": job.steps,
            "guidance_scale": job.guidance_scale, "height": job.height, "width": job.width,
            "negative_prompt": job.negative_prompt, "dtype": job.dtype, "micro_batch": job.micro_batch,
            "reference": u.reference_sha256, "reference_index": u.reference_index, "strength": job.strength,
            "set_key": job.set_key, "sha256": sha}


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


# -- distributed helpers ------------------------------------------------------------------
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


def _attempt(fn: Any) -> Exception | None:
    try:
        fn()
    except Exception as e:  # re-raised by _sync on this rank, reported to the others
        return e
    return None


@contextlib.contextmanager
def _single_threaded(on_cpu: bool) -> Iterator[None]:
    """torch intra-op threads = 1 while generating on CPU (rounding must not depend on thread count)."""
    import torch

    old = torch.get_num_threads()
    if on_cpu and old != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


# -- the engine -----------------------------------------------------------------------------
def _worker_copy(pipe: Any) -> Any:
    """A pipeline sharing ``pipe``'s modules with its own scheduler (schedulers keep step state)."""
    clone = copy.copy(pipe)
    object.__setattr__(clone, "scheduler", copy.deepcopy(pipe.scheduler))
    return clone


def _n_workers(job: GenerationJob, n_calls: int, world: int) -> int:
    if not _device(job).startswith("cpu"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    want = job.workers if job.workers is not None else max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    return max(1, min(want, n_calls))


def _make_images(job: GenerationJob, pipe: Any, todo: Sequence[ImageUnit], set_dir: Path, world: int, show: bool) -> None:
    from .progress import progress

    from .models import img2img_pipeline, is_compiled

    own_scheduler = None
    if pipe is None:
        pipe = _load_pipeline(job)
    else:
        if is_compiled(pipe) != job.compile:
            raise GenerationError(f"the given pipeline is {'' if is_compiled(pipe) else 'not '}compiled but the job says "
                                  f"compile={job.compile}: compiled kernels round differently, so they make another set")
        if job.references is not None:  # real guidance: the img2img sibling over the same modules
            pipe = img2img_pipeline(pipe)
        if job.scheduler is not None:  # swap for this job only; the caller's pipeline is restored
            own_scheduler = pipe.scheduler
            set_scheduler(pipe, job.scheduler)
    bar_config = getattr(pipe, "_progress_bar_config", None)
    if hasattr(pipe, "set_progress_bar_config"):  # one report per set, not a bar per pipeline call
        pipe.set_progress_bar_config(disable=True)
    try:
        per_call = min(job.batch_size or job.micro_batch, job.micro_batch)
        calls = [todo[i : i + per_call] for i in range(0, len(todo), per_call)]
        workers = _n_workers(job, len(calls), world)
        bar = progress(len(todo) * world, f"generate set {job.set_key}", unit="img", disable=not show)
        t0 = time.perf_counter()
        with _single_threaded(_device(job).startswith("cpu")):
            cache = PromptCache(pipe, [u.prompt for u in todo], job, _device(job))
            pipes = [pipe] + [_worker_copy(pipe) for _ in range(workers - 1)]
            work: queue.Queue = queue.Queue()
            for c in calls:
                work.put(c)
            errors: list[BaseException] = []

            def run(p: Any) -> None:
                while not errors:
                    try:
                        batch = work.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        for u, img in zip(batch, _call(p, job, batch, cache)):
                            _write_image(job, set_dir, u, img)
                        bar.update(len(batch) * world)
                        with _STATS_LOCK:
                            STATS["images"] += len(batch)
                    except BaseException as e:  # noqa: BLE001 - re-raised below, in the caller's thread
                        errors.append(e)

            threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in pipes[1:]]
            for t in threads:
                t.start()
            run(pipes[0])
            for t in threads:
                t.join()
        bar.close()
        STATS["seconds"] += time.perf_counter() - t0
        STATS["sets"] += 1
        if errors:
            raise errors[0]
    finally:
        if own_scheduler is not None:
            pipe.scheduler = own_scheduler
        if hasattr(pipe, "set_progress_bar_config"):
            if bar_config is None:
                pipe.__dict__.pop("_progress_bar_config", None)
            else:
                pipe._progress_bar_config = bar_config


def generate(job: GenerationJob, pipeline: Any = None, *, progress: bool = True) -> SyntheticSet:
    """Make (or finish) the set ``job`` describes and return it.

    ``pipeline``: a diffusers-style pipeline object; if None it is loaded from
    ``job.pipeline_id`` / ``job.revision`` through ``models.load_generator``. A given pipeline
    runs with ``job.scheduler`` (if set) for this call only; its own scheduler is restored.
    Safe to call again after a crash; returns at once if the set is complete. Under
    ``torchrun`` every rank must call it with the same job; an error on one rank is raised on
    all of them (no rank is left waiting at a barrier).
    """
    job = job.resolved(pipeline)
    rank, world, dist = _dist()
    set_dir = job.set_dir()
    s = SyntheticSet(set_dir)

    def claim() -> None:
        if rank == 0:
            set_dir.mkdir(parents=True, exist_ok=True)
            _claim_dir(job, set_dir)
            if not (set_dir / COMPLETE_FILE).exists():
                _claim_run(set_dir)

    _sync(dist, _attempt(claim))
    _sync(dist, _attempt(lambda: _claim_dir(job, set_dir)))  # every rank checks the key, none writes
    if s.is_complete:
        return s
    _sync(dist, _attempt(lambda: _clean_temps(set_dir)) if rank == 0 else None)

    units = job.units()
    todo = [u for u in units[rank::world] if not image_ok(set_dir / u.relpath)]
    err = _attempt(lambda: todo.__setitem__(slice(None), from_store(job, set_dir, todo)))
    if err is None and todo:
        err = _attempt(lambda: _make_images(job, pipeline, todo, set_dir, world, progress and rank == 0))
    _sync(dist, err)
    _sync(dist, _attempt(lambda: _finish(job, units, s)) if rank == 0 else None)
    return s
