"""The mini world's foundation corpus ("web"): captioned 32x32 white-on-black images.

Built here from real assets that Debian ships, disjoint from every downstream dataset:

- ``digits`` / ``letters``: glyphs rendered from the installed font families, handwriting-like
  (style ``handwritten``) and text faces (style ``typed``), with stroke-width, affine and
  elastic augmentation, framed exactly like MNIST (20 px box, centre of mass centred);
- ``objects``: silhouettes, outlines and grayscale renders of openclipart / emoji objects
  (see :mod:`synthrec_core.mini.corpus_objects`).

``build_corpus(cfg)`` writes ``<cache>/mini/corpus-<cfg.cache_key()>/corpus.npz`` (arrays
``images`` uint8 [N,32,32], ``captions``, ``concept``, ``style``, ``source``, ``group``) and
``stats.json`` once; later calls return the cached path. Every image has its own seed derived
from (config seed, part, concept, style, index), so builds are deterministic and any subset can
be regenerated alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np
from ..progress import progress as _progress

from ..config import Config, check, check_choice
from ..paths import cache_dir
from ..utils import atomic_write_bytes, atomic_write_json, stable_hash
from .corpus_fonts import FontFace, discover_fonts
from .corpus_render import Augment, frame_like_mnist, ordered_map, render_glyph, set_stroke_width, stroke_width, warp
from .corpus_text import DIGIT_WORDS, digit_caption, letter_caption
from .presets import load_presets
from .seeding import seed_for

__all__ = [
    "CorpusConfig",
    "Corpus",
    "CORPUS_PRESETS",
    "corpus_preset",
    "build_corpus",
    "load_corpus",
    "corpus_dir",
    "corpus_hashes",
    "image_hashes",
    "check_disjoint",
    "transfer_check",
    "corpus_transfer",
]

PARTS = ("digits", "letters", "objects")
GLYPH_STYLES = ("handwritten", "typed")
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_RENDER_PX = 96  # font size of the high-resolution render (~4x the 20 px box)
#: bump when rendering code changes the pixels: cached corpora with another version are rebuilt
RENDER_VERSION = 2


@dataclasses.dataclass(frozen=True)
class CorpusConfig(Config):
    """What goes into the foundation corpus. The defaults are a tiny corpus for tests."""

    parts: tuple[str, ...] = ("digits", "letters")
    digit_images: int = 20  # images per digit, over both glyph styles
    letter_images: int = 2  # images per letter (52 letters: A-Z, a-z)
    handwritten_share: float = 0.6  # share of glyph images from handwriting-like fonts
    max_fonts_per_style: int = 0  # 0 = every usable face; >0 keeps the first N per style (tests)
    typed_variants: int = 3  # faces kept per typed family (regular, bold, italic ...)
    object_images: int = 0  # images per downstream object concept (objects part)
    other_object_images: int = 0  # images per other concrete noun (objects part)
    object_styles: tuple[str, ...] = ("silhouette", "outline", "grayscale")
    max_object_sources: int = 0  # 0 = all; >0 caps source files per concept (tests)
    procedural_garments: int = 60  # procedural drawings per Fashion-MNIST class (objects part)
    augment: bool = True
    size: int = 32
    seed: int = 0
    workers: int = 1  # processes used to render; does not change the result

    _not_in_key: ClassVar[tuple[str, ...]] = ("workers",)

    def validate(self) -> None:
        for name in ("parts", "object_styles"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check(len(self.parts) > 0, "parts=() is empty; choose from " + str(PARTS))
        for p in self.parts:
            check(p in PARTS, f"parts contains {p!r}; choose from {PARTS}")
        for s in self.object_styles:
            check(s in ("silhouette", "outline", "grayscale"), f"object_styles contains {s!r}")
        for name in ("digit_images", "letter_images", "object_images", "other_object_images",
                     "max_fonts_per_style", "max_object_sources", "procedural_garments"):
            check(getattr(self, name) >= 0, f"{name}={getattr(self, name)} must be >= 0")
        check(0.0 <= self.handwritten_share <= 1.0, f"handwritten_share={self.handwritten_share} not in [0, 1]")
        check(self.typed_variants >= 1, f"typed_variants={self.typed_variants} must be >= 1")
        check(self.size in (28, 32), f"size={self.size}; only 28 and 32 are supported")
        check(self.workers >= 1, f"workers={self.workers} must be >= 1")


#: named corpora (data: section ``corpus`` of ``synthrec_core/profiles/mini/training.yaml``; read-only):
#: ``tiny`` for tests, ``mini`` the mini profile's foundation corpus, ``typography`` its glyphs alone
CORPUS_PRESETS: Mapping[str, CorpusConfig] = load_presets("corpus", CorpusConfig)


def corpus_preset(name: str) -> CorpusConfig:
    """The preset config called ``name`` (see :data:`CORPUS_PRESETS`)."""
    check_choice("corpus preset", name, CORPUS_PRESETS)
    return CORPUS_PRESETS[name]


# --------------------------------------------------------------------------------------------
# jobs: one per image, fully described so that a worker can render it alone


@dataclasses.dataclass(frozen=True)
class _GlyphJob:
    group: str  # "digit" or "letter"
    char: str
    style: str
    index: int  # index of this image among (group, char, style)
    face: FontFace


def _faces_by_style(cfg: CorpusConfig, chars: str) -> dict[str, list[FontFace]]:
    faces = discover_fonts(required_chars=chars, variants_per_typed_family=cfg.typed_variants)
    out = {s: [f for f in faces if f.style == s] for s in GLYPH_STYLES}
    if cfg.max_fonts_per_style:
        out = {s: fs[: cfg.max_fonts_per_style] for s, fs in out.items()}
    return out


def _caps_only(face: FontFace) -> bool:
    """True when the face draws lower-case letters as capitals (e.g. Bebas Neue)."""
    diffs = []
    for lo in "aegr":
        a = frame_like_mnist(render_glyph(face.path, lo, 48)).astype(float)
        b = frame_like_mnist(render_glyph(face.path, lo.upper(), 48)).astype(float)
        diffs.append(np.abs(a - b).mean())
    return float(np.mean(diffs)) < 8.0


def _split_counts(total: int, share: float) -> dict[str, int]:
    hw = int(round(total * share))
    return {"handwritten": hw, "typed": total - hw}


def _glyph_jobs(cfg: CorpusConfig, part: str) -> tuple[list[_GlyphJob], list[FontFace]]:
    """The render jobs and font faces of the ``digits`` or ``letters`` part."""
    jobs: list[_GlyphJob] = []
    if part == "digits":
        faces = _faces_by_style(cfg, "0123456789")
        for style, n in _split_counts(cfg.digit_images, cfg.handwritten_share).items():
            fs = faces[style]
            if n and not fs:
                raise RuntimeError(f"no {style} fonts with digits are installed (see requirements/apt.txt)")
            for d in range(10):
                for j in range(n):
                    jobs.append(_GlyphJob("digit", str(d), style, j, fs[(j + 7 * d) % len(fs)]))
    else:
        faces = _faces_by_style(cfg, "".join(LETTERS))
        lower_ok = {s: [f for f in fs if not _caps_only(f)] for s, fs in faces.items()}
        for style, n in _split_counts(cfg.letter_images, cfg.handwritten_share).items():
            for k, ch in enumerate(LETTERS):
                fs = faces[style] if ch.isupper() else lower_ok[style]
                if n and not fs:
                    raise RuntimeError(f"no {style} fonts with letters are installed")
                for j in range(n):
                    jobs.append(_GlyphJob("letter", ch, style, j, fs[(j + 5 * k) % len(fs)]))
    return jobs, faces["handwritten"] + faces["typed"]


def _render_glyph_job(job: _GlyphJob, cfg: CorpusConfig) -> tuple[np.ndarray, str, str]:
    rng = seed_for(cfg.seed, job.group, job.char, job.style, job.index)
    aug = Augment() if cfg.augment else Augment.none()
    img = np.array(render_glyph(job.face.path, job.char, _RENDER_PX), dtype=np.float32)
    if img.size and cfg.augment and rng.random() < aug.stroke_prob:
        ys, xs = np.nonzero(img > 0.5)
        extent = max(np.ptp(ys), np.ptp(xs)) + 1 if len(ys) else 1
        target = rng.uniform(*aug.stroke) * extent
        img = set_stroke_width(img, target - stroke_width(img))
    if img.size and cfg.augment:
        img = warp(img, rng, aug)
    scale = rng.uniform(*aug.scale)
    shift = tuple(rng.uniform(-aug.translate_px, aug.translate_px, size=2)) if aug.translate_px else (0.0, 0.0)
    blur = rng.uniform(*aug.blur) if rng.random() < 0.5 else 0.0
    out = frame_like_mnist(img, cfg.size, scale, shift, blur, box=20.0, center="mass")
    if job.group == "digit":
        d = int(job.char)
        concept = DIGIT_WORDS[d]
        caption = digit_caption(rng, d, job.style, job.face.kind)
    else:
        concept = f"letter {job.char}"
        caption = letter_caption(rng, job.char, job.style, job.face.kind)
    return out, caption, concept


def _render_chunk(args: tuple[list[_GlyphJob], CorpusConfig]) -> list[tuple[np.ndarray, str, str]]:
    jobs, cfg = args
    return [_render_glyph_job(j, cfg) for j in jobs]


# --------------------------------------------------------------------------------------------
# building, loading


@dataclasses.dataclass
class Corpus:
    """A loaded foundation corpus: parallel arrays, one row per image."""

    images: np.ndarray  # uint8 [N, size, size], white foreground on black
    captions: np.ndarray  # str [N]
    concept: np.ndarray  # str [N], canonical concept ("seven", "letter a", "horse" ...)
    style: np.ndarray  # str [N] ("handwritten", "typed", "silhouette", "outline", "grayscale")
    source: np.ndarray  # str [N], font family or asset set (no author names)
    group: np.ndarray  # str [N] ("digit", "letter", "animal", "clothing", "object")
    path: Path | None = None
    stats: dict | None = None

    def __len__(self) -> int:
        return len(self.images)

    def select(self, mask: np.ndarray | None = None, **where: str | Iterable[str]) -> "Corpus":
        """Rows matching ``mask`` and every ``field=value`` (or ``field=[values]``) given."""
        keep = np.ones(len(self), bool) if mask is None else np.asarray(mask, bool)
        for name, value in where.items():
            col = getattr(self, name)
            vals = [value] if isinstance(value, str) else list(value)
            keep &= np.isin(col, vals)
        return Corpus(self.images[keep], self.captions[keep], self.concept[keep], self.style[keep],
                      self.source[keep], self.group[keep], self.path, self.stats)


def corpus_dir(cfg: CorpusConfig) -> Path:
    """``<cache>/mini/corpus-<cache_key>/`` for ``cfg`` (not created)."""
    return cache_dir() / "mini" / f"corpus-{cfg.cache_key()}"


_COLUMNS = ("images", "captions", "concept", "style", "source", "group")
#: config fields that change each part's images (a part is rebuilt only when these change)
_PART_FIELDS = {
    "digits": ("digit_images", "handwritten_share", "max_fonts_per_style", "typed_variants", "augment", "size", "seed"),
    "letters": ("letter_images", "handwritten_share", "max_fonts_per_style", "typed_variants", "augment", "size", "seed"),
    "objects": ("object_images", "other_object_images", "object_styles", "max_object_sources",
                "procedural_garments", "augment", "size", "seed"),
}


def _counts(*cols: np.ndarray) -> dict[str, int]:
    return dict(sorted(Counter("/".join(t) for t in zip(*cols)).items()))


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _render_glyph_part(jobs: list[_GlyphJob], cfg: CorpusConfig, progress: bool, desc: str) -> dict[str, np.ndarray]:
    chunk = 256
    chunks = [(jobs[i: i + chunk], cfg) for i in range(0, len(jobs), chunk)]
    bar = _progress(len(jobs), desc, "img", disable=not progress or not jobs)
    results = []
    for res in ordered_map(_render_chunk, chunks, cfg.workers):
        results.append(res)
        bar.update(len(res))
    bar.close()
    rows = [r for res in results for r in res]
    return {
        "images": np.stack([r[0] for r in rows]).astype(np.uint8) if rows else np.zeros((0, cfg.size, cfg.size), np.uint8),
        "captions": np.array([r[1] for r in rows], dtype=str),
        "concept": np.array([r[2] for r in rows], dtype=str),
        "style": np.array([j.style for j in jobs], dtype=str),
        "source": np.array([j.face.family for j in jobs], dtype=str),
        "group": np.array([j.group for j in jobs], dtype=str),
    }


def _build_part(cfg: CorpusConfig, part: str, force: bool, progress: bool) -> tuple[dict[str, np.ndarray], dict]:
    """One part's arrays and info, from its own cache when the part is unchanged."""
    t0 = time.time()
    if part in ("digits", "letters"):
        if (cfg.digit_images if part == "digits" else cfg.letter_images) == 0:
            return {}, {}
        jobs, faces = _glyph_jobs(cfg, part)
        assets: Any = [(f.family, f.style_name, f.path) for f in faces]
        info: dict[str, Any] = {"fonts": [f"{f.family} | {f.style_name} | {f.style} | {f.kind}" for f in faces]}
    else:
        from .corpus_objects import plan_objects

        plan = plan_objects(cfg, progress=progress)
        assets = plan.fingerprint()
        info = {"objects": plan.summary()}
    key = stable_hash({"part": part, "fields": {f: getattr(cfg, f) for f in _PART_FIELDS[part]},
                       "assets": assets, "render_version": RENDER_VERSION})
    path = cache_dir() / "mini" / "parts" / f"{part}-{key}.npz"
    if path.exists() and not force:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in _COLUMNS}, info | {"part_cache": str(path), "cached": True}
    if part in ("digits", "letters"):
        arrays = _render_glyph_part(jobs, cfg, progress, f"corpus {part}")
    else:
        from .corpus_objects import render_objects

        arrays = render_objects(plan, cfg, progress=progress)
    _save_npz(path, arrays)
    return arrays, info | {"part_cache": str(path), "cached": False, "seconds": round(time.time() - t0, 1)}


def build_corpus(cfg: CorpusConfig | None = None, force: bool = False, progress: bool = True) -> Path:
    """Build (once) the corpus described by ``cfg``; return the path of its ``corpus.npz``.

    Each part (digits, letters, objects) is cached on its own under ``<cache>/mini/parts/``,
    keyed by the config fields that change it, the installed assets it uses (font files,
    clip-art lists) and :data:`RENDER_VERSION`; the corpus is their concatenation. A corpus
    whose recorded part keys still match is reused as it is.
    """
    cfg = cfg or CorpusConfig()
    out_dir = corpus_dir(cfg)
    npz_path = out_dir / "corpus.npz"
    stats_path = out_dir / "stats.json"
    t0 = time.time()
    parts: dict[str, dict[str, np.ndarray]] = {}
    infos: dict[str, dict] = {}
    for part in PARTS:
        if part in cfg.parts:
            arrays, info = _build_part(cfg, part, force, progress)
            if arrays:
                parts[part], infos[part] = arrays, info
    check(sum(len(a["images"]) for a in parts.values()) > 0, f"the corpus config {cfg} produces no images")
    fingerprint = stable_hash({p: i.get("part_cache") for p, i in infos.items()})
    if npz_path.exists() and stats_path.exists() and not force:
        if json.loads(stats_path.read_text()).get("asset_fingerprint") == fingerprint:
            return npz_path
    arrays = {k: np.concatenate([parts[p][k] for p in parts]) for k in _COLUMNS}
    _save_npz(npz_path, arrays)
    stats = {
        "config": cfg.to_dict(),
        "cache_key": cfg.cache_key(),
        "asset_fingerprint": fingerprint,
        "render_version": RENDER_VERSION,
        "n_images": int(len(arrays["images"])),
        "build_seconds": round(time.time() - t0, 1),
        "parts": {p: {k: v for k, v in i.items() if k not in ("fonts", "objects")} for p, i in infos.items()},
        "per_group": _counts(arrays["group"]),
        "per_style": _counts(arrays["group"], arrays["style"]),
        "per_concept": _counts(arrays["concept"]),
        "per_concept_style": _counts(arrays["concept"], arrays["style"]),
        "fonts": {p: i["fonts"] for p, i in infos.items() if "fonts" in i},
    }
    if "objects" in infos:
        stats["objects"] = infos["objects"]["objects"]
    atomic_write_json(stats_path, stats)
    return npz_path


def load_corpus(path_or_cfg: str | Path | CorpusConfig | None = None) -> Corpus:
    """Load a corpus from its ``corpus.npz`` (or folder), or build-and-load from a config."""
    if path_or_cfg is None or isinstance(path_or_cfg, CorpusConfig):
        path = build_corpus(path_or_cfg)
    else:
        path = Path(path_or_cfg)
        if path.is_dir():
            path = path / "corpus.npz"
        if not path.exists():
            raise FileNotFoundError(f"no corpus at {path}; build one with build_corpus(CorpusConfig(...))")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("images", "captions", "concept", "style", "source", "group")}
    stats_path = path.parent / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else None
    return Corpus(**arrays, path=path, stats=stats)


# --------------------------------------------------------------------------------------------
# disjointness by hash


def image_hashes(images: np.ndarray, size: int = 32) -> set[str]:
    """sha1 of each image's bytes after bringing it to uint8 ``size x size`` (28 px padded by 2).

    Used to prove that no downstream image is in the corpus: hash both and intersect.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    if arr.shape[-1] != size:
        p = (size - arr.shape[-1]) // 2
        check(p >= 0, f"images of side {arr.shape[-1]} are larger than {size}")
        arr = np.pad(arr, [(0, 0)] * (arr.ndim - 2) + [(p, size - arr.shape[-1] - p)] * 2)
    return {hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arr}


def corpus_hashes(corpus: Corpus | str | Path | CorpusConfig | None = None) -> set[str]:
    """The set of image hashes of a corpus (see :func:`image_hashes`)."""
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    return image_hashes(corpus.images, corpus.images.shape[-1])


def check_disjoint(corpus: Corpus | str | Path | CorpusConfig | None = None,
                   datasets: Sequence[str] = ("mnist", "mnist5k", "digits", "animal_mnist", "fashion_mnist")) -> dict[str, int]:
    """How many images of each downstream dataset (all splits, at the mini framing) are also
    in the corpus, by exact hash. Every value must be 0."""
    from ..data import load_dataset

    hs = corpus_hashes(corpus)
    out = {}
    for name in datasets:
        splits = load_dataset(name)
        n = 0
        for _, part in splits.items():
            n += len(image_hashes(part.to_mini().images) & hs)
        out[name] = n
    return out


# --------------------------------------------------------------------------------------------
# transfer sanity check

from .corpus_transfer import corpus_transfer, transfer_check  # noqa: E402  (re-exported)
