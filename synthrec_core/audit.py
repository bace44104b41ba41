"""Contamination audit: does a synthetic set hold (near) copies of the real *test* images?

A generator trained on web data may have seen a benchmark's test images and reproduce them;
a set that contains them would inflate any accuracy measured on that test split. For each
synthetic image, :func:`contamination_audit` finds

- its nearest real test image by feature cosine (the CLIP features the recipe already cached),
  flagged above a stated ``threshold``;
- real test images with the same 256-bit average hash (16x16 grayscale, bit = above the mean;
  :func:`average_hash`), or within ``max_hamming`` bits of it: a pixel-level near copy.

A fixed cosine threshold means different things in different feature spaces (a small CLIP puts
all silhouettes of one animal close together), so with ``reference_feats`` (real *train* images,
which are not copies of the test images) the audit also reports a calibrated threshold: the
``quantile`` of the reference images' own nearest-test-image cosines, and the share of synthetic
images above it. It returns the shares and the closest pairs (for a figure). Pure functions
over features and images; no model runs here.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .config import check
from .filtering import l2_normalize

__all__ = ["average_hash", "contamination_audit"]


def _gray(image: Any, side: int) -> np.ndarray:
    from PIL import Image

    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    return np.asarray(im.convert("L").resize((side, side), Image.BOX), dtype=np.float32)


def average_hash(images: Iterable[Any], side: int = 16) -> np.ndarray:
    """Average hashes (``side``² bits, bit = pixel above the image's mean after a box resize to
    ``side`` x ``side`` grayscale) of PIL images or uint8 arrays, packed: uint8 ``[N, side²/8]``."""
    out = [np.packbits((g > g.mean()).reshape(-1)) for g in (_gray(im, side) for im in images)]
    return np.stack(out) if out else np.zeros((0, side * side // 8), np.uint8)


def nearest_cosine(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``: the highest cosine to any row of ``b`` and that row's index."""
    s, t = l2_normalize(a), l2_normalize(b)
    check(s.ndim == 2 and t.ndim == 2 and s.shape[1] == t.shape[1], f"feature shapes {s.shape} and {t.shape} do not match")
    best = np.full(len(s), -np.inf)
    arg = np.zeros(len(s), dtype=np.int64)
    for i in range(0, len(t), chunk):
        sims = s @ t[i : i + chunk].T
        j = sims.argmax(axis=1)
        v = sims[np.arange(len(s)), j]
        better = v > best
        best[better], arg[better] = v[better], j[better] + i
    return best, arg


def contamination_audit(syn_feats: np.ndarray, syn_images: Iterable[Any], test_feats: np.ndarray, test_images: Iterable[Any],
                        *, threshold: float = 0.95, max_hamming: int = 0, top: int = 8, chunk: int = 4096,
                        reference_feats: np.ndarray | None = None, quantile: float = 0.99) -> dict[str, Any]:
    """Nearest real test image of every synthetic image, by feature cosine and by pixel hash.

    Returns ``{"n_synthetic", "n_test", "threshold", "max_hamming", "max_cosine" (per synthetic
    image), "nearest" (test index per synthetic image), "share_above_threshold",
    "share_hash_match", "hash_matches" ([(synthetic index, test index)]), "closest" (the ``top``
    pairs by cosine: dicts with both indices and the cosine)}``."""
    check(0 < threshold <= 1, f"threshold={threshold} must be in (0, 1]")
    best, arg = nearest_cosine(syn_feats, test_feats, chunk)
    s, t = best, test_feats
    calibrated = None
    if reference_feats is not None and len(reference_feats):
        ref, _ = nearest_cosine(reference_feats, test_feats, chunk)
        calibrated = float(np.quantile(ref, quantile))
    hs, ht = average_hash(syn_images), average_hash(test_images)
    check(len(hs) == len(s) and len(ht) == len(t), f"{len(hs)} synthetic / {len(ht)} test images for {len(s)} / {len(t)} features")
    matches = []
    for a, h in enumerate(hs):
        d = np.unpackbits(np.bitwise_xor(ht, h), axis=1).sum(axis=1)
        matches += [(a, int(b)) for b in np.flatnonzero(d <= max_hamming)]
    order = np.argsort(-best)[:top]
    return {"n_synthetic": int(len(s)), "n_test": int(len(t)), "threshold": threshold, "max_hamming": max_hamming,
            "max_cosine": best.astype(float).tolist(), "nearest": arg.tolist(),
            "share_above_threshold": float((best > threshold).mean()) if len(s) else 0.0,
            "calibrated_threshold": calibrated, "quantile": quantile,
            "share_above_calibrated": float((best > calibrated).mean()) if calibrated is not None and len(s) else None,
            "share_hash_match": float(len({a for a, _ in matches}) / len(s)) if len(s) else 0.0,
            "hash_matches": matches[:100],
            "closest": [{"synthetic": int(a), "test": int(arg[a]), "cosine": float(best[a])} for a in order]}
