"""Generation jobs: a frozen description of a synthetic set, its key and its image list.

A :class:`GenerationJob` is data: label space, prompts (a template or explicit sentences per
class), images per prompt, seed, the generator (``pipeline_id`` + ``revision`` + ``weights``,
the content identity of its weights), scheduler, steps, guidance, size, the fixed micro-batch
shape, and, for real guidance (RG), reference images + strength. The engine
(:mod:`synthrec_core.generation`) turns it into a set on disk.

- **Per-image seeds that do not depend on the set.** Image ``(class, reference, prompt, i)``
  gets the seed ``hash(seed, class, reference sha256, prompt text, i)``: not its position in
  the set and not the set's size. A job with more images per prompt, more sentences or more
  references therefore *contains* the images of a smaller one (same pixels, see the engine's
  fixed micro-batch shape), and any image can be regenerated alone.
- **Content-addressed.** :meth:`GenerationJob.cache_key` hashes every field that changes an
  image (reference images by their sha256, the generator by ``weights``) and none that does not
  (``batch_size``, ``workers``, ``device``, ``output_dir``).
- ``weights`` is filled by :meth:`GenerationJob.resolved`: the sha256 of a local pipeline
  folder's files, the commit of a hub snapshot, or the tensors of a pipeline object; so a
  rebuilt folder or an updated snapshot under the same revision never serves a stale set.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .config import Config, ConfigError, check, check_choice
from .schedulers import SCHEDULERS
from .sets import class_dirname
from .utils import file_sha256, stable_hash

__all__ = ["GenerationJob", "ImageUnit", "SCHEDULERS", "DTYPES", "image_seed", "reference_hash"]

DTYPES = ("float32", "float16", "bfloat16")


def _as_tuple(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return tuple(_as_tuple(v) for v in x)
    return x


def image_seed(seed: int, classname: str | None, reference_sha256: str | None, prompt: str | None, index: int) -> int:
    """The seed of one image: a hash of what the image *is*, not of where it sits in a set
    (class and prompt are None for a job with ``shared_noise``)."""
    return int(stable_hash(["image", seed, classname, reference_sha256, prompt, index], length=16), 16) & (2**63 - 1)


_REF_HASHES: dict[tuple[str, int, int], str] = {}


def reference_hash(path: str) -> str:
    """sha256 of a reference image's bytes (memoised by path, mtime and size)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"reference image {path!r} does not exist")
    st = p.stat()
    k = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if k not in _REF_HASHES:
        _REF_HASHES[k] = file_sha256(p)
    return _REF_HASHES[k]


def _positive_int(job: Any, name: str) -> None:
    v = getattr(job, name)
    check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an integer >= 1")


@dataclass(frozen=True)
class GenerationJob(Config):
    """Everything that defines a synthetic set, plus how to run it (batch size, workers, place).

    ``sentences`` (one tuple of full prompts per class, e.g. from language enhancement)
    overrides ``template`` (``{}`` is the class name). With ``references`` (one tuple of image
    paths per class) the job is real guidance: img2img from each reference at ``strength``;
    each reference then gets ``images_per_prompt`` images per prompt.
    """

    classnames: tuple[str, ...]
    pipeline_id: str
    revision: str | None = None
    weights: str | None = None  # content identity of the generator's weights (see resolved())
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
    # True: image i of every class and prompt starts from the same noise (seed from the index
    # alone), for comparing prompts; False (training sets): every image has its own noise
    shared_noise: bool = False
    dtype: str = "float32"
    # torch.compile of the UNet (GPUs; opt-in): compiled kernels round differently, so a compiled
    # set is another set; left out of the keys when False, so uncompiled keys never change
    compile: bool = False
    # every pipeline call runs on exactly this many images (the last call is padded), so every
    # kernel always sees the same shapes and an image never depends on its batch or its rank
    micro_batch: int = 32
    # not in the key: they do not change any image
    batch_size: int | None = None  # real images per pipeline call (<= micro_batch; None = micro_batch)
    workers: int | None = None  # CPU: parallel single-threaded pipeline copies (None = CPU cores)
    device: str = "cpu"
    output_dir: str | None = None  # the set's own directory; default cache_dir()/sets/<key>

    _not_in_key: ClassVar[tuple[str, ...]] = ("batch_size", "workers", "device", "output_dir")

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
            check(len(self.sentences) == len(self.classnames),
                  f"sentences has {len(self.sentences)} entries for {len(self.classnames)} classes")
            for c, s in zip(self.classnames, self.sentences):
                check(len(s) > 0, f"sentences for class {c!r} is empty")
                check(all(isinstance(x, str) and x.strip() for x in s), f"sentences for class {c!r} holds an empty prompt")
                check(len(set(s)) == len(s), f"sentences for class {c!r} repeat a prompt; de-duplicate them")
        for name in ("images_per_prompt", "steps", "height", "width", "micro_batch"):
            _positive_int(self, name)
        for name in ("batch_size", "workers"):
            if getattr(self, name) is not None:
                _positive_int(self, name)
        check(self.height % 8 == 0 and self.width % 8 == 0, f"height x width = {self.height}x{self.width} must be multiples of 8")
        check(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0, f"seed={self.seed!r} must be an integer >= 0")
        check(isinstance(self.shared_noise, bool), f"shared_noise={self.shared_noise!r} must be true or false")
        check(isinstance(self.compile, bool), f"compile={self.compile!r} must be true or false")
        check(isinstance(self.guidance_scale, (int, float)) and self.guidance_scale >= 0,
              f"guidance_scale={self.guidance_scale!r} must be >= 0")
        if self.scheduler is not None:
            check_choice("scheduler", self.scheduler, SCHEDULERS)
        check_choice("dtype", self.dtype, DTYPES)
        if self.references is None:
            check(self.strength is None, f"strength={self.strength!r} is set but no references are given")
        else:
            check(len(self.references) == len(self.classnames),
                  f"references has {len(self.references)} entries for {len(self.classnames)} classes")
            for c, refs in zip(self.classnames, self.references):
                check(len(refs) > 0, f"references for class {c!r} is empty")
            check(isinstance(self.strength, (int, float)) and not isinstance(self.strength, bool) and 0 < self.strength <= 1,
                  f"strength={self.strength!r} must be in (0, 1] for real guidance")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "GenerationJob":
        """Read a job from a JSON file (a set's ``job.json`` works too: its ``set_key`` is checked)."""
        try:
            values = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"job file {str(path)!r} does not exist") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"job file {str(path)!r} is not valid JSON: {e}") from None
        check(isinstance(values, dict), f"job file {str(path)!r} must hold a JSON object of GenerationJob fields")
        key = values.pop("set_key", None)
        job = cls.from_dict(values)
        if key is not None and job.weights is not None and key != job.set_key:
            raise ConfigError(f"{path}: set_key {key!r} does not match the job's fields (key {job.set_key!r})")
        return job

    # -- identity --------------------------------------------------------------------
    def resolved(self, pipeline: Any = None) -> "GenerationJob":
        """This job with ``weights`` filled in (unchanged if already set).

        The identity comes from where the weights are: a registered generator name or a local
        folder hashes its files, a hub id uses its cached snapshot's commit, and a pipeline
        object with none of those hashes its tensors. A path that does not exist raises
        :class:`ConfigError` ("folder not found"), before any model is loaded.
        """
        if self.weights is not None:
            return self
        from .models import generator_identity

        return self.replace(weights=generator_identity(self.pipeline_id, self.revision, pipeline))

    def cache_key(self, length: int = 16) -> str:
        """Hash of all fields but batch size, workers, device and output dir; references by content."""
        if self.weights is None:
            raise ConfigError("the job's generator weights are not resolved; call job.resolved(pipeline) first")
        payload = {k: v for k, v in self.to_dict().items() if k not in self._not_in_key}
        if not self.compile:
            payload.pop("compile")
        if self.references is not None:
            payload["references"] = [[reference_hash(p) for p in refs] for refs in self.references]
        payload["__class__"] = type(self).__name__
        return stable_hash(payload, length=length)

    @functools.cached_property
    def set_key(self) -> str:
        """The set's key (computed once per job object)."""
        return self.cache_key()

    @property
    def render_key(self) -> str:
        """Hash of the settings an image's pixels depend on besides its own seed and prompt
        (generator, sampler, size, guidance, strength, precision, micro-batch shape): images
        with equal render keys, seeds and prompts are identical, whatever set they are in."""
        fields = ("pipeline_id", "revision", "weights", "scheduler", "steps", "guidance_scale", "height", "width",
                  "negative_prompt", "strength", "dtype", "micro_batch")
        extra = {"compile": True} if self.compile else {}
        return stable_hash({k: getattr(self, k) for k in fields} | {"kind": "img2img" if self.references else "txt2img"} | extra)

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
        out = []
        for c, name in enumerate(self.classnames):
            refs = self.references[c] if self.references is not None else (None,)
            for r, ref in enumerate(refs):
                sha = reference_hash(ref) if ref is not None else None
                for p, prompt in enumerate(self.prompts(c)):
                    for i in range(self.images_per_prompt):
                        stem = (f"r{r:03d}_" if ref is not None else "") + f"p{p:04d}_i{i:03d}"
                        out.append(ImageUnit(id=f"{class_dirname(name)}/{stem}", class_index=c, classname=name,
                                             prompt_index=p, prompt=prompt, image_index=i,
                                             seed=image_seed(self.seed, None if self.shared_noise else name, sha,
                                                             None if self.shared_noise else prompt, i),
                                             reference_index=r if ref is not None else None, reference=ref,
                                             reference_sha256=sha))
        return out

    def __len__(self) -> int:
        n_refs = [len(r) for r in self.references] if self.references is not None else [1] * len(self.classnames)
        return sum(n * len(self.prompts(c)) * self.images_per_prompt for c, n in enumerate(n_refs))


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
        return f"images/{self.id}.png"

    @property
    def image_key(self) -> str:
        """What the image is within a render key: seed, prompt and reference."""
        return stable_hash([self.seed, self.prompt, self.reference_sha256], length=24)
