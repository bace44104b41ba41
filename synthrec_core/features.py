"""Image features through a content-addressed cache that can never serve stale features.

:func:`encode_images` encodes images with an open_clip-style encoder (``encode_image`` or
``forward``) in eval mode, without augmentation, and caches the result under
``cache_dir()/features/<encoder key>/<data key>.npy``:

- the **encoder key** hashes the encoder's name, its class, the bytes of every tensor of its
  image tower's ``state_dict`` (``model.visual`` for open_clip models, else the whole model;
  so other weights or a fine-tuned copy get a new key) and its preprocessing, keyed by what
  it does (its output on fixed probe images and its repr, :func:`preprocess_key`);
- the **data key** hashes the images' content: a complete :class:`~synthrec_core.sets.SyntheticSet`
  by its key and its manifest's file sha256s, image files by their sha256, in-memory images
  by their pixel bytes.

Batch size and device are not in either key. Weight hashes are memoised per model object and
recomputed when any tensor is modified in place (torch's version counters) or replaced, so a
second request costs a manifest read and a ``.npy`` load. This module never loads models
(see ``models``).
"""

from __future__ import annotations

import hashlib
import io
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .utils import atomic_write_bytes, atomic_write_json, file_sha256, stable_hash

__all__ = ["Encoder", "as_encoder", "image_tower", "weights_hash", "data_key", "encode_images", "encode_texts", "preprocess_key", "features_dir",
           "cached_features", "save_features"]


@dataclass(frozen=True, eq=False)
class Encoder:
    """An image encoder: the model, its preprocessing (PIL -> tensor) and a name for humans.

    ``name`` is part of the key but never the only part: the weights and preprocessing are
    hashed too, so two encoders with the same name and different weights never share features.
    """

    model: Any
    preprocess: Callable[[Any], Any]
    name: str = "encoder"

    def key(self) -> str:
        """The encoder part of the cache key."""
        return stable_hash(
            {
                "name": self.name,
                "class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
                "weights": weights_hash(image_tower(self.model)),
                "preprocess": preprocess_key(self.preprocess),
            }
        )


def _probe_images() -> list:
    """Two fixed images (RGB 45x37 and grayscale 28x28, smooth patterns) to key preprocessing by."""
    from PIL import Image

    yy, xx = np.mgrid[0:37, 0:45]
    rgb = np.stack([(xx * 5) % 256, (yy * 7) % 256, ((xx + yy) * 3) % 256], -1).astype(np.uint8)
    g = np.mgrid[0:28, 0:28]
    gray = ((g[0] * 9 + g[1] * 4) % 256).astype(np.uint8)
    return [Image.fromarray(rgb, "RGB"), Image.fromarray(gray, "L")]


def preprocess_key(preprocess: Callable[[Any], Any]) -> str:
    """A key of what a preprocessing *does*: its output on fixed probe images, plus its repr
    with memory addresses removed. Two transforms that print alike (``Lambda()``) but compute
    different things get different keys; the same function rebuilt gets the same key."""
    import re

    import torch

    h = hashlib.sha256(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(preprocess)).encode())
    for im in _probe_images():
        try:
            out = preprocess(im)
        except Exception as e:  # noqa: BLE001 - a transform may reject one probe's mode: that is part of what it does
            h.update(f"error:{type(e).__name__}".encode())
            continue
        t = torch.as_tensor(np.asarray(out)) if not torch.is_tensor(out) else out
        t = t.detach().to("cpu").float().contiguous()
        h.update(f"{tuple(t.shape)}|".encode())
        h.update(np.round(t.numpy(), 5).tobytes())
    return h.hexdigest()[:32]


def image_tower(model: Any) -> Any:
    """The part of ``model`` whose weights decide its image features.

    open_clip models encode images with ``model.visual`` alone, so only its weights are
    hashed (the text tower is most of a CLIP's bytes); any other model is hashed whole.
    """
    visual = getattr(model, "visual", None)
    if visual is not None and hasattr(model, "encode_image") and hasattr(visual, "state_dict"):
        return visual
    return model


def as_encoder(encoder: Any) -> Encoder:
    """Accept an :class:`Encoder`, ``(model, preprocess)`` or ``(model, preprocess, name)``."""
    if isinstance(encoder, Encoder):
        return encoder
    if isinstance(encoder, (tuple, list)) and len(encoder) in (2, 3):
        if len(encoder) == 2:
            return Encoder(encoder[0], encoder[1], type(encoder[0]).__name__)
        return Encoder(*encoder)
    raise TypeError(f"encoder must be an Encoder or (model, preprocess[, name]), got {type(encoder).__name__}")


_WEIGHT_HASHES: "weakref.WeakKeyDictionary[Any, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def _tensor_state(model: Any) -> list[tuple[str, Any]]:
    sd = model.state_dict()
    return sorted(sd.items())


def weights_hash(model: Any) -> str:
    """sha256 over every ``state_dict`` tensor (name, dtype, shape, bytes); memoised per object.

    The memo is checked against each tensor's storage pointer and version counter, which torch
    bumps on every in-place change (``copy_``, optimiser steps, ``load_state_dict``).
    """
    import torch

    items = _tensor_state(model)
    signature = tuple((k, t.data_ptr(), t._version, tuple(t.shape), str(t.dtype)) for k, t in items)
    try:
        memo = _WEIGHT_HASHES.get(model)
    except TypeError:  # not weak-referenceable
        memo = None
    if memo is not None and memo[0] == signature:
        return memo[1]
    h = hashlib.sha256()
    for k, t in items:
        t = t.detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.view(-1).view(torch.uint8).numpy())  # buffer protocol: no copy
    digest = h.hexdigest()
    try:
        _WEIGHT_HASHES[model] = (signature, digest)
    except TypeError:
        pass
    return digest


def data_key(images: Any) -> str:
    """Content key of an image collection (set, file paths, PIL images or a uint8 array)."""
    from PIL import Image

    from .sets import SyntheticSet

    if isinstance(images, SyntheticSet):
        m = images.require_complete().manifest()
        return stable_hash({"set": images.key, "sha256": list(m["sha256"])})
    if isinstance(images, np.ndarray):
        h = hashlib.sha256(f"{images.dtype}|{images.shape}|".encode())
        h.update(np.ascontiguousarray(images).tobytes())
        return stable_hash({"array": h.hexdigest()})
    images = list(images)
    if all(isinstance(x, (str, os.PathLike)) for x in images):
        return stable_hash({"files": [file_sha256(p) for p in images]})
    if all(isinstance(x, Image.Image) for x in images):
        digests = []
        for im in images:
            h = hashlib.sha256(f"{im.mode}|{im.size}|".encode())
            h.update(im.tobytes())
            digests.append(h.hexdigest())
        return stable_hash({"pil": digests})
    raise TypeError("images must be a SyntheticSet, a uint8 array, file paths or PIL images")


def _iter_pil(images: Any):
    from PIL import Image

    from .sets import SyntheticSet

    if isinstance(images, SyntheticSet):
        images = images.paths()
    if isinstance(images, np.ndarray):
        for a in images:
            yield Image.fromarray(a)
        return
    for x in images:
        if isinstance(x, Image.Image):
            yield x
        else:
            with Image.open(x) as im:
                im.load()
                yield im.copy()


def _count(images: Any) -> int:
    from .sets import SyntheticSet

    if isinstance(images, SyntheticSet):
        return len(images.manifest())
    return len(images)


def features_dir(root: str | os.PathLike | None = None) -> Path:
    """Where feature caches live: ``<root>/features`` (default root ``cache_dir()``)."""
    if root is None:
        from .paths import cache_dir

        root = cache_dir()
    return Path(root) / "features"


def cached_features(encoder_key: str, images: Any, cache_root: str | os.PathLike | None = None) -> tuple[Path, np.ndarray | None]:
    """The cache file of ``images`` under ``encoder_key`` and its features if cached (else None)."""
    path = features_dir(cache_root) / encoder_key / f"{data_key(images)}.npy"
    return path, (np.load(path) if path.exists() else None)


def save_features(path: Path, feats: np.ndarray, meta: dict[str, Any]) -> None:
    """Write features (atomically) and a small JSON sidecar ``meta`` beside them."""
    buf = io.BytesIO()
    np.save(buf, feats)
    atomic_write_bytes(path, buf.getvalue())
    atomic_write_json(path.with_suffix(".json"), {**meta, "n": int(feats.shape[0]), "dim": int(feats.shape[1])})


def encode_images(
    encoder: Any,
    images: Any,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    cache: bool = True,
    cache_root: str | os.PathLike | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Image features ``[N, D]`` (float32, not normalised) in the order of ``images``.

    ``encoder``: an :class:`Encoder` or ``(model, preprocess[, name])``. ``images``: a complete
    :class:`~synthrec_core.sets.SyntheticSet`, image paths, PIL images or a uint8 array
    ``[N, H, W(, C)]``. With ``cache`` the result is read from / written to the feature cache.
    """
    import torch
    from .progress import progress as _progress

    enc = as_encoder(encoder)
    path = None
    if cache:
        path, cached = cached_features(enc.key(), images, cache_root)
        if cached is not None:
            return cached
    model = enc.model
    was_training = getattr(model, "training", False)
    model.eval()
    fn = model.encode_image if hasattr(model, "encode_image") else model
    n = _count(images)
    out: list[np.ndarray] = []
    batch: list[Any] = []
    bar = _progress(n, f"encode {enc.name}", "img", disable=not progress or n < 2 * batch_size)

    def flush() -> None:
        x = torch.stack(batch).to(device)
        with torch.inference_mode():
            f = fn(x)
        out.append(f.float().cpu().numpy())
        bar.update(len(batch))
        batch.clear()

    try:
        for im in _iter_pil(images):
            batch.append(enc.preprocess(im))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    finally:
        bar.close()
        if was_training:
            model.train()
    feats = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    if path is not None:
        save_features(path, feats, {"encoder": enc.name})
    return feats


def encode_texts(model: Any, tokenizer: Callable[[Sequence[str]], Any], texts: Sequence[str], device: str = "cpu",
                 batch_size: int = 256) -> np.ndarray:
    """Text features ``[len(texts), D]`` (float32, not normalised), ``batch_size`` texts at a
    time; cheap, so not cached."""
    import torch

    was_training = getattr(model, "training", False)
    model.eval()
    texts = list(texts)
    try:
        with torch.inference_mode():
            parts = [model.encode_text(tokenizer(texts[i : i + batch_size]).to(device)).float().cpu().numpy()
                     for i in range(0, len(texts), batch_size)]
    finally:
        if was_training:
            model.train()
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
