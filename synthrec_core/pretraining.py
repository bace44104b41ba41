"""Pre-training on synthetic images (paper §3): supervised CE or MoCo v2, one process or DDP.

Public API:

- :class:`PretrainConfig` (frozen, validated; presets as data in :data:`PRESETS`, e.g.
  ``PretrainConfig.preset("mini-moco", epochs=5)``; both defined in ``pretrain_config``).
- :func:`pretrain(cfg, images, labels, out_dir=None) <pretrain>` -> :class:`PretrainResult`:
  trains on uint8 arrays ``[N,H,W]`` / ``[N,H,W,3]`` (see ``pretrain_data.decode_set`` for sets
  on disk). ``method="supervised"``: cross-entropy over the synthetic label space.
  ``method="moco"``: MoCo v2 (:class:`MoCo`: query encoder = backbone + 2-layer MLP head, key
  encoder its EMA with momentum m, a queue of K negatives, InfoNCE at temperature T).
  ``init_from`` starts from given weights ("+ ImageNet weights" rows of the paper).
- ``python -m synthrec_core.pretraining --config cfg.json --data arrays.npz`` (or ``--set DIR``);
  the same under ``torchrun --nproc_per_node 2 -m synthrec_core.pretraining ...`` (and so
  ``accelerate launch``): DDP, gloo on CPU, NCCL on GPU.

Distributed: the global batch ``cfg.global_batch`` is split evenly over the ranks; each rank
takes a contiguous slice of every global batch of the epoch's seeded permutation
(``pretrain_data.shard``); augmentation parameters are drawn per global batch, so every image
is augmented the same way at any world size. MoCo keys are all-gathered in rank order before
they are enqueued. With ``norm="group"`` (or a ViT) 2 ranks compute what 1 process computes up
to float summation order; so does ``norm="sync_batch"`` (BatchNorm over the global batch:
torch's SyncBatchNorm on GPUs, ``distributed.GlobalBatchNorm`` on CPU, where torch 2.14 has no
SyncBatchNorm); with ``norm="default"`` BatchNorm each rank normalises over its own slice
(plain DDP), which is *not* what one process computes. A MoCo head's BatchNorm
(``moco_head_bn``) is always global under DDP. MoCo's shuffle-BN is not implemented.

Checkpoints: after every epoch rank 0 writes ``checkpoint.pt`` atomically (model incl. MoCo
key encoder and queue, optimiser, scheduler, RNG states, history and the run key: a hash of
the config, the data and the ``init_from`` weights). A killed run started again with the same
``out_dir`` resumes from it and ends with the same weights (bit-identical on CPU with the same
thread and process count). A checkpoint of another run in ``out_dir`` is a ``ConfigError``
before any training. At the end ``final.pt`` holds the feature extractor (see
``backbones.load_backbone_weights``). Errors on one rank during setup or checkpointing are
raised on every rank; a crash inside a training step is left to torchrun, which stops the
other workers. Not here: transfer (see ``transfer``), DeiT's recipe extras (RandAugment,
mixup/cutmix, repeated augmentation, drop path), real GPU runs of the paper profile.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .backbones import Backbone, build_backbone, get_spec, load_backbone_weights
from .config import ConfigError, check
from .moco import MoCo, moco_loss
from .paths import cache_dir
from .pretrain_config import PRESETS, PretrainConfig, lr_lambda
from .pretrain_data import array_key, as_uint8_tensor, augment, batch_generator, epoch_permutation, shard
from .utils import atomic_write_bytes, atomic_write_json, file_sha256, stable_hash

__all__ = ["PretrainConfig", "PRESETS", "PretrainResult", "pretrain", "lr_lambda", "main"]


# --------------------------------------------------------------------------- results and checkpoints

CHECKPOINT, FINAL, PROGRESS = "checkpoint.pt", "final.pt", "progress.json"


@dataclasses.dataclass
class PretrainResult:
    """What :func:`pretrain` made: ``path`` is ``final.pt`` (the feature extractor), ``history``
    one dict per epoch (loss, train_acc, lr, images_per_s, data_share, ...)."""

    path: Path
    run_key: str
    config: PretrainConfig
    history: list[dict[str, Any]]
    in_chans: int
    resumed_from: int | None = None  # the checkpoint epoch this call resumed from
    cached: bool = False  # True: final.pt already existed, nothing was trained

    def load_backbone(self, num_classes: int | None = None, device: str = "cpu") -> Backbone:
        """The pre-trained feature extractor (a new Linear head if ``num_classes``)."""
        model, _ = build_backbone(self.config.backbone, self.in_chans, num_classes, self.config.norm, seed=self.config.seed)
        load_backbone_weights(model, self.path)
        return model.to(device)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for results files and plots."""
        return {"path": str(self.path), "run_key": self.run_key, "config": self.config.to_dict(), "history": self.history,
                "in_chans": self.in_chans, "resumed_from": self.resumed_from, "cached": self.cached}


def _save(path: Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _key_payload(cfg: PretrainConfig, data_key: str, init_key: str | None) -> dict[str, Any]:
    return {"config": {k: v for k, v in cfg.to_dict().items() if k not in cfg._not_in_key}, "data": data_key, "init": init_key}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    cfg_old, cfg_new = old.get("config", {}), new["config"]
    diffs = [f"{k}: {cfg_old.get(k)!r} -> {cfg_new.get(k)!r}" for k in sorted(set(cfg_old) | set(cfg_new)) if cfg_old.get(k) != cfg_new.get(k)]
    diffs += [f"{k} key: {old.get(k)} -> {new[k]}" for k in ("data", "init") if old.get(k) != new[k]]
    return "; ".join(diffs) or "(same fields: a different code version?)"


def _prepare(cfg: PretrainConfig, images: Any, labels: Any, out_dir: Any, world: int) -> dict[str, Any]:
    """Every check that can fail, before anything is built or trained (same on every rank)."""
    x = as_uint8_tensor(images)
    n = len(x)
    check(cfg.global_batch % world == 0, f"global_batch={cfg.global_batch} is not divisible by the world size {world}")
    check(n >= cfg.global_batch, f"the set has {n} images, fewer than global_batch={cfg.global_batch}")
    y = num_classes = None  # MoCo ignores labels (and they are not part of its run key)
    if cfg.method == "supervised":
        check(labels is not None, "supervised pre-training needs labels")
        y = torch.from_numpy(np.array(labels, dtype=np.int64)).reshape(-1)  # a copy: writable
        check(len(y) == n, f"{len(y)} labels for {n} images")
        check(int(y.min()) >= 0, "labels must be >= 0")
        check(len(torch.unique(y)) >= 2, f"the label space has one class ({int(y[0])}); supervised pre-training needs two or more")
        num_classes = int(y.max()) + 1
    init_key = None
    if cfg.init_from is not None:
        check(Path(cfg.init_from).exists(), f"init_from={cfg.init_from!r} does not exist")
        init_key = file_sha256(cfg.init_from)[:16]
    payload = _key_payload(cfg, array_key(x, y if y is not None else torch.zeros(0)), init_key)
    run_key = stable_hash(payload)
    out = Path(out_dir) if out_dir is not None else cache_dir() / "pretrain" / run_key
    ckpt = final = None
    for name in (FINAL, CHECKPOINT):
        if (out / name).exists():
            found = torch.load(out / name, map_location="cpu", weights_only=False)
            check(found.get("run_key") == run_key,
                  f"{out / name} belongs to another run (key {found.get('run_key')}, this run {run_key}): "
                  f"{_differences(found.get('key_payload', {}), payload)}. Use another out_dir or delete it.")
            final, ckpt = (found, ckpt) if name == FINAL else (final, found)
            if final is not None:
                break
    return {"x": x, "y": y, "num_classes": num_classes, "run_key": run_key, "payload": payload, "out": out,
            "ckpt": ckpt, "final": final}


def _build(cfg: PretrainConfig, in_chans: int, num_classes: int | None, world: int, device: str) -> tuple[nn.Module, nn.Module, Backbone]:
    """(whole model to checkpoint, the part that is trained and wrapped in DDP, the backbone)."""
    backbone, _ = build_backbone(cfg.backbone, in_chans, num_classes, cfg.norm, seed=cfg.seed)
    if cfg.init_from is not None:
        load_backbone_weights(backbone, cfg.init_from)
    if cfg.method == "supervised":
        model = trained = backbone
    else:
        model = MoCo(backbone, cfg.moco_dim, cfg.moco_hidden, cfg.moco_queue, cfg.moco_m, cfg.moco_t, seed=cfg.seed,
                     head_bn=cfg.moco_head_bn)
        trained = model.encoder_q
    if world > 1:  # BatchNorm over the global batch: the backbone's if asked, MoCo's head's always
        for part in [model] if cfg.norm == "sync_batch" else ([model.encoder_q[1], model.encoder_k[1]] if cfg.method == "moco" else []):
            distributed.sync_batchnorm(part, device)  # in place
    return model.to(device), trained, backbone


# --------------------------------------------------------------------------- the training loop


def _sync_time(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _epoch(cfg: PretrainConfig, p: dict[str, Any], model: nn.Module, net: nn.Module, opt: Any, sched: Any, epoch: int,
           rank: int, world: int, dist: Any, device: str) -> dict[str, Any]:
    """One pass over the epoch's permutation; returns the epoch's history row (global means)."""
    x, y, B = p["x"], p["y"], cfg.global_batch
    size, steps = get_spec(cfg.backbone).input_size, len(x) // B
    perm = epoch_permutation(len(x), cfg.seed, epoch)
    model.train()
    stats = torch.zeros(2, steps, dtype=torch.float64)  # loss, accuracy per step (this rank's slice)
    t_data, t0 = 0.0, _sync_time(device)
    for step in range(steps):
        td = _sync_time(device)
        idx, rows = shard(perm, step, B, rank, world)
        xb = x[idx].to(device, non_blocking=True)
        views = [augment(xb, cfg.aug, batch_generator(cfg.seed, epoch, step, v), size, rows, B)
                 for v in range(1 if cfg.method == "supervised" else 2)]
        t_data += _sync_time(device) - td
        if cfg.method == "supervised":
            logits = net(views[0])
            target = y[idx].to(device)
            loss, acc = F.cross_entropy(logits, target), (logits.argmax(1) == target).float()
        else:
            q = F.normalize(net(views[0]), dim=1)
            model.momentum_update()
            k = model.keys(views[1])
            loss, acc = moco_loss(model.logits(q, k))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if cfg.method == "moco":
            model.enqueue(distributed.gather_cat(dist, k))
        stats[0, step], stats[1, step] = float(loss.detach()), float(acc.mean())
    wall = _sync_time(device) - t0
    if dist is not None:
        stats = stats.to(device)
        dist.all_reduce(stats)
        stats = stats.cpu() / world
    return {"epoch": epoch, "loss": float(stats[0].mean()), "train_acc": float(stats[1].mean()),
            "lr": float(opt.param_groups[0]["lr"]), "steps": steps, "images": steps * B, "seconds": wall,
            "images_per_s": steps * B / wall, "data_s": t_data, "data_share": t_data / wall, "world": world,
            "threads": torch.get_num_threads()}


def pretrain(cfg: PretrainConfig, images: Any, labels: Any = None, out_dir: str | os.PathLike | None = None,
             log: bool = True) -> PretrainResult:
    """Pre-train ``cfg.backbone`` on uint8 ``images`` (+ int ``labels``; MoCo ignores them).

    ``out_dir`` (default ``cache_dir()/pretrain/<run key>``) holds ``checkpoint.pt`` (every
    epoch), ``progress.json`` and, at the end, ``final.pt``. A finished run is returned at once
    (``cached=True``); a killed one resumes from its checkpoint. Raises :class:`ConfigError`
    before any training for: a set smaller than the global batch, one class (supervised), a
    global batch not divisible by the world size, a checkpoint/final file of another run in
    ``out_dir``, an ``init_from`` of another architecture. Under torchrun every rank calls it alike.
    """
    rank, world, dist, device = distributed.setup(cfg.device)
    p: dict[str, Any] = {}
    distributed.agree(dist, distributed.attempt(lambda: p.update(_prepare(cfg, images, labels, out_dir, world))), device)
    out, in_chans = p["out"], p["x"].shape[1]
    result = lambda hist, resumed, cached: PretrainResult(out / FINAL, p["run_key"], cfg, hist, in_chans, resumed, cached)  # noqa: E731
    if p["final"] is not None:
        return result(p["final"]["history"], None, True)
    built: list[Any] = []
    distributed.agree(dist, distributed.attempt(lambda: built.extend(_build(cfg, in_chans, p["num_classes"], world, device))), device)
    model, trained, backbone = built
    steps = len(p["x"]) // cfg.global_batch
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(trained.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(trained.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, steps))
    history: list[dict[str, Any]] = []
    start, resumed = 1, None
    if p["ckpt"] is not None:
        c = p["ckpt"]
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["optimizer"])
        sched.load_state_dict(c["scheduler"])
        _set_rng_state(c["rng"])
        history, start, resumed = c["history"], c["epoch"] + 1, c["epoch"]
    net = trained
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(trained, device_ids=[device] if device.startswith("cuda") else None)
    for epoch in range(start, cfg.epochs + 1):
        row = _epoch(cfg, p, model, net, opt, sched, epoch, rank, world, dist, device)
        history.append(row)
        if log and rank == 0:
            print(f"[pretrain {p['run_key']}] epoch {epoch}/{cfg.epochs} loss {row['loss']:.4f} acc {row['train_acc']:.3f} "
                  f"{row['images_per_s']:.0f} img/s (data {100 * row['data_share']:.0f}%)", file=sys.stderr, flush=True)

        def write_checkpoint() -> None:
            if rank == 0:
                _save(out / CHECKPOINT, {"run_key": p["run_key"], "key_payload": p["payload"], "epoch": epoch,
                                         "model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scheduler": sched.state_dict(), "rng": _rng_state(), "history": history})
                atomic_write_json(out / PROGRESS, {"run_key": p["run_key"], "epoch": epoch, "epochs": cfg.epochs, "history": history})

        distributed.agree(dist, distributed.attempt(write_checkpoint), device)

    def write_final() -> None:
        if rank == 0:
            body = {k: v.detach().cpu() for k, v in backbone.body.state_dict().items()}
            _save(out / FINAL, {"kind": "synthrec-pretrain", "backbone": cfg.backbone, "in_chans": in_chans, "norm": cfg.norm,
                                "body": body, "run_key": p["run_key"], "key_payload": p["payload"], "history": history,
                                "config": cfg.to_dict()})

    distributed.agree(dist, distributed.attempt(write_final), device)
    return result(history, resumed, False)


# --------------------------------------------------------------------------- command line (torchrun entry)


def _load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None]:
    if args.set is not None:
        from .pretrain_data import decode_set

        return decode_set(args.set, mode=args.mode, size=args.size)
    with np.load(args.data) as z:
        check("images" in z, f"{args.data} has no 'images' array (it holds {list(z.keys())})")
        return z["images"], (z["labels"] if "labels" in z else None)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m synthrec_core.pretraining (--config cfg.json | --preset NAME) (--data x.npz | --set DIR) [--out DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m synthrec_core.pretraining", description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="JSON file with PretrainConfig fields (aug as a nested object)")
    src.add_argument("--preset", help=f"one of {sorted(PRESETS)}")
    data = ap.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help=".npz with uint8 'images' [N,H,W(,3)] and int 'labels'")
    data.add_argument("--set", help="a synthetic set directory (decoded once into the cache)")
    ap.add_argument("--mode", default="L", choices=("L", "RGB"), help="colour mode when decoding --set")
    ap.add_argument("--size", type=int, default=None, help="resize --set images to this side")
    ap.add_argument("--out", default=None, help="run directory (default: cache_dir()/pretrain/<run key>)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rank = int(os.environ.get("RANK", "0"))
    try:
        cfg = PretrainConfig.from_dict(json.loads(Path(args.config).read_text())) if args.config else PretrainConfig.preset(args.preset)
        rank, _, dist, device = distributed.setup(cfg.device)
        data: list[Any] = []
        for turn in (0, 1):  # rank 0 decodes (and caches) a set first; the others then read the cache
            distributed.agree(dist, distributed.attempt(lambda: data.extend(_load_data(args))) if (rank == 0) == (turn == 0) else None,
                              device, "fix the data and run again")
        images, labels = data
        res = pretrain(cfg, images, labels, out_dir=args.out, log=not args.quiet)
    except ConfigError as e:
        print(f"ConfigError: {e}", file=sys.stderr)
        return 2
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if rank == 0:
        last = res.history[-1] if res.history else {}
        print(json.dumps({"final": str(res.path), "run_key": res.run_key, "resumed_from": res.resumed_from,
                          "cached": res.cached, "last_epoch": last}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
