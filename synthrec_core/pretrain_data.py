"""The data path of pre-training and transfer: decoded arrays, batched tensor augmentation, shards.

- :func:`decode_set` turns a synthetic set on disk into uint8 arrays (``[N, H, W]`` or
  ``[N, H, W, 3]``) + int labels once, and caches them as ``.npy`` under
  ``cache_dir()/decoded/<key>/``, the key hashing the set's key, every image's sha256, the
  labels, the colour mode and the size.
- :class:`AugConfig` + :func:`augment`: augmentation on whole uint8 batches as tensor ops (no
  PIL per image): random resized crop and horizontal flip as one ``affine_grid`` /
  ``grid_sample``, intensity jitter (brightness and contrast; saturation too and random
  grayscale on RGB), per-sample Gaussian blur as one grouped convolution, then ``(x-0.5)/0.5``.
  Random parameters are drawn for the *global* batch from a generator seeded by
  ``(seed, epoch, step, view)`` and each rank takes its rows, so an image's augmentation does
  not depend on the number of processes.
- :func:`epoch_permutation` / :func:`shard`: the epoch's permutation (seeded by seed and
  epoch) and rank r's contiguous slice of each global batch (gathering slices in rank order
  restores the global batch, which MoCo's queue relies on).

The random resized crop clamps an out-of-range box into the image instead of re-drawing
(torchvision tries 10 boxes, then falls back to a centre crop). Hue jitter is not done.
This module does not train (see ``pretraining``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import Config, check
from .paths import cache_dir
from .utils import atomic_write_bytes, atomic_write_json, stable_hash

__all__ = ["AugConfig", "decode_set", "as_uint8_tensor", "array_key", "batch_generator", "augment", "to_model_input",
           "epoch_permutation", "shard"]


@dataclasses.dataclass(frozen=True)
class AugConfig(Config):
    """Batched augmentation. Defaults are MoCo v2's, adapted to small (32 px) grayscale images.

    MoCo v2 at 224 px: crop scale (0.2, 1), flip 0.5, colour jitter (0.4, 0.4, 0.4, 0.1) with
    p 0.8, grayscale 0.2, blur sigma (0.1, 2.0) px with p 0.5. Here jitter on 1-channel images
    is brightness and contrast only; blur sigma is in output pixels, (0.1, 1.0) at 32 px
    (MoCo's 2 px at 224 px would be 0.3 px at 32 px, i.e. no blur at all).
    """

    scale: tuple[float, float] = (0.2, 1.0)  # area fraction of the crop
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio of the crop
    flip_p: float = 0.5
    jitter_p: float = 0.8
    jitter: float = 0.4  # brightness, contrast and (RGB) saturation factors in [1-j, 1+j]
    gray_p: float = 0.2  # RGB only
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 1.0)  # pixels at the output size

    def __post_init__(self) -> None:
        for name in ("scale", "ratio", "blur_sigma"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        super().__post_init__()

    def validate(self) -> None:
        for name in ("scale", "ratio", "blur_sigma"):
            v = getattr(self, name)
            check(len(v) == 2 and 0 < v[0] <= v[1], f"{name}={v!r} must be (low, high) with 0 < low <= high")
        check(self.scale[1] <= 1.0, f"scale={self.scale!r} must not exceed 1")
        for name in ("flip_p", "jitter_p", "gray_p", "blur_p"):
            v = getattr(self, name)
            check(0.0 <= v <= 1.0, f"{name}={v!r} must be in [0, 1]")
        check(0.0 <= self.jitter < 1.0, f"jitter={self.jitter!r} must be in [0, 1)")

    @classmethod
    def none(cls) -> "AugConfig":
        """No augmentation: the full image, only resized and normalised."""
        return cls(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0)

    @classmethod
    def light(cls, scale_min: float = 0.6, flip_p: float = 0.0) -> "AugConfig":
        """Crop (and optionally flip) only: the supervised / fine-tuning default of the mini profile."""
        return cls(scale=(scale_min, 1.0), flip_p=flip_p, jitter_p=0.0, gray_p=0.0, blur_p=0.0)

    @classmethod
    def imagenet(cls) -> "AugConfig":
        """Supervised ImageNet-style: random resized crop (0.08, 1) and flip (paper profile)."""
        return cls(scale=(0.08, 1.0), jitter_p=0.0, gray_p=0.0, blur_p=0.0)

    @classmethod
    def moco_v2(cls, paper: bool = False) -> "AugConfig":
        """MoCo v2; ``paper=True`` keeps MoCo's blur sigma (0.1, 2.0) for 224 px inputs."""
        return cls(blur_sigma=(0.1, 2.0)) if paper else cls()


# --------------------------------------------------------------------------- arrays and keys


def as_uint8_tensor(images: Any) -> torch.Tensor:
    """uint8 ``[N, H, W]`` / ``[N, H, W, 3]`` (array or tensor) -> uint8 tensor ``[N, C, H, W]``."""
    a = images if torch.is_tensor(images) else torch.from_numpy(np.ascontiguousarray(images))
    check(a.dtype == torch.uint8, f"images must be uint8, got {a.dtype}")
    check(a.ndim == 3 or (a.ndim == 4 and a.shape[-1] == 3), f"images must be [N,H,W] or [N,H,W,3], got {tuple(a.shape)}")
    return a.unsqueeze(1).contiguous() if a.ndim == 3 else a.permute(0, 3, 1, 2).contiguous()


def array_key(*arrays: Any) -> str:
    """sha256 (16 hex) of arrays' dtypes, shapes and bytes: the content key of in-memory data."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a.numpy() if torch.is_tensor(a) else np.asarray(a))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def decode_set(s: Any, mode: str = "L", size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A complete synthetic set (a ``SyntheticSet`` or its directory) as ``(images, labels)``.

    ``images`` uint8 ``[N, H, W]`` (``mode="L"``) or ``[N, H, W, 3]`` (``"RGB"``) in manifest
    order, resized to ``size x size`` (bicubic) if given; ``labels`` int64 class indices.
    Decoded once, then read from ``cache_dir()/decoded/<key>/{images,labels}.npy``.
    """
    from PIL import Image

    from .sets import SyntheticSet

    s = s if isinstance(s, SyntheticSet) else SyntheticSet(Path(s))
    check(mode in ("L", "RGB"), f"mode={mode!r} must be 'L' or 'RGB'")
    check(size is None or (isinstance(size, int) and size > 0), f"size={size!r} must be a positive int or None")
    m = s.require_complete().manifest()
    labels = m["class_index"].to_numpy(np.int64)
    key = stable_hash({"set": s.key, "sha256": list(m["sha256"]), "labels": labels.tolist(), "mode": mode, "size": size})
    out = cache_dir() / "decoded" / key
    if (out / "labels.npy").exists() and (out / "images.npy").exists():
        return np.load(out / "images.npy"), np.load(out / "labels.npy")
    arrays = []
    for p in m["path"]:
        with Image.open(s.root / p) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BICUBIC)
            arrays.append(np.asarray(im, dtype=np.uint8))
    shapes = sorted({a.shape for a in arrays})
    check(len(shapes) == 1, f"set {s.root} has images of sizes {shapes[:3]}; pass size=")
    images = np.stack(arrays)
    atomic_write_bytes(out / "images.npy", _npy_bytes(images))
    atomic_write_bytes(out / "labels.npy", _npy_bytes(labels))  # written last: its presence marks the cache complete
    atomic_write_json(out / "meta.json", {"set_key": s.key, "root": str(s.root), "mode": mode, "size": size, "shape": list(images.shape)})
    return images, labels


# --------------------------------------------------------------------------- randomness and shards


def _generator(*entropy: int) -> torch.Generator:
    state = np.random.SeedSequence([int(e) % 2**32 for e in entropy]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def batch_generator(seed: int, epoch: int, step: int, view: int = 0) -> torch.Generator:
    """The generator of one (seed, epoch, step, view)'s augmentation: independent streams, no shared state."""
    return _generator(seed, 0xA06, epoch, step, view)


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch ``epoch``: a permutation of ``range(n)`` seeded by (seed, epoch)."""
    return torch.randperm(n, generator=_generator(seed, 0x9E5, epoch))


def shard(perm: torch.Tensor, step: int, global_batch: int, rank: int, world: int) -> tuple[torch.Tensor, slice]:
    """Rank ``rank``'s indices of global batch ``step`` and their rows in the global batch."""
    b = global_batch // world
    rows = slice(rank * b, (rank + 1) * b)
    start = step * global_batch
    return perm[start + rows.start : start + rows.stop], rows


# --------------------------------------------------------------------------- augmentation


def _sample(cfg: AugConfig, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Every random number of ``n`` augmentations, always drawn in the same order."""
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)  # noqa: E731
    area = u(*cfg.scale)
    logr = u(math.log(cfg.ratio[0]), math.log(cfg.ratio[1]))
    return {
        "area": area, "logr": logr, "cx": u(-1.0, 1.0), "cy": u(-1.0, 1.0),
        "flip": torch.rand(n, generator=gen) < cfg.flip_p,
        "jit": torch.rand(n, generator=gen) < cfg.jitter_p,
        "bright": u(1 - cfg.jitter, 1 + cfg.jitter), "contrast": u(1 - cfg.jitter, 1 + cfg.jitter),
        "sat": u(1 - cfg.jitter, 1 + cfg.jitter),
        "gray": torch.rand(n, generator=gen) < cfg.gray_p,
        "blur": torch.rand(n, generator=gen) < cfg.blur_p, "sigma": u(*cfg.blur_sigma),
    }


def _crop_flip(x: torch.Tensor, p: dict[str, torch.Tensor], out: int) -> torch.Tensor:
    w = torch.sqrt(p["area"] * torch.exp(p["logr"])).clamp(max=1.0)  # crop side / image side
    h = torch.sqrt(p["area"] / torch.exp(p["logr"])).clamp(max=1.0)
    theta = torch.zeros(len(x), 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = torch.where(p["flip"], -w, w)
    theta[:, 1, 1] = h
    theta[:, 0, 2] = p["cx"] * (1 - w)  # centre inside the image: the box never leaves it
    theta[:, 1, 2] = p["cy"] * (1 - h)
    identity = (w == 1) & (h == 1) & ~p["flip"]
    if bool(identity.all()) and x.shape[-1] == out and x.shape[-2] == out:
        return x
    grid = F.affine_grid(theta.to(x.dtype), [len(x), x.shape[1], out, out], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)


def _jitter(x: torch.Tensor, p: dict[str, torch.Tensor], cfg: AugConfig) -> torch.Tensor:
    on = p["jit"].view(-1, 1, 1, 1)
    b = p["bright"].to(x.dtype).view(-1, 1, 1, 1)
    c = p["contrast"].to(x.dtype).view(-1, 1, 1, 1)
    y = (x * b).clamp(0, 1)
    mean = (y if x.shape[1] == 1 else _gray(y)).mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - mean) * c + mean).clamp(0, 1)
    if x.shape[1] == 3:
        s = p["sat"].to(x.dtype).view(-1, 1, 1, 1)
        y = ((y - _gray(y)) * s + _gray(y)).clamp(0, 1)
        y = torch.where(p["gray"].view(-1, 1, 1, 1), _gray(y), y)
    return torch.where(on, y, x)


def _blur(x: torch.Tensor, p: dict[str, torch.Tensor], cfg: AugConfig) -> torch.Tensor:
    n, c, hgt, wid = x.shape
    radius = max(1, math.ceil(3 * cfg.blur_sigma[1]))
    radius = min(radius, (min(hgt, wid) - 1) // 2)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t[None] / p["sigma"][:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)
    delta = (t == 0).to(torch.float64).expand_as(k)
    k = torch.where(p["blur"][:, None], k, delta).to(x.dtype).repeat_interleave(c, dim=0)  # [n*c, 2r+1]
    y = F.pad(x.reshape(1, n * c, hgt, wid), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, :, None], groups=n * c)
    y = F.conv2d(y, k[:, None, None, :], groups=n * c)
    return y.reshape(n, c, hgt, wid)


def to_model_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> float ``(x/255 - 0.5)/0.5`` at ``size x size`` (no augmentation)."""
    y = x.float().div_(255.0)
    if y.shape[-2:] != (size, size):
        y = F.interpolate(y, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.sub_(0.5).div_(0.5)


def augment(
    x: torch.Tensor, cfg: AugConfig, gen: torch.Generator, size: int, rows: slice | None = None, total: int | None = None
) -> torch.Tensor:
    """Augment uint8 ``x`` ``[b, C, H, W]`` to float ``[b, C, size, size]``, normalised.

    Parameters are drawn for a global batch of ``total`` images (default ``len(x)``) and rows
    ``rows`` of them are used: an image gets the same augmentation whichever rank runs it.
    """
    total = len(x) if total is None else total
    rows = rows or slice(0, len(x))
    check(rows.stop - rows.start == len(x) and rows.stop <= total, f"rows {rows} do not fit a batch of {len(x)} of {total}")
    p = {k: v[rows] for k, v in _sample(cfg, total, gen).items()}
    y = x.float().div_(255.0)
    y = _crop_flip(y, p, size)
    if cfg.jitter_p > 0 and cfg.jitter > 0:
        y = _jitter(y, p, cfg)
    if cfg.blur_p > 0:
        y = _blur(y, p, cfg)
    return y.sub_(0.5).div_(0.5)

