"""Pre-training throughput on the mini sizes: images/s, data-loading share, 2-process DDP vs 1 process.

Every run goes through the same entry point (``python -m synthrec_core.pretraining``, under
``torchrun`` for DDP) on the same in-memory 32 px set, side by side in one script:

- supervised ``resnet-mini`` / ``vit-mini`` (and the ``resnet18`` yardstick): 1 process, 2 threads;
- the same with 2 gloo processes of 1 thread each (the global batch is the same);
- MoCo v2 on ``resnet-mini`` (the ``mini-moco`` preset, queue 1024): 1 process, 2 threads
  (images/s counts images; each is augmented twice and encoded by both encoders).

images/s is the median over the epochs after the first (warm-up), best of ``--repeats``
interleaved runs; the data share is the time spent gathering and augmenting batches over the
epoch's wall time. ``ratio`` = DDP-2 /
1-process images/s for resnet-mini. The machine is shared: numbers move with its load.

    PYTHONPATH=. .venv/bin/python benchmarks/pretraining_speed.py [--images 2048] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _common

_common.setup()

import numpy as np  # noqa: E402

from synthrec_core.backbones import build_backbone, count_parameters  # noqa: E402


def _toy(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 60, (n, 32, 32)).astype(np.uint8)
    for i, c in enumerate(y):
        r, q = divmod(int(c), 5)
        x[i, 4 + 12 * r : 14 + 12 * r, 1 + 6 * q : 7 + 6 * q] = 220
    return x, y


def _run(work: Path, name: str, cfg: dict, nproc: int, threads: int) -> dict:
    out = work / name
    (work / f"{name}.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(_common.REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads),
               SYNTHREC_CACHE=str(work / "cache"))
    if nproc == 1:
        cmd = [sys.executable, "-m"]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
        cmd += ["--nproc_per_node", str(nproc), "--master_port", str(29400 + os.getpid() % 500), "-m"]
    cmd += ["synthrec_core.pretraining", "--config", str(work / f"{name}.json"), "--data", str(work / "data.npz"),
            "--out", str(out), "--threads", str(threads), "--quiet"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr[-3000:]}")
    hist = json.loads((out / "progress.json").read_text())["history"][1:] or json.loads((out / "progress.json").read_text())["history"]
    ips = statistics.median(h["images_per_s"] for h in hist)
    share = statistics.median(h["data_share"] for h in hist)
    return {"images_per_s": round(ips, 1), "data_share": round(share, 4), "processes": nproc, "threads_each": threads,
            "epochs_measured": [h["epoch"] for h in hist]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)  # best of N, interleaved: the machine is shared
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_pretrain_"))
    x, y = _toy(a.images)
    np.savez(work / "data.npz", images=x, labels=y)
    base = {"epochs": a.epochs, "global_batch": a.batch}
    plan = {}
    for bb in ("resnet-mini", "vit-mini"):
        plan[f"{bb} supervised, 1 proc x 2 threads"] = ({**base, "backbone": bb}, 1, 2)
        plan[f"{bb} supervised, 2 procs x 1 thread (DDP)"] = ({**base, "backbone": bb}, 2, 1)
    plan["resnet-mini MoCo (mini-moco), 1 proc x 2 threads"] = ({**base, **_moco_fields()}, 1, 2)
    plan["resnet18 supervised (yardstick), 1 proc x 2 threads"] = ({**base, "backbone": "resnet18"}, 1, 2)
    trials: dict[str, list[dict]] = {k: [] for k in plan}
    try:
        for rep in range(a.repeats):
            for i, (name, (cfg, nproc, threads)) in enumerate(plan.items()):
                trials[name].append(_run(work, f"run{i}-{rep}", cfg, nproc, threads))
                print(f"  {name}: {trials[name][-1]['images_per_s']:.0f} img/s, data {100 * trials[name][-1]['data_share']:.1f}%", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = {}
    for name, ts in trials.items():
        best = max(ts, key=lambda t: t["images_per_s"])
        runs[name] = {**best, "images_per_s_all": [t["images_per_s"] for t in ts]}
    ratio = {bb: runs[f"{bb} supervised, 2 procs x 1 thread (DDP)"]["images_per_s"] / runs[f"{bb} supervised, 1 proc x 2 threads"]["images_per_s"]
             for bb in ("resnet-mini", "vit-mini")}
    params = {bb: count_parameters(build_backbone(bb, 1, None)[0]) for bb in ("resnet-mini", "vit-mini", "resnet18")}
    r18 = runs["resnet18 supervised (yardstick), 1 proc x 2 threads"]["images_per_s"]
    print(f"  params: {params}")
    _common.write_result(
        "pretraining_speed",
        ratio["resnet-mini"],
        {
            "what": "resnet-mini supervised pre-training images/s: 2 gloo processes x 1 thread / 1 process x 2 threads "
                    "(same global batch, same data, one run, shared 2-core machine)",
            "images": a.images, "epochs": a.epochs, "global_batch": a.batch, "size": 32, "channels": 1, "repeats": a.repeats,
            "runs": runs,
            "ddp_ratio": {k: round(v, 3) for k, v in ratio.items()},
            "parameters": params,
            "speed_vs_resnet18": {bb: round(runs[f"{bb} supervised, 1 proc x 2 threads"]["images_per_s"] / r18, 2)
                                  for bb in ("resnet-mini", "vit-mini")},
        },
    )


def _moco_fields() -> dict:
    from synthrec_core.pretraining import PRESETS

    p = dict(PRESETS["mini-moco"])
    p["aug"] = p["aug"].to_dict()
    p.pop("epochs", None)
    p.pop("global_batch", None)
    return {**p, "moco_queue": 1024}


if __name__ == "__main__":
    main()
