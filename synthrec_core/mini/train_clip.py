"""The MiniCLIP training recipe: its augmentation, the training run, loading and exporting a run.

:func:`train_miniclip` trains MiniCLIP's image tower (and text projection) contrastively against
the frozen MiniLM on the foundation corpus, in a resumable run folder (:mod:`.train_runs`).
:func:`load_miniclip_run` loads a run as an open_clip model; :func:`export_miniclip` writes the
shippable trained parts (fp16 safetensors). The model itself is defined in :mod:`.miniclip`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .train_captions import alt_text_captions
from .train_checkpoints import load_checkpoint, save_checkpoint
from .train_configs import MiniCLIPConfig, MiniGenConfig
from .train_runs import TrainLoop, caption_embeddings, load_training_corpus, open_run, restore, resume_state, rng_state, run_steps

__all__ = ["augment_batch", "train_miniclip", "load_miniclip_run", "export_miniclip"]


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


def _miniclip_model(arch: str):
    import open_clip

    from .miniclip import register_miniclip

    register_miniclip()
    return open_clip.create_model(arch, pretrained=None)  # MiniLM weights from the pip package


def train_miniclip(cfg: MiniCLIPConfig = MiniCLIPConfig()) -> Path:
    """Train MiniCLIP's image tower (and text projection) on the corpus; returns the run folder.

    Resumes from ``<run>/checkpoint.pt`` when present. Loss: symmetric InfoNCE with a learnable
    temperature; with ``targets="concept"`` every same-concept pair in the batch is a positive
    (duplicated captions are not false negatives).
    """
    from .miniclip import miniclip_image_tensor

    folder, done = open_run(cfg, "miniclip")
    if done:
        return folder
    corpus = load_training_corpus(cfg.corpus)
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
    state = resume_state(folder)
    if state is None and cfg.init_from:
        model.load_state_dict(load_checkpoint(cfg.init_from)["model"], strict=False)
    if state is not None:
        model.load_state_dict(state["model"], strict=False)
        start, elapsed = restore(state, opt, g, np_rng)

    def checkpoint(loop: TrainLoop) -> None:
        trained = {k: v for k, v in model.state_dict().items() if not k.startswith("text.transformer.")}
        save_checkpoint(folder / "checkpoint.pt", {"model": trained, "opt": opt.state_dict(), "step": loop.step,
                                                   "seconds": loop.seconds(), "rng": rng_state(g, np_rng),
                                                   "config": cfg.to_dict()})

    def step(idx: torch.Tensor, i: int) -> float:
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
        return loss.item()

    model.visual.train()
    run_steps(cfg, folder, opt, len(images), np_rng, start, elapsed, step, checkpoint)
    return folder


def load_miniclip_run(folder: str | Path):
    """``(model, preprocess, tokenizer)`` of a MiniCLIP run folder's checkpoint (eval mode)."""
    import open_clip

    from .miniclip import register_miniclip

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    register_miniclip()
    model, _, preprocess = open_clip.create_model_and_transforms(cfg["arch"], pretrained=None)
    model.load_state_dict(load_checkpoint(folder)["model"], strict=False)
    return model.eval(), preprocess, open_clip.get_tokenizer(cfg["arch"])


def export_miniclip(folder: str | Path, out_dir: str | Path, name: str = "miniclip.safetensors") -> Path:
    """Write the trained part of a MiniCLIP run as fp16 safetensors (the arch in its metadata)."""
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
