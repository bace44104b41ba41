"""The object part of the foundation corpus: silhouettes, outlines and grayscale clip-art.

Sources come from :mod:`synthrec_core.mini.corpus_sources` (openclipart SVGs rasterised with
cairosvg, emoji PNGs). Each source is rasterised once (RGBA, larger side 112 px, cached), and
every corpus image is drawn from one source in one style:

- ``silhouette``: the alpha mask, white on black (the Animal-MNIST look);
- ``outline``: the mask's boundary, a white line of random width;
- ``grayscale``: the luminance inside the mask, bright on black, with a random floor so that
  dark objects stay visible (the Fashion-MNIST look);

Animal sources whose hole-filled mask is nearly convex (solidity > 0.95: a badge, a circle
behind the animal, an emoji face) are dropped, and heads/faces are used only when a concept has
fewer than three whole-animal sources. Silhouettes fill holes, so line-art becomes a shape.

Images are then augmented (random horizontal flip, affine, elastic, blur) and framed like Animal-MNIST /
Fashion-MNIST: the object's larger side fills a 28 px box (x0.8-1.0) in the 32 px frame,
centred by bounding box. Downstream concepts get ``object_images`` images each, other concrete
nouns ``other_object_images``. The ``source`` column says where each image's picture came from:
``openclipart``, ``emoji``, ``procedural`` (the garment templates of
:mod:`synthrec_core.mini.corpus_procedural`, ``procedural_garments`` per Fashion-MNIST class)
or the synthesised zebra below.

**Zebra** has no real clip-art source (the only match is a "zebra gradient" pattern, which is
skipped). Zebra images are therefore *synthesised*: a horse source's mask filled with black and
white stripes, in the grayscale style only; their ``source`` column says
``"synthesised: striped horse"`` and the stats list the count, so they are never mistaken for
real zebra pictures.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from ..progress import progress as _progress

from ..paths import cache_dir
from ..utils import atomic_write_bytes, stable_hash
from .corpus_render import Augment, frame_like_mnist, ordered_map, warp
from .corpus_sources import ANIMAL_CONCEPTS, CLOTHING_CONCEPTS, DOWNSTREAM_CONCEPTS, MappedSource, cached_map_sources
from .corpus_text import object_caption
from .seeding import seed_for

__all__ = ["ObjectPlan", "plan_objects", "render_objects", "rasterize", "RASTER_SIDE"]

RASTER_SIDE = 112  # larger side of a rasterised source (4x the 28 px box)
RASTER_VERSION = 1  # bump when rasterising or the garment templates change (re-rasterises)
OBJECT_RENDER_VERSION = 4  # bump when drawing / augmenting / framing objects changes
WORK_SIDE = 56  # rasters are drawn and warped at 2x the 28 px box (4x was 4 times slower, same look)
OBJECT_BOX = 28.0  # Animal-MNIST / Fashion-MNIST: the object's larger side fills the 28 px frame
MIN_OTHER_SOURCES = 2  # other nouns need at least this many sources
MAX_OTHER_SOURCES = 8  # and use at most this many (keeps "star" from dominating)
ZEBRA_SOURCE = "synthesised: striped horse"
MAX_ANIMAL_SOLIDITY = 0.95  # animal sources more convex than this are badges / faces (see solidity)
#: share of each style per group (renormalised over the config's object_styles)
STYLE_WEIGHTS = {
    "animal": {"silhouette": 0.5, "outline": 0.2, "grayscale": 0.3},
    "clothing": {"silhouette": 0.3, "outline": 0.2, "grayscale": 0.5},
    "object": {"silhouette": 1 / 3, "outline": 1 / 3, "grayscale": 1 / 3},
}
OBJECT_AUGMENT = Augment(rotation_deg=10.0, shear=0.15, aspect=0.12, scale=(0.8, 1.0), translate_px=1.0,
                         elastic=0.02, stroke=(0.0, 0.0), stroke_prob=0.0, blur=(0.0, 0.6), hflip=True)


def rasterize(path: str, side: int = RASTER_SIDE) -> np.ndarray | None:
    """An SVG or PNG as RGBA uint8, cropped to its alpha bounding box, larger side ``side``.

    ``None`` when it cannot be read, is empty, or is a full-canvas picture (opaque background:
    a mask would be a rectangle).
    """
    from PIL import Image

    if path.startswith("procedural:"):
        from .corpus_procedural import draw_garment

        _, concept, k = path.split(":")
        return draw_garment(concept, seed_for(0, "garment", concept, int(k)), side)
    try:
        if path.endswith(".svg"):
            import cairosvg

            png = cairosvg.svg2png(url=path, output_width=side * 2)
            im = Image.open(io.BytesIO(png)).convert("RGBA")
        else:
            im = Image.open(path).convert("RGBA")
    except Exception:  # broken or unsupported file
        return None
    a = np.asarray(im)
    alpha = a[..., 3]
    if (alpha > 127).mean() > 0.9:
        return None
    ys, xs = np.nonzero(alpha > 20)
    if len(ys) < 16:
        return None
    crop = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape[:2]
    f = side / max(h, w)
    im = Image.fromarray(crop).resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.LANCZOS)
    out = np.zeros((side, side, 4), np.uint8)
    r = np.asarray(im)
    out[: r.shape[0], : r.shape[1]] = r
    return out


@dataclasses.dataclass
class ObjectPlan:
    """Which sources make which concept, and how many images each concept gets."""

    sources: list[MappedSource]  # one per raster row (kind openclipart, emoji or procedural)
    per_concept: dict[str, int]  # images per concept
    concept_group: dict[str, str]
    rasters: np.ndarray | None = None  # uint8 [n_sources, side, side, 4]

    def fingerprint(self) -> Any:
        return stable_hash([(m.source.path, m.concept, m.specific) for m in self.sources]
                           + [sorted(self.per_concept.items()), RASTER_VERSION, OBJECT_RENDER_VERSION])

    def summary(self) -> dict:
        src = Counter(m.concept for m in self.sources if m.source.kind != "procedural")
        proc = Counter(m.concept for m in self.sources if m.source.kind == "procedural")
        weak = Counter(m.concept for m in self.sources if m.weak)
        return {
            "downstream_sources": {c: int(src.get(c, 0)) for c in DOWNSTREAM_CONCEPTS},
            "procedural_templates": {c: int(proc[c]) for c in CLOTHING_CONCEPTS if proc.get(c)},
            "downstream_weak_sources (heads, faces, emoji faces)": {c: int(weak.get(c, 0)) for c in DOWNSTREAM_CONCEPTS},
            "zebra": f"no real source; {self.per_concept.get('zebra', 0)} images synthesised from horse masks with stripes ({ZEBRA_SOURCE!r})",
            "other_nouns": len([c for c in self.per_concept if c not in DOWNSTREAM_CONCEPTS]),
            "other_sources": int(sum(v for c, v in src.items() if c not in DOWNSTREAM_CONCEPTS)),
            "specific_names": {c: sorted({m.specific for m in self.sources if m.concept == c})
                               for c in DOWNSTREAM_CONCEPTS},
        }


_EMPTY_PNG = b"none"  # marks a source that cannot be used (see :func:`rasterize`)


def _raster_cache(sources: list[MappedSource], progress: bool, workers: int = 1) -> tuple[list[MappedSource], np.ndarray]:
    """Rasters of ``sources`` (unusable ones dropped), each cached as a PNG once per source;
    missing ones are rasterised by ``workers`` processes."""
    from PIL import Image

    folder = cache_dir() / "mini" / "rasters"
    files = []
    for m in sources:
        p = m.source.path
        stamp = Path(p).stat().st_mtime_ns if not p.startswith("procedural:") else RASTER_VERSION
        files.append(folder / f"{stable_hash([p, stamp, RASTER_SIDE, RASTER_VERSION])}.png")
    missing = [i for i, f in enumerate(files) if not f.exists()]
    paths = [sources[i].source.path for i in missing]
    bar = _progress(len(missing), "rasterise clip-art", disable=not progress or not missing)
    for i, r in zip(missing, ordered_map(rasterize, paths, workers, chunksize=8)):
        bar.update(1)
        if r is None:
            data = _EMPTY_PNG
        else:
            buf = io.BytesIO()
            Image.fromarray(r, "RGBA").save(buf, format="PNG")
            data = buf.getvalue()
        atomic_write_bytes(files[i], data)
    bar.close()
    kept, rows = [], []
    for m, f in zip(sources, files):
        data = f.read_bytes()
        if data != _EMPTY_PNG:
            kept.append(m)
            rows.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")))
    rasters = np.stack(rows) if rows else np.zeros((0, RASTER_SIDE, RASTER_SIDE, 4), np.uint8)
    return kept, rasters


def plan_objects(cfg, progress: bool = True) -> ObjectPlan:
    """Map, select and rasterise the sources for ``cfg`` (a :class:`CorpusConfig`)."""
    mapped = cached_map_sources()
    by_concept: dict[str, list[MappedSource]] = defaultdict(list)
    for m in mapped:
        by_concept[m.concept].append(m)
    chosen: list[MappedSource] = []
    per_concept: dict[str, int] = {}
    group: dict[str, str] = {}
    for concept in sorted(by_concept):
        ms = sorted(by_concept[concept], key=lambda m: (m.weak, m.source.path))
        down = concept in DOWNSTREAM_CONCEPTS
        if not down:
            if len(ms) < MIN_OTHER_SOURCES or cfg.other_object_images == 0:
                continue
            ms = ms[:MAX_OTHER_SOURCES]
        elif cfg.object_images == 0:
            continue
        chosen += ms  # the max_object_sources cap is applied after the quality filter below
        per_concept[concept] = cfg.object_images if down else cfg.other_object_images
        group[concept] = ms[0].group
    if cfg.object_images and cfg.procedural_garments:
        from .corpus_procedural import GARMENTS
        from .corpus_sources import Source

        for concept in GARMENTS:
            for k in range(cfg.procedural_garments):
                src = Source(f"procedural:{concept}:{k}", "procedural", "procedural", (), (), (), ())
                chosen.append(MappedSource(src, concept, "clothing", concept, True, False))
            per_concept[concept] = cfg.object_images
            group[concept] = "clothing"
    kept, rasters = _raster_cache(chosen, progress, getattr(cfg, "workers", 1))
    # animals: drop badge-like shapes (a circle or box behind the animal, emoji faces) and use
    # heads/faces only when a concept has fewer than 3 whole-animal sources
    keep = np.ones(len(kept), bool)
    for i, m in enumerate(kept):
        if m.group == "animal" and m.downstream and solidity(rasters[i]) > MAX_ANIMAL_SOLIDITY:
            keep[i] = False
    for concept in ANIMAL_CONCEPTS:
        idx = [i for i, m in enumerate(kept) if m.concept == concept and keep[i]]
        whole = [i for i in idx if not kept[i].weak]
        if len(whole) >= 3:
            for i in idx:
                keep[i] = not kept[i].weak
    if cfg.max_object_sources:  # tests: a few sources per concept (procedural ones kept apart)
        count: Counter = Counter()
        for i, m in enumerate(kept):
            if keep[i] and m.source.kind != "procedural":
                count[m.concept] += 1
                keep[i] = count[m.concept] <= cfg.max_object_sources
    kept = [m for m, k in zip(kept, keep) if k]
    rasters = rasters[keep]
    present = {m.concept for m in kept}
    per_concept = {c: n for c, n in per_concept.items() if c in present}
    if cfg.object_images and "horse" in present and "grayscale" in cfg.object_styles and "zebra" not in present:
        per_concept["zebra"] = cfg.object_images
        group["zebra"] = "animal"
    return ObjectPlan(kept, per_concept, group, rasters)


def _stripes(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.deg2rad(rng.uniform(70, 110))  # roughly vertical stripes, like a zebra's body
    period = rng.uniform(0.05, 0.09) * max(h, w)
    wobble = 0.15 * period * np.sin(yy / (0.2 * h) + rng.uniform(0, 6.3))
    phase = (xx * np.cos(theta) + yy * np.sin(theta) + wobble) / period * 2 * np.pi
    return (np.sin(phase + rng.uniform(0, 6.3)) > 0).astype(np.float32)


def _draw(raster: np.ndarray, style: str, rng: np.random.Generator, zebra: bool = False) -> np.ndarray:
    from scipy import ndimage

    rgba = raster.astype(np.float32) / 255.0
    alpha = rgba[..., 3]
    lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if style == "silhouette":
        # line-art sources (strokes only) become filled shapes, as silhouettes are
        filled = ndimage.binary_fill_holes(alpha > 0.5)
        return np.maximum(alpha, filled.astype(np.float32))
    if style == "outline":
        m = alpha > 0.5
        t = rng.uniform(0.015, 0.035) * alpha.shape[0]  # line width, in pixels of this raster
        inner = ndimage.distance_transform_edt(m)
        return np.clip(t + 0.5 - inner, 0.0, 1.0) * m
    if zebra:
        return alpha * (0.12 + 0.88 * _stripes(alpha.shape, rng))
    floor = rng.uniform(0.15, 0.35)
    img = alpha * (floor + (1 - floor) * lum)
    # dark clip-art would vanish on black: stretch so the brightest part of the object is bright
    inside = img[alpha > 0.5]
    top = float(np.percentile(inside, 95)) if inside.size else 1.0
    return np.clip(img * (rng.uniform(0.75, 1.0) / max(top, 0.05)), 0.0, 1.0)


def solidity(raster: np.ndarray) -> float:
    """Area of the (hole-filled) alpha mask over the area of its convex hull.

    Circles, squares and triangles (badges, backgrounds, icons) are ~1.0; whole animals with
    legs, necks and tails ~0.5-0.9.
    """
    from scipy import ndimage
    from scipy.spatial import ConvexHull

    m = ndimage.binary_fill_holes(raster[..., 3] > 127)
    ys, xs = np.nonzero(m)
    if len(ys) < 3:
        return 1.0
    try:
        hull = ConvexHull(np.stack([xs, ys], 1).astype(float))
    except Exception:  # degenerate (a line)
        return 1.0
    return float(m.sum() / max(hull.volume, 1.0))


def _style_counts(n: int, group: str, styles: tuple[str, ...]) -> dict[str, int]:
    w = {s: STYLE_WEIGHTS[group][s] for s in styles}
    total = sum(w.values())
    counts = {s: int(np.floor(n * v / total)) for s, v in w.items()}
    for s in list(w)[: n - sum(counts.values())]:
        counts[s] += 1
    return counts


_SHARED: dict[str, Any] = {}  # what forked render workers read (set before the pool starts)


def _render_concept(concept: str) -> dict[str, list]:
    """All images of one concept (deterministic per image, so any process can render it)."""
    plan, cfg, work, by_concept = (_SHARED[k] for k in ("plan", "cfg", "work", "by_concept"))
    rows: dict[str, list] = defaultdict(list)
    aug = OBJECT_AUGMENT if cfg.augment else Augment.none()
    zebra = concept == "zebra" and not by_concept.get("zebra")
    idx = by_concept["horse"] if zebra else by_concept[concept]
    styles = ("grayscale",) if zebra else tuple(cfg.object_styles)
    grp = plan.concept_group[concept]
    for style, n in _style_counts(plan.per_concept[concept], grp, styles).items():
        for j in range(n):
            rng = seed_for(cfg.seed, "object", concept, style, j)
            src_i = idx[(j + int(rng.integers(len(idx)))) % len(idx)] if j >= len(idx) else idx[j % len(idx)]
            m = plan.sources[src_i]
            img = _draw(work[src_i], style, rng, zebra)
            if aug.hflip and rng.random() < 0.5:
                img = img[:, ::-1]
            img = np.pad(np.ascontiguousarray(img), 4)
            if cfg.augment:
                img = warp(img, rng, aug)
            scale = rng.uniform(*aug.scale)
            shift = tuple(rng.uniform(-aug.translate_px, aug.translate_px, size=2)) if aug.translate_px else (0.0, 0.0)
            blur = rng.uniform(*aug.blur) if rng.random() < 0.5 else 0.0
            out = frame_like_mnist(img, cfg.size, scale, shift, blur, box=OBJECT_BOX * cfg.size / 32, center="box")
            rows["images"].append(out)
            rows["captions"].append(object_caption(rng, concept, style, None if zebra else m.specific))
            rows["concept"].append(concept)
            rows["style"].append(style)
            rows["source"].append(ZEBRA_SOURCE if zebra else m.source.kind)
            rows["group"].append(grp)
    return rows


def render_objects(plan: ObjectPlan, cfg, progress: bool = True) -> dict[str, np.ndarray]:
    """Render every object image of ``plan`` (deterministic per image; ``cfg.workers`` processes
    render whole concepts, and the result does not depend on how many)."""
    from PIL import Image

    by_concept: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(plan.sources):
        by_concept[m.concept].append(i)
    work = [np.asarray(Image.fromarray(r, "RGBA").resize((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)) for r in plan.rasters]
    _SHARED.update(plan=plan, cfg=cfg, work=work, by_concept=by_concept)
    concepts = sorted(plan.per_concept)
    bar = _progress(sum(plan.per_concept.values()), "corpus objects", "img", disable=not progress)
    rows: dict[str, list] = defaultdict(list)
    try:
        for part in ordered_map(_render_concept, concepts, cfg.workers):
            for k, v in part.items():
                rows[k] += v
            bar.update(len(part["images"]))
    finally:
        _SHARED.clear()
        bar.close()
    if not rows:
        return {k: np.zeros((0, cfg.size, cfg.size), np.uint8) if k == "images" else np.array([], dtype=str)
                for k in ("images", "captions", "concept", "style", "source", "group")}
    out = {k: np.array(v, dtype=str) for k, v in rows.items() if k != "images"}
    out["images"] = np.stack(rows["images"]).astype(np.uint8)
    return out
