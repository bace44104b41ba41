"""Training recipes for MiniCLIP and MiniGen on the foundation corpus (seeded, resumable).

``train_miniclip(cfg)`` and ``train_minigen(cfg)`` each take a frozen config, write into a run
folder (``cfg.out_dir`` or ``cache_dir()/mini/runs/<model>-<cfg.cache_key()>``):

- ``checkpoint.pt``: model, EMA, optimizer, step, RNG state; written atomically every
  ``checkpoint_minutes`` and at the end; a re-run with the same config resumes from it;
- ``loss.csv``: ``step,loss,lr,seconds``;
- ``done.json`` when the configured number of steps is reached.

The frozen MiniLM is run once per corpus: caption embeddings (pooled, and token states for
MiniGen) are cached in ``cache_dir()/mini/text/<hash>.npz``, so training never runs BERT.

``export_miniclip`` / ``export_minigen`` turn a run into shippable files (fp16, trained parts
only). The tiny default configs train in well under a minute (tests, CI); ``MINICLIP_PRESETS``
and ``MINIGEN_PRESETS`` hold the ``mini`` presets of the real run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import Config, check, check_choice
from ..paths import cache_dir
from ..utils import atomic_write_bytes, atomic_write_json, seed_everything, stable_hash

__all__ = [
    "MiniCLIPConfig",
    "MiniGenConfig",
    "MINICLIP_PRESETS",
    "MINIGEN_PRESETS",
    "train_miniclip",
    "train_minigen",
    "export_miniclip",
    "export_minigen",
    "run_dir",
    "read_loss",
    "augment_batch",
    "caption_embeddings",
    "stroke_word_captions",
    "STROKE_WORDS",
    "LOWRES_PHRASE",
    "LOWRES_SIZE",
    "lowres",
    "lowres_copies",
    "load_miniclip_run",
    "minigen_from_checkpoint",
    "write_model_card",
    "slim_checkpoint",
]


# ------------------------------------------------------------------------------ configs
@dataclasses.dataclass(frozen=True)
class _TrainBase(Config):
    corpus: str = "tiny"  # corpus preset name (see mini.corpus.CORPUS_PRESETS) or a corpus.npz path
    steps: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 5
    seed: int = 0
    threads: int = 1  # torch threads; does not change the result (up to float rounding)
    checkpoint_minutes: float = 5.0
    max_minutes: float = 0.0  # stop (checkpointed, resumable) after this wall time; 0 = no limit
    init_from: str = ""  # a checkpoint.pt to start from (fine-tuning); part of the key
    out_dir: str = ""  # run folder; default cache_dir()/mini/runs/<model>-<key>
    progress: bool = True

    _not_in_key: ClassVar[tuple[str, ...]] = ("threads", "checkpoint_minutes", "max_minutes", "out_dir", "progress")

    def validate(self) -> None:
        for name in ("steps", "batch_size", "threads"):
            check(getattr(self, name) >= 1, f"{name}={getattr(self, name)} must be >= 1")
        check(self.lr > 0, f"lr={self.lr} must be > 0")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay} must be >= 0")
        check(0 <= self.warmup_steps < self.steps or self.steps == 1,
              f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps})")
        check(self.checkpoint_minutes > 0, f"checkpoint_minutes={self.checkpoint_minutes} must be > 0")
        check(self.max_minutes >= 0, f"max_minutes={self.max_minutes} must be >= 0")


@dataclasses.dataclass(frozen=True)
class MiniCLIPConfig(_TrainBase):
    """MiniCLIP recipe: image tower trained contrastively against the frozen MiniLM (LiT reversed)."""

    arch: str = "MiniCLIP-CNN-tiny"  # an open_clip name registered by mini.miniclip
    steps: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    targets: str = "concept"  # "concept": all same-concept pairs in a batch are positives; "caption"; "index"
    augment: float = 1.0  # strength of affine/elastic/erase augmentation (0 = off)
    train_text_proj: bool = True  # the text projection trains; MiniLM itself never does
    init_logit_scale: float = 10.0
    alt_text_noise: float = 0.0  # share of images whose caption is replaced, once, by a web-like alt text that does not name the concept

    def validate(self) -> None:
        super().validate()
        from .miniclip import MINICLIP_ARCHS

        check_choice("arch", self.arch, MINICLIP_ARCHS)
        check_choice("targets", self.targets, ("concept", "caption", "index"))
        check(0 <= self.augment <= 2, f"augment={self.augment} must be in [0, 2]")
        check(self.init_logit_scale > 0, f"init_logit_scale={self.init_logit_scale} must be > 0")
        check(0 <= self.alt_text_noise < 1, f"alt_text_noise={self.alt_text_noise} must be in [0, 1)")
        check(self.alt_text_noise == 0 or self.targets != "concept",
              "alt_text_noise needs targets='caption' or 'index' (concept targets would use the clean labels)")


#: appended to the caption of a low-resolution copy (:func:`lowres_copies`)
LOWRES_PHRASE = "in low resolution"
#: the side the shipped MiniGen's low-resolution copies were downsampled to (stage minigen-lowres)
LOWRES_SIZE = 8


@dataclasses.dataclass(frozen=True)
class MiniGenConfig(_TrainBase):
    """MiniGen recipe: v-prediction diffusion with min-SNR weighting, caption dropout, EMA."""

    arch: str = "tiny"  # see mini.minigen.MINIGEN_ARCHS
    steps: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    caption_dropout: float = 0.15  # share of captions replaced by "" (enables classifier-free guidance)
    min_snr_gamma: float = 5.0  # 0 = plain MSE on v
    ema_decay: float = 0.999
    max_length: int = 24  # MiniLM tokens attended to
    final_lr_ratio: float = 0.1  # cosine decay ends at lr * this
    stroke_words: bool = False  # name each typography image's measured stroke weight in its caption (STROKE_WORDS)
    lowres_share: float = 0.0  # add low-resolution copies of this share of typography images, captioned LOWRES_PHRASE
    lowres_size: int = LOWRES_SIZE  # the side those copies are box-downsampled to (then bilinear back)

    def validate(self) -> None:
        super().validate()
        from .minigen import MINIGEN_ARCHS

        check_choice("arch", self.arch, MINIGEN_ARCHS)
        check(0 <= self.caption_dropout < 1, f"caption_dropout={self.caption_dropout} must be in [0, 1)")
        check(self.min_snr_gamma >= 0, f"min_snr_gamma={self.min_snr_gamma} must be >= 0")
        check(0 <= self.ema_decay < 1, f"ema_decay={self.ema_decay} must be in [0, 1)")
        check(4 <= self.max_length <= 64, f"max_length={self.max_length} must be in [4, 64]")
        check(0 <= self.final_lr_ratio <= 1, f"final_lr_ratio={self.final_lr_ratio} must be in [0, 1]")
        check(0 <= self.lowres_share <= 1, f"lowres_share={self.lowres_share} must be in [0, 1]")
        check(isinstance(self.lowres_size, int) and 2 <= self.lowres_size <= 32,
              f"lowres_size={self.lowres_size!r} must be an int in [2, 32]")


#: real-run presets (the sizes chosen from measured CPU throughput; see the model cards)
MINICLIP_PRESETS: dict[str, MiniCLIPConfig] = {
    "tiny": MiniCLIPConfig(),
    # the shipped recipe: CLIP-like caption targets with 30% alt text, chosen on held-out train
    # images among concept/caption/alt-text variants (scripts/miniclip_ablation.py --report-on holdout)
    "mini": MiniCLIPConfig(corpus="mini", arch="MiniCLIP-CNN", steps=850, batch_size=256, lr=2e-3,
                           warmup_steps=40, checkpoint_minutes=3.0, targets="caption", alt_text_noise=0.3),
}
MINIGEN_PRESETS: dict[str, MiniGenConfig] = {
    "tiny": MiniGenConfig(),
    "mini": MiniGenConfig(corpus="mini", arch="mini", steps=6000, batch_size=48, lr=5e-4, warmup_steps=200,
                          checkpoint_minutes=4.0),
}


# ------------------------------------------------------------------------------ data
def _load_corpus(spec: str):
    from .corpus import CORPUS_PRESETS, load_corpus

    if spec in CORPUS_PRESETS:
        return load_corpus(CORPUS_PRESETS[spec])
    return load_corpus(spec)


def caption_embeddings(captions: np.ndarray, max_length: int, tokens: bool, progress: bool = True) -> dict[str, np.ndarray]:
    """MiniLM embeddings of the unique ``captions`` (cached by content), plus ``inverse``
    (index of each row's caption) and ``unique`` (the unique captions, sorted)."""
    from .miniclip import encode_texts

    unique, inverse = np.unique(np.asarray(captions, dtype=str), return_inverse=True)
    key = stable_hash({"captions": unique.tolist(), "max_length": max_length, "tokens": tokens, "model": "all-MiniLM-L6-v2"})
    path = cache_dir() / "mini" / "text" / f"{key}.npz"
    if path.exists():
        with np.load(path) as z:
            emb = {k: z[k] for k in z.files}
    else:
        # the empty caption (classifier-free guidance's unconditional input) is always row 0 of the cache
        emb = encode_texts([""] + unique.tolist(), max_length=max_length, tokens=tokens, progress=progress)
        buf = io.BytesIO()
        np.savez(buf, **emb)
        atomic_write_bytes(path, buf.getvalue())
    emb = dict(emb)
    emb["inverse"] = inverse.astype(np.int64) + 1  # +1: row 0 is ""
    emb["unique"] = unique
    return emb


def augment_batch(x: torch.Tensor, g: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Per-image random affine + elastic warp + erase (+ rare stroke thickening) of x [B,1,H,W] in [0,1].

    Never inverts polarity (the mini world is white on black). ``strength`` scales all ranges.
    """
    if strength <= 0:
        return x
    b, _, h, w = x.shape

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape or (b,), generator=g)

    s = strength
    ang = u(-12, 12) * s * math.pi / 180
    scale = 1 + u(-0.12, 0.08) * s
    shear = u(-0.2, 0.2) * s
    tx, ty = u(-0.12, 0.12) * s, u(-0.12, 0.12) * s  # in [-1,1] coords: 0.12 ~ 2 px at 32 px
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = cos / scale
    theta[:, 0, 1] = (-sin + shear * cos) / scale
    theta[:, 1, 0] = sin / scale
    theta[:, 1, 1] = (cos + shear * sin) / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, (b, 1, h, w), align_corners=False)
    # elastic: a smooth random displacement field (coarse 4x4 noise, upsampled)
    disp = (torch.rand((b, 2, 4, 4), generator=g) * 2 - 1) * 0.08 * s
    disp = F.interpolate(disp, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid + disp, mode="bilinear", padding_mode="zeros", align_corners=False)
    # rare stroke thickening (max filter)
    thick = torch.rand(b, generator=g) < 0.15 * min(s, 1)
    if thick.any():
        out[thick] = torch.maximum(out[thick], 0.6 * F.max_pool2d(out[thick], 3, 1, 1))
    # random erasing of a small rectangle
    erase = torch.rand(b, generator=g) < 0.25 * min(s, 1)
    for i in torch.nonzero(erase).flatten().tolist():
        eh, ew = int(torch.randint(3, 9, (1,), generator=g)), int(torch.randint(3, 9, (1,), generator=g))
        y0, x0 = int(torch.randint(4, h - 4 - eh + 1, (1,), generator=g)), int(torch.randint(4, w - 4 - ew + 1, (1,), generator=g))
        out[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0
    return out.clamp(0, 1)


# ------------------------------------------------------------------------------ run folder plumbing
def run_dir(cfg: _TrainBase, model: str) -> Path:
    """The run folder of ``cfg`` (``cfg.out_dir`` if set)."""
    if cfg.out_dir:
        return Path(cfg.out_dir)
    return cache_dir() / "mini" / "runs" / f"{model}-{cfg.cache_key()}"


def _open_run(cfg: _TrainBase, model: str) -> tuple[Path, bool]:
    """Set threads, create the run folder, record the config and seed; ``done`` if it finished before."""
    torch.set_num_threads(cfg.threads)
    folder = run_dir(cfg, model)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", cfg.to_dict())
    done = (folder / "done.json").exists()
    if not done:
        seed_everything(cfg.seed)
    return folder, done


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def _lr_at(step: int, cfg: _TrainBase, final_ratio: float = 0.1) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / (cfg.warmup_steps + 1)
    p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


class _LossLog:
    def __init__(self, path: Path, start_step: int) -> None:
        self.path = path
        rows = read_loss(path) if path.exists() else []
        rows = [r for r in rows if r["step"] < start_step]  # drop rows past the resumed checkpoint
        text = "step,loss,lr,seconds\n" + "".join(f"{r['step']},{r['loss']:.6f},{r['lr']:.3e},{r['seconds']:.1f}\n" for r in rows)
        atomic_write_bytes(path, text.encode())
        self.f = open(path, "a", buffering=1)

    def write(self, step: int, loss: float, lr: float, seconds: float) -> None:
        self.f.write(f"{step},{loss:.6f},{lr:.3e},{seconds:.1f}\n")

    def close(self) -> None:
        self.f.close()


def read_loss(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's ``loss.csv`` (or of ``<run>/loss.csv`` if given a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "loss.csv"
    with open(path) as f:
        return [{"step": int(r["step"]), "loss": float(r["loss"]), "lr": float(r["lr"]), "seconds": float(r["seconds"])}
                for r in csv.DictReader(f)]


def _rng_state(g: torch.Generator, np_rng: np.random.Generator) -> dict:
    return {"torch": g.get_state(), "numpy": np_rng.bit_generator.state}


def _set_rng_state(state: dict, g: torch.Generator, np_rng: np.random.Generator) -> None:
    g.set_state(state["torch"])
    np_rng.bit_generator.state = state["numpy"]


class _Loop:
    """Shared loop: step counting, lr, loss log, timed atomic checkpoints, time budget."""

    def __init__(self, cfg: _TrainBase, folder: Path, start_step: int, elapsed: float) -> None:
        self.cfg, self.folder = cfg, folder
        self.step, self.elapsed0 = start_step, elapsed
        self.t0 = time.time()
        self.last_ckpt = time.time()
        self.log = _LossLog(folder / "loss.csv", start_step)
        self.bar = tqdm(total=cfg.steps, initial=start_step, desc=folder.name, disable=not cfg.progress, smoothing=0.05)
        self.ema_loss: float | None = None

    def seconds(self) -> float:
        return self.elapsed0 + time.time() - self.t0

    def record(self, loss: float, lr: float) -> None:
        self.log.write(self.step, loss, lr, self.seconds())
        self.ema_loss = loss if self.ema_loss is None else 0.98 * self.ema_loss + 0.02 * loss
        self.step += 1
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.ema_loss:.4f}", lr=f"{lr:.1e}")

    def want_checkpoint(self) -> bool:
        return time.time() - self.last_ckpt > 60 * self.cfg.checkpoint_minutes

    def out_of_time(self) -> bool:
        return self.cfg.max_minutes > 0 and time.time() - self.t0 > 60 * self.cfg.max_minutes

    def close(self) -> None:
        self.bar.close()
        self.log.close()


def _load_init(cfg: _TrainBase, folder: Path) -> dict | None:
    ckpt = folder / "checkpoint.pt"
    if ckpt.exists():
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    return None


# ------------------------------------------------------------------------------ MiniCLIP
#: web-like alt texts that do not name the concept, per corpus group (``{style}`` = the image's style)
ALT_TEXTS: dict[str, tuple[str, ...]] = {
    "any": ("an icon", "clip art", "a small picture", "an image", "a {style} picture", "a {style} image",
            "free clip art", "a thumbnail"),
    "digit": ("a number", "a digit", "a {style} number", "a numeral", "a single digit"),
    "letter": ("a letter", "a character", "a {style} letter", "a glyph"),
    "animal": ("an animal", "a {style} animal", "an animal picture", "a mammal or a bird"),
    "clothing": ("clothes", "a piece of clothing", "a fashion item", "something to wear", "a {style} clothing item"),
    "object": ("an object", "a thing", "a {style} object"),
}


#: stroke-weight words for typography captions: (lowest, highest) mean stroke width in pixels at
#: 32 px (``corpus_render.stroke_width`` of the > 127 mask) -> phrase. Widths in between get no
#: word. The bands are the lower third, upper third and top tenth of the mini corpus's digits
#: (2.24 / 2.83 / 3.6 px); real MNIST strokes average 3.2 px, upsampled scikit-learn digits 4.2.
STROKE_WORDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 2.25, "in thin strokes"),
    (2.85, 3.6, "in bold strokes"),
    (3.6, float("inf"), "in very bold strokes"),
)
TYPOGRAPHY_GROUPS = ("digit", "letter")


def stroke_word_captions(corpus: Any, captions: np.ndarray | None = None) -> np.ndarray:
    """``captions`` (default the corpus's) with the stroke weight of every typography image
    (:data:`TYPOGRAPHY_GROUPS`) appended when it falls in a :data:`STROKE_WORDS` band, e.g.
    "the digit 7 written in a cursive font in bold strokes". Measured from the image, so the
    words describe what the picture shows, the way a style word does."""
    from .corpus_render import stroke_width

    out = np.asarray(corpus.captions if captions is None else captions).astype(object).copy()
    for i in np.flatnonzero(np.isin(corpus.group, TYPOGRAPHY_GROUPS)):
        w = stroke_width(corpus.images[i] > 127)
        for lo, hi, phrase in STROKE_WORDS:
            if lo < w <= hi or (lo == 0.0 and w == 0.0):
                out[i] = f"{out[i]} {phrase}"
                break
    return out.astype(str)


def lowres(images: np.ndarray, size: int = LOWRES_SIZE) -> np.ndarray:
    """uint8 images [N,H,W] box-downsampled to ``size`` px and bilinearly upsampled back."""
    from PIL import Image

    side = images.shape[-1]
    if not len(images):
        return np.zeros((0, side, side), np.uint8)
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BOX).resize((side, side), Image.BILINEAR))
                     for im in images]).astype(np.uint8)


def lowres_copies(corpus: Any, captions: np.ndarray, share: float, size: int = LOWRES_SIZE,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution copies (:func:`lowres`) of a seeded ``share`` of the typography images,
    their captions (from ``captions``) followed by :data:`LOWRES_PHRASE`, the way a web caption
    calls a thumbnail or a scan low-resolution. Returns (images uint8 [M,H,W], captions [M])."""
    rng = np.random.default_rng([seed, 8])
    typo = np.flatnonzero(np.isin(corpus.group, TYPOGRAPHY_GROUPS))
    pick = np.sort(typo[rng.random(len(typo)) < share])
    caps = np.array([f"{captions[i]} {LOWRES_PHRASE}" for i in pick], dtype=str)
    return lowres(corpus.images[pick], size), caps


def alt_text_captions(corpus: Any, share: float, seed: int) -> np.ndarray:
    """The corpus captions with a seeded ``share`` of them replaced, once and for all, by an
    alt text from :data:`ALT_TEXTS` (generic, or naming only the image's group and style), the
    way much web alt text never names what a picture shows."""
    rng = np.random.default_rng([seed, 271828])
    out = corpus.captions.astype(object).copy()
    for i in np.flatnonzero(rng.random(len(out)) < share):
        pool = ALT_TEXTS["any"] + ALT_TEXTS.get(str(corpus.group[i]), ())
        out[i] = pool[rng.integers(len(pool))].format(style=corpus.style[i])
    return out.astype(str)


def _miniclip_model(arch: str):
    import open_clip

    from .miniclip import register_miniclip

    register_miniclip()
    model = open_clip.create_model(arch, pretrained=None)  # MiniLM weights from the pip package
    return model


def train_miniclip(cfg: MiniCLIPConfig = MiniCLIPConfig()) -> Path:
    """Train MiniCLIP's image tower (and text projection) on the corpus; returns the run folder.

    Resumes from ``<run>/checkpoint.pt`` when present. Loss: symmetric InfoNCE with a learnable
    temperature; with ``targets="concept"`` every same-concept pair in the batch is a positive
    (duplicated captions are not false negatives).
    """
    folder, done = _open_run(cfg, "miniclip")
    if done:
        return folder
    corpus = _load_corpus(cfg.corpus)
    from .miniclip import miniclip_image_tensor

    # the same cached MiniLM run as MiniGen's (24 tokens; corpus captions are shorter than that)
    captions = alt_text_captions(corpus, cfg.alt_text_noise, cfg.seed) if cfg.alt_text_noise else corpus.captions
    emb = caption_embeddings(captions, MiniGenConfig.max_length, tokens=True, progress=cfg.progress)
    text_pooled = torch.from_numpy(emb["pooled"]).float()
    cap_idx = torch.from_numpy(emb["inverse"])
    concept_ids = torch.from_numpy(np.unique(corpus.concept.astype(str), return_inverse=True)[1])
    images = torch.from_numpy(corpus.images)

    model = _miniclip_model(cfg.arch)
    model.eval()  # MiniLM dropout off; the image tower is set to train below
    for p in model.text.transformer.parameters():
        p.requires_grad_(False)
    model.text.proj.requires_grad_(cfg.train_text_proj)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(cfg.init_logit_scale))
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    start, elapsed = 0, 0.0
    state = _load_init(cfg, folder)
    if state is None and cfg.init_from:
        init = torch.load(cfg.init_from, map_location="cpu", weights_only=False)
        model.load_state_dict(init["model"], strict=False)
    if state is not None:
        model.load_state_dict(state["model"], strict=False)
        opt.load_state_dict(state["opt"])
        _set_rng_state(state["rng"], g, np_rng)
        start, elapsed = state["step"], state["seconds"]

    def checkpoint(loop: _Loop) -> None:
        trained = {k: v for k, v in model.state_dict().items() if not k.startswith("text.transformer.")}
        _save_checkpoint(folder / "checkpoint.pt", {"model": trained, "opt": opt.state_dict(), "step": loop.step,
                                                    "seconds": loop.seconds(), "rng": _rng_state(g, np_rng),
                                                    "config": cfg.to_dict()})
        loop.last_ckpt = time.time()

    loop = _Loop(cfg, folder, start, elapsed)
    n = len(images)
    perm, pos = np_rng.permutation(n), 0
    model.visual.train()
    try:
        while loop.step < cfg.steps and not loop.out_of_time():
            if pos + cfg.batch_size > n:
                perm, pos = np_rng.permutation(n), 0
            idx = torch.from_numpy(perm[pos : pos + cfg.batch_size])
            pos += cfg.batch_size
            lr = _lr_at(loop.step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            x = augment_batch(images[idx].float()[:, None] / 255.0, g, cfg.augment)
            img = F.normalize(model.visual(miniclip_image_tensor(x)), dim=-1)
            txt = F.normalize(model.text.proj(text_pooled[cap_idx[idx]]), dim=-1)
            logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
            if cfg.targets == "index":
                same = torch.eye(len(idx))
            else:
                key = concept_ids[idx] if cfg.targets == "concept" else cap_idx[idx]
                same = (key[:, None] == key[None, :]).float()
            tgt = same / same.sum(1, keepdim=True)
            loss = 0.5 * (-(tgt * logits.log_softmax(1)).sum(1).mean() - (tgt * logits.log_softmax(0)).sum(0).mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loop.record(loss.item(), lr)
            if loop.want_checkpoint():
                checkpoint(loop)
        checkpoint(loop)
        if loop.step >= cfg.steps:
            atomic_write_json(folder / "done.json", {"steps": loop.step, "seconds": loop.seconds()})
    finally:
        loop.close()
    return folder


def load_miniclip_run(folder: str | Path):
    """``(model, preprocess, tokenizer)`` of a MiniCLIP run folder's checkpoint (eval mode)."""
    import open_clip

    from .miniclip import register_miniclip

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    register_miniclip()
    model, _, preprocess = open_clip.create_model_and_transforms(cfg["arch"], pretrained=None)
    state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"], strict=False)
    return model.eval(), preprocess, open_clip.get_tokenizer(cfg["arch"])


def export_miniclip(folder: str | Path, out_dir: str | Path, name: str = "miniclip.safetensors") -> Path:
    """Write the trained part of a MiniCLIP run as fp16 safetensors (+ ``arch.txt``)."""
    from safetensors.torch import save_file

    from .miniclip import trained_state_dict

    folder, out_dir = Path(folder), Path(out_dir)
    model, _, _ = load_miniclip_run(folder)
    cfg = json.loads((folder / "config.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = trained_state_dict(model)
    tmp = out_dir / f".{name}.tmp"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp), metadata={"arch": cfg["arch"]})
    os.replace(tmp, out_dir / name)
    return out_dir / name


# ------------------------------------------------------------------------------ MiniGen
def _text_norm(emb: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Per-dimension mean/std of token states (non-pad) and pooled embeddings: the UNet sees
    standardised text inputs in training; :func:`export_minigen` folds this into its weights."""
    tok = emb["tokens"].astype(np.float32)
    m = emb["mask"]
    flat = tok[m]
    pooled = emb["pooled"]
    return {
        "tok_mu": torch.from_numpy(flat.mean(0)),
        "tok_sd": torch.from_numpy(flat.std(0) + 1e-3),
        "pool_mu": torch.from_numpy(pooled.mean(0)),
        "pool_sd": torch.from_numpy(pooled.std(0) + 1e-3),
    }


def _fold_text_norm(unet, norm: dict[str, torch.Tensor]) -> None:
    """Fold ``(h - mu) / sd`` into the first linear layer that reads text (in place)."""
    with torch.no_grad():
        for lin, mu, sd in ((unet.encoder_hid_proj, norm["tok_mu"], norm["tok_sd"]),
                            (unet.class_embedding.linear_1, norm["pool_mu"], norm["pool_sd"])):
            w = lin.weight / sd[None, :]
            lin.bias -= w @ mu
            lin.weight.copy_(w)


def train_minigen(cfg: MiniGenConfig = MiniGenConfig()) -> Path:
    """Train MiniGen's UNet on the corpus; returns the run folder (resumes from its checkpoint).

    Objective: v-prediction in space-to-depth pixel space, cosine noise schedule, min-SNR-gamma
    weighting; captions dropped to "" with probability ``caption_dropout``; EMA of weights;
    AdamW with linear warmup and cosine decay.
    """
    from .minigen import make_scheduler, make_unet, to_model_space

    folder, done = _open_run(cfg, "minigen")
    if done:
        return folder
    corpus = _load_corpus(cfg.corpus)
    captions = stroke_word_captions(corpus) if cfg.stroke_words else corpus.captions
    images = corpus.images
    if cfg.lowres_share:
        lo_imgs, lo_caps = lowres_copies(corpus, captions, cfg.lowres_share, cfg.lowres_size, cfg.seed)
        images, captions = np.concatenate([images, lo_imgs]), np.concatenate([np.asarray(captions, dtype=str), lo_caps])
    emb = caption_embeddings(captions, cfg.max_length, tokens=True, progress=cfg.progress)
    state = _load_init(cfg, folder)
    init = None
    if state is None and cfg.init_from:
        init = torch.load(cfg.init_from, map_location="cpu", weights_only=False)
    # fine-tuning keeps the text standardisation of the run it starts from
    norm = (state or init or {}).get("norm") or _text_norm(emb)
    tok_all = (torch.from_numpy(emb["tokens"]).float() - norm["tok_mu"]) / norm["tok_sd"]
    mask_all = torch.from_numpy(emb["mask"])
    pool_all = (torch.from_numpy(emb["pooled"]).float() - norm["pool_mu"]) / norm["pool_sd"]
    cap_idx = torch.from_numpy(emb["inverse"])
    images = torch.from_numpy(images)

    unet = make_unet(cfg.arch, image_size=int(images.shape[-1]))  # the corpus resolution (32; 16 to compare)
    sched = make_scheduler()
    ac = sched.alphas_cumprod.float()
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    start, elapsed = 0, 0.0
    if init is not None:
        unet.load_state_dict({k: v.float() for k, v in init["unet"].items()})
        ema = {k: v.float().clone() for k, v in init["ema"].items()}
    if state is not None:
        unet.load_state_dict(state["unet"])
        ema = state["ema"]
        opt.load_state_dict(state["opt"])
        _set_rng_state(state["rng"], g, np_rng)
        start, elapsed = state["step"], state["seconds"]

    def checkpoint(loop: _Loop) -> None:
        _save_checkpoint(folder / "checkpoint.pt", {
            "unet": unet.state_dict(), "ema": ema, "opt": opt.state_dict(), "step": loop.step,
            "seconds": loop.seconds(), "rng": _rng_state(g, np_rng), "norm": norm, "config": cfg.to_dict(),
            "unet_config": dict(unet.config)})
        loop.last_ckpt = time.time()

    loop = _Loop(cfg, folder, start, elapsed)
    n = len(images)
    perm, pos = np_rng.permutation(n), 0
    unet.train()
    ema_params = [(ema[k], p) for k, p in unet.named_parameters()]
    try:
        while loop.step < cfg.steps and not loop.out_of_time():
            if pos + cfg.batch_size > n:
                perm, pos = np_rng.permutation(n), 0
            idx = torch.from_numpy(perm[pos : pos + cfg.batch_size])
            pos += cfg.batch_size
            lr = _lr_at(loop.step, cfg, cfg.final_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            b = len(idx)
            z0 = to_model_space(images[idx].float()[:, None] / 127.5 - 1)
            noise = torch.randn(z0.shape, generator=g)
            t = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=g)
            zt = sched.add_noise(z0, noise, t)
            v = sched.get_velocity(z0, noise, t)
            ci = cap_idx[idx].clone()
            ci[torch.rand(b, generator=g) < cfg.caption_dropout] = 0  # row 0 is the empty caption
            pred = unet(zt, t, encoder_hidden_states=tok_all[ci], class_labels=pool_all[ci],
                        encoder_attention_mask=mask_all[ci]).sample
            per = (pred - v).pow(2).mean((1, 2, 3))
            if cfg.min_snr_gamma > 0:
                snr = ac[t] / (1 - ac[t])
                per = per * snr.clamp(max=cfg.min_snr_gamma) / (snr + 1)
            loss = per.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            d = min(cfg.ema_decay, (1 + loop.step) / (10 + loop.step))
            with torch.no_grad():
                for e, p in ema_params:
                    e.mul_(d).add_(p.detach(), alpha=1 - d)
            loop.record(loss.item(), lr)
            if loop.want_checkpoint():
                checkpoint(loop)
        checkpoint(loop)
        if loop.step >= cfg.steps:
            atomic_write_json(folder / "done.json", {"steps": loop.step, "seconds": loop.seconds()})
    finally:
        loop.close()
    return folder


def minigen_from_checkpoint(path: str | Path, use_ema: bool = True, scheduler: Any = None):
    """A :class:`MiniGenPipeline` (fp32, CPU) from a training ``checkpoint.pt`` (or run folder)."""
    from diffusers import UNet2DConditionModel

    from .miniclip import load_minilm
    from .minigen import MiniGenPipeline, make_scheduler

    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    state = torch.load(path, map_location="cpu", weights_only=False)
    unet = UNet2DConditionModel.from_config(state["unet_config"])
    unet.load_state_dict({k: v.float() for k, v in (state["ema"] if use_ema else state["unet"]).items()})
    _fold_text_norm(unet, state["norm"])
    tok, bert = load_minilm()
    pipe = MiniGenPipeline(unet=unet.eval(), scheduler=scheduler or make_scheduler(), text_encoder=bert,
                           tokenizer=tok, max_length=state["config"]["max_length"])
    return pipe


def export_minigen(path: str | Path, out_dir: str | Path, use_ema: bool = True, fp16: bool = True) -> Path:
    """Save a checkpoint as a diffusers folder (``model_index.json``, ``unet/``, ``scheduler/``)
    without the MiniLM text encoder/tokenizer (they come from the pip package at load). Other
    top-level files already in ``out_dir`` (the model card, loss logs) are kept."""
    import shutil

    pipe = minigen_from_checkpoint(path, use_ema=use_ema)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    if fp16:
        pipe.unet.to(torch.float16)
    pipe.save_pretrained(tmp, safe_serialization=True)
    for sub in ("text_encoder", "tokenizer"):
        shutil.rmtree(tmp / sub, ignore_errors=True)
    if out_dir.exists():
        for f in out_dir.iterdir():
            if f.is_file() and not (tmp / f.name).exists():
                shutil.copy2(f, tmp / f.name)
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


# ------------------------------------------------------------------------------ model cards
def write_model_card(out_dir: str | Path, title: str, run_folders: list[str | Path], corpus: Any, command: str,
                     metrics: dict[str, Any], notes: str = "") -> Path:
    """Write ``README.md`` (a model card) into ``out_dir``: data (corpus key and counts), recipe
    (each stage's config), command, seed, wall time, steps and measured metrics."""
    out_dir = Path(out_dir)
    lines = [f"# {title}", "", notes.strip(), "", "## Data", ""]
    if corpus is not None:
        stats = corpus.stats or {}
        lines += [f"- corpus file: `{Path(str(corpus.path)).parent.name}/corpus.npz` ({len(corpus)} images)",
                  f"- per group: {dict(sorted({str(g): int((corpus.group == g).sum()) for g in np.unique(corpus.group)}.items()))}",
                  f"- per style: {dict(sorted({str(s): int((corpus.style == s).sum()) for s in np.unique(corpus.style)}.items()))}"]
        if stats.get("key"):
            lines.append(f"- corpus key: `{stats['key']}`")
    lines += ["", "## Recipe (training stages, in order)", ""]
    total_s = 0.0
    for folder in run_folders:
        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        rows = read_loss(folder)
        secs = rows[-1]["seconds"] if rows else 0.0
        total_s += secs
        last = float(np.mean([r["loss"] for r in rows[-50:]])) if rows else float("nan")
        lines += [f"### `{folder.name}`", "", f"- steps run: {len(rows)} of {cfg['steps']}; wall time {secs / 60:.1f} min "
                  f"({cfg.get('threads', 1)} CPU thread(s)); final loss (mean of last 50 steps) {last:.4f}; seed {cfg['seed']}",
                  "- config:", "", "```json", json.dumps(cfg, indent=1, sort_keys=True), "```", ""]
    lines += [f"Total training wall time: {total_s / 60:.1f} min.", "", "## Command", "", "```python", command.strip(), "```",
              "", "## Metrics (measured)", "", "```json", json.dumps(metrics, indent=1, sort_keys=True, default=float), "```", ""]
    path = out_dir / "README.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    from ..utils import atomic_write_text

    atomic_write_text(path, "\n".join(lines))
    return path


def slim_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """A small copy of a MiniGen ``checkpoint.pt`` to ship for later fine-tuning (``init_from``):
    UNet and EMA weights in fp16, text standardisation, configs and step; no optimizer state."""
    state = torch.load(src, map_location="cpu", weights_only=False)
    half = {k: {n: v.half() if v.is_floating_point() else v for n, v in state[k].items()} for k in ("unet", "ema")}
    slim = {**half, "norm": state["norm"], "config": state["config"], "unet_config": state["unet_config"],
            "step": state["step"], "seconds": state["seconds"]}
    _save_checkpoint(Path(dst), slim)
    return Path(dst)
