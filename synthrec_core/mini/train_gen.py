"""The MiniGen training recipe: the training run, its text standardisation, and turning a run
into a pipeline, a shippable diffusers folder or a portable checkpoint for continuing.

:func:`train_minigen` trains MiniGen's UNet (v-prediction, min-SNR weighting, caption dropout,
EMA) in a resumable run folder (:mod:`.train_runs`), optionally continuing another checkpoint
(``init_from``: weights, EMA and text standardisation; a fresh optimizer). A run that continues
one records what it started from in ``init.json``. :func:`minigen_from_checkpoint` builds a
pipeline from a checkpoint, :func:`export_minigen` the shipped diffusers folder and
:func:`slim_checkpoint` the portable fp16 checkpoint (safetensors + JSON) that the next stage of a
chain, or a user, continues from. The model and pipeline are defined in :mod:`.minigen`; stage
chains are run by :mod:`.train_chain`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..utils import atomic_write_json
from .train_captions import lowres_copies, stroke_word_captions
from .train_checkpoints import checkpoint_identity, load_checkpoint, save_checkpoint, save_portable_checkpoint
from .train_configs import MiniGenConfig
from .train_runs import TrainLoop, caption_embeddings, load_training_corpus, open_run, restore, resume_state, rng_state, run_steps

__all__ = ["train_minigen", "minigen_from_checkpoint", "export_minigen", "slim_checkpoint", "text_norm", "fold_text_norm",
           "SHIPPED_MINIGEN_CHECKPOINT"]

#: the shipped MiniGen's portable training checkpoint (the point the shipped weights are the EMA of), for ``init_from``
SHIPPED_MINIGEN_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "minigen_checkpoint"


def text_norm(emb: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Per-dimension mean/std of token states (non-pad) and pooled embeddings: the UNet sees
    standardised text inputs in training; :func:`export_minigen` folds this into its weights."""
    tok = emb["tokens"].astype(np.float32)
    flat = tok[emb["mask"]]
    pooled = emb["pooled"]
    return {
        "tok_mu": torch.from_numpy(flat.mean(0)),
        "tok_sd": torch.from_numpy(flat.std(0) + 1e-3),
        "pool_mu": torch.from_numpy(pooled.mean(0)),
        "pool_sd": torch.from_numpy(pooled.std(0) + 1e-3),
    }


def fold_text_norm(unet, norm: dict[str, torch.Tensor]) -> None:
    """Fold ``(h - mu) / sd`` into the first linear layer that reads text (in place)."""
    with torch.no_grad():
        for lin, mu, sd in ((unet.encoder_hid_proj, norm["tok_mu"], norm["tok_sd"]),
                            (unet.class_embedding.linear_1, norm["pool_mu"], norm["pool_sd"])):
            w = lin.weight / sd[None, :]
            lin.bias -= w @ mu
            lin.weight.copy_(w)


_text_norm, _fold_text_norm = text_norm, fold_text_norm  # the old private names


def _training_data(cfg: MiniGenConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The training images (with any low-resolution copies) and their caption embeddings."""
    corpus = load_training_corpus(cfg.corpus)
    captions = stroke_word_captions(corpus) if cfg.stroke_words else corpus.captions
    images = corpus.images
    if cfg.lowres_share:
        lo_imgs, lo_caps = lowres_copies(corpus, captions, cfg.lowres_share, cfg.lowres_size, cfg.seed)
        images, captions = np.concatenate([images, lo_imgs]), np.concatenate([np.asarray(captions, dtype=str), lo_caps])
    return images, caption_embeddings(captions, cfg.max_length, tokens=True, progress=cfg.progress)


def train_minigen(cfg: MiniGenConfig = MiniGenConfig()) -> Path:
    """Train MiniGen's UNet on the corpus; returns the run folder (resumes from its checkpoint).

    Objective: v-prediction in space-to-depth pixel space, cosine noise schedule, min-SNR-gamma
    weighting; captions dropped to "" with probability ``caption_dropout``; EMA of weights;
    AdamW with linear warmup and cosine decay. With ``init_from`` the run starts from that
    checkpoint's UNet and EMA weights and keeps its text standardisation.
    """
    from ..features import weights_hash
    from .minigen import make_scheduler, make_unet, to_model_space

    folder, done = open_run(cfg, "minigen")
    if done:
        return folder
    images, emb = _training_data(cfg)
    state = resume_state(folder)
    init = load_checkpoint(cfg.init_from) if state is None and cfg.init_from else None
    # fine-tuning keeps the text standardisation of the run it starts from
    norm = (state or init or {}).get("norm") or text_norm(emb)
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
        atomic_write_json(folder / "init.json", {"init_from": cfg.init_from, "identity": checkpoint_identity(cfg.init_from),
                                                 "step": init.get("step"), "unet_weights": weights_hash(unet)})
    if state is not None:
        unet.load_state_dict(state["unet"])
        ema = state["ema"]
        start, elapsed = restore(state, opt, g, np_rng)

    def checkpoint(loop: TrainLoop) -> None:
        save_checkpoint(folder / "checkpoint.pt", {
            "unet": unet.state_dict(), "ema": ema, "opt": opt.state_dict(), "step": loop.step,
            "seconds": loop.seconds(), "rng": rng_state(g, np_rng), "norm": norm, "config": cfg.to_dict(),
            "unet_config": dict(unet.config)})

    unet.train()
    ema_params = [(ema[k], p) for k, p in unet.named_parameters()]
    def step(idx: torch.Tensor, i: int) -> float:
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
        d = min(cfg.ema_decay, (1 + i) / (10 + i))
        with torch.no_grad():
            for e, p in ema_params:
                e.mul_(d).add_(p.detach(), alpha=1 - d)
        return loss.item()

    run_steps(cfg, folder, opt, len(images), np_rng, start, elapsed, step, checkpoint, cfg.final_lr_ratio)
    return folder


def minigen_from_checkpoint(path: str | Path, use_ema: bool = True, scheduler: Any = None):
    """A :class:`MiniGenPipeline` (fp32, CPU) from a checkpoint: a run folder, its ``checkpoint.pt``
    or a portable checkpoint folder (:func:`slim_checkpoint`)."""
    from diffusers import UNet2DConditionModel

    from .miniclip import load_minilm
    from .minigen import MiniGenPipeline, make_scheduler

    state = load_checkpoint(path)
    unet = UNet2DConditionModel.from_config(state["unet_config"])
    unet.load_state_dict({k: v.float() for k, v in (state["ema"] if use_ema else state["unet"]).items()})
    fold_text_norm(unet, state["norm"])
    tok, bert = load_minilm()
    return MiniGenPipeline(unet=unet.eval(), scheduler=scheduler or make_scheduler(), text_encoder=bert,
                           tokenizer=tok, max_length=state["config"]["max_length"])


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


def slim_checkpoint(src: str | Path, dst: str | Path, **record: Any) -> Path:
    """A portable copy of a MiniGen checkpoint for continuing training (``init_from``): UNet and
    EMA weights in fp16 and the text standardisation (``dst/checkpoint.safetensors``), configs,
    step and wall time (``dst/checkpoint.json``); no optimizer state, no pickle, no machine path
    (the config's ``init_from`` / ``out_dir`` are emptied; a run folder's ``init.json`` identity is
    kept as ``init_identity``). ``record``
    entries are added to (or replace) the JSON's top-level entries. Returns ``dst``."""
    state = load_checkpoint(src)
    half = {k: {n: v.half() if v.is_floating_point() else v for n, v in state[k].items()} for k in ("unet", "ema")}
    norm = {k: v.float() for k, v in state["norm"].items()}
    # the recorded config without machine paths; what the run started from is kept by content
    config = {**state["config"], "init_from": "", "out_dir": ""}
    init = Path(src) / "init.json"
    started = {"init_identity": json.loads(init.read_text())["identity"]} if init.is_file() else {}
    slim = {**half, "norm": norm, "config": config, "unet_config": dict(state["unet_config"]),
            "step": state["step"], "seconds": state["seconds"], **started, **record}
    return save_portable_checkpoint(slim, dst)
