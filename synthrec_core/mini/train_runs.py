"""Run plumbing shared by the MiniCLIP and MiniGen recipes: run folders, checkpoints, loss logs,
resume, the learning-rate schedule, the step loop, and the training data they read.

A run folder (``cfg.out_dir`` or ``cache_dir()/mini/runs/<model>-<cfg.cache_key()>``) holds

- ``config.json``: the config;
- ``checkpoint.pt``: model, EMA, optimizer, step, RNG state; written atomically every
  ``checkpoint_minutes`` and at the end; a re-run with the same config resumes from it
  (formats in :mod:`.train_checkpoints`);
- ``loss.csv``: ``step,loss,lr,seconds``;
- ``done.json`` when the config's last step is reached.

The frozen MiniLM is run once per set of captions: :func:`caption_embeddings` caches pooled
embeddings and token states in ``cache_dir()/mini/text/<hash>.npz``, so training never runs BERT.
The recipes themselves are in :mod:`.train_clip` and :mod:`.train_gen`.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from ..progress import progress

from ..paths import cache_dir
from ..utils import atomic_write_bytes, atomic_write_json, seed_everything, stable_hash
from .train_checkpoints import load_checkpoint
from .train_configs import TrainConfig

__all__ = [
    "run_dir",
    "open_run",
    "read_loss",
    "lr_at",
    "TrainLoop",
    "run_steps",
    "resume_state",
    "restore",
    "rng_state",
    "set_rng_state",
    "load_training_corpus",
    "caption_embeddings",
]

# ------------------------------------------------------------------------------ run folders
def run_dir(cfg: TrainConfig, model: str) -> Path:
    """The run folder of ``cfg`` (``cfg.out_dir`` if set)."""
    if cfg.out_dir:
        return Path(cfg.out_dir)
    return cache_dir() / "mini" / "runs" / f"{model}-{cfg.cache_key()}"


def open_run(cfg: TrainConfig, model: str) -> tuple[Path, bool]:
    """Set threads, create the run folder, record the config and seed; ``done`` if it finished before."""
    torch.set_num_threads(cfg.threads)
    folder = run_dir(cfg, model)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", cfg.to_dict())
    done = (folder / "done.json").exists()
    if not done:
        seed_everything(cfg.seed)
    return folder, done


# ------------------------------------------------------------------------------ checkpoints
def resume_state(folder: Path) -> dict | None:
    """The state of ``folder/checkpoint.pt`` when the run has one (it resumes from it), else None."""
    ckpt = folder / "checkpoint.pt"
    return load_checkpoint(ckpt) if ckpt.exists() else None


def restore(state: dict, opt: torch.optim.Optimizer, g: torch.Generator, np_rng: np.random.Generator) -> tuple[int, float]:
    """Restore optimizer and generators from a resumable ``state``; returns ``(step, seconds)``."""
    opt.load_state_dict(state["opt"])
    set_rng_state(state["rng"], g, np_rng)
    return state["step"], state["seconds"]


def rng_state(g: torch.Generator, np_rng: np.random.Generator) -> dict:
    """The torch and NumPy generator states, for a checkpoint."""
    return {"torch": g.get_state(), "numpy": np_rng.bit_generator.state}


def set_rng_state(state: dict, g: torch.Generator, np_rng: np.random.Generator) -> None:
    """Restore what :func:`rng_state` saved."""
    g.set_state(state["torch"])
    np_rng.bit_generator.state = state["numpy"]


# ------------------------------------------------------------------------------ loss log, schedule
def lr_at(step: int, cfg: TrainConfig, final_ratio: float = 0.1) -> float:
    """Linear warmup over ``cfg.warmup_steps``, then cosine decay to ``cfg.lr * final_ratio`` at ``cfg.steps``."""
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


# ------------------------------------------------------------------------------ the step loop
class TrainLoop:
    """Step counting, loss log, progress bar, timed checkpoints and the time budget of one run."""

    def __init__(self, cfg: TrainConfig, folder: Path, start_step: int, elapsed: float) -> None:
        self.cfg, self.folder = cfg, folder
        self.step, self.elapsed0 = start_step, elapsed
        self.t0 = time.time()
        self.last_ckpt = time.time()
        self.log = _LossLog(folder / "loss.csv", start_step)
        self.bar = progress(cfg.last_step(), folder.name, "step", disable=not cfg.progress, initial=start_step)
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


def run_steps(cfg: TrainConfig, folder: Path, opt: torch.optim.Optimizer, n_items: int, np_rng: np.random.Generator,
              start: int, elapsed: float, step: Callable[[torch.Tensor, int], float],
              checkpoint: Callable[[TrainLoop], None], final_lr_ratio: float = 0.1) -> None:
    """Train from ``start`` to ``cfg.last_step()`` (or the time budget): each step draws the next
    ``cfg.batch_size`` indices of a seeded permutation of ``range(n_items)``, sets the learning
    rate (:func:`lr_at`) and calls ``step(indices, step_number)``, which returns the loss. ``checkpoint(loop)``
    is called on the checkpoint timer and at the end; ``done.json`` is written at the last step."""
    loop = TrainLoop(cfg, folder, start, elapsed)
    perm, pos = np_rng.permutation(n_items), 0
    try:
        while loop.step < cfg.last_step() and not loop.out_of_time():
            if pos + cfg.batch_size > n_items:
                perm, pos = np_rng.permutation(n_items), 0
            idx = torch.from_numpy(perm[pos : pos + cfg.batch_size])
            pos += cfg.batch_size
            lr = lr_at(loop.step, cfg, final_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            loop.record(step(idx, loop.step), lr)
            if loop.want_checkpoint():
                checkpoint(loop)
                loop.last_ckpt = time.time()
        checkpoint(loop)
        if loop.step >= cfg.last_step():
            atomic_write_json(folder / "done.json", {"steps": loop.step, "seconds": loop.seconds()})
    finally:
        loop.close()


# ------------------------------------------------------------------------------ training data
def load_training_corpus(spec: str):
    """The corpus a recipe names: a corpus preset name (built once, cached) or a ``corpus.npz`` path."""
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
