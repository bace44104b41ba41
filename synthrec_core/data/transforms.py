"""Bring downstream images to the mini-world framing: 32x32 grayscale, white on black.

MiniCLIP and MiniGen work on 32x32 grayscale images with a white foreground on a black
background, the MNIST polarity. MNIST-style 28x28 images already put the glyph in a ~20 px box
centred in the frame, so they are *padded* 2 px on every side (never resized) to keep that
framing. scikit-learn's 8x8 digits fill their whole frame, so they are first upsampled to
20x20 (the MNIST glyph box; bicubic, clipped) and then padded 6 px each side to 32x32. These
choices are documented here, not measured.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["pad_to", "to_mini_resolution", "to_grayscale", "MINI_SIZE", "GLYPH_BOX"]

MINI_SIZE = 32  # the mini world's image side
GLYPH_BOX = 20  # MNIST's glyph box: small full-frame images are upsampled to this before padding


def _check_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (N,H,W) or (N,H,W,C), got shape {images.shape}")
    return images


def pad_to(images: np.ndarray, size: int = MINI_SIZE, value: int = 0) -> np.ndarray:
    """Pad ``(N,H,W[,C])`` uint8 images with ``value`` (black) to ``size x size``, centred.

    An odd difference puts the extra pixel at the bottom/right. Raises if an image is larger
    than ``size``.
    """
    images = _check_uint8(images)
    h, w = images.shape[1:3]
    if h > size or w > size:
        raise ValueError(f"cannot pad {h}x{w} images to {size}x{size}: they are larger")
    top, left = (size - h) // 2, (size - w) // 2
    pad = [(0, 0), (top, size - h - top), (left, size - w - left)] + [(0, 0)] * (images.ndim - 3)
    return np.pad(images, pad, mode="constant", constant_values=value)


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """``(N,H,W,3)`` RGB to ``(N,H,W)`` luminance (ITU-R 601, as PIL's 'L'); grayscale unchanged."""
    images = _check_uint8(images)
    if images.ndim == 3:
        return images
    rgb = images[..., :3].astype(np.float32)
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(lum + 0.5, 0, 255).astype(np.uint8)


def _resize(images: np.ndarray, side: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(im, mode="L").resize((side, side), Image.BICUBIC))
                     for im in images]) if len(images) else np.zeros((0, side, side), np.uint8)


def to_mini_resolution(images: np.ndarray, size: int = MINI_SIZE) -> np.ndarray:
    """Downstream images in the mini-world framing: ``(N, size, size)`` uint8, grayscale.

    - ``size x size``: unchanged (RGB is converted to grayscale);
    - up to ``size`` but larger than the glyph box (e.g. 28x28): padded, centred;
    - at most the glyph box (e.g. 8x8 digits): upsampled to 20x20, then padded;
    - larger than ``size``: resized down to ``size`` (bicubic), the generic fallback.

    Polarity is not changed: callers make sure images are white on black.
    """
    images = to_grayscale(_check_uint8(images))
    h, w = images.shape[1:3]
    box = round(GLYPH_BOX * size / MINI_SIZE)
    if (h, w) == (size, size):
        return images
    if max(h, w) > size:
        return _resize(images, size)
    if max(h, w) <= box:
        return pad_to(_resize(images, box), size)
    return pad_to(images, size)
