"""MiniGen at 16 px versus 32 px: training speed and prompt following, side by side in one run.

Both models get the same recipe (``MINIGEN_PRESETS["mini"]`` with ``--steps``), the same seed and
the same digit corpus; the 16-px corpus is the 32-px one averaged over 2x2 blocks. Each model then
samples ``--n-per-class`` images per MNIST class prompt, and one judge (the gate-1 CNN, trained
on 32-px corpus digits) labels them; 16-px samples are upsampled to 32 px first. As a bound, the
judge also labels real MNIST test images at 32 px and after the same 32 -> 16 -> 32 round trip, beside
a second judge trained the same way on round-tripped corpus images (a fair reader of 16-px images).

    .venv/bin/python scripts/minigen_resolution.py              # ~10 min on 2 cores (runs cached)
    .venv/bin/python scripts/minigen_resolution.py --steps 100  # quicker, weaker

Writes ``results/mini/minigen_resolution.json`` and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from synthrec_core.data import load_dataset
from synthrec_core.generation import GenerationJob, generate
from synthrec_core.mini import gates
from synthrec_core.mini.corpus import CorpusConfig, build_corpus, corpus_preset, load_corpus
from synthrec_core.mini.train import MINIGEN_PRESETS, minigen_from_checkpoint, read_loss, train_minigen
from synthrec_core.models import make_scheduler
from synthrec_core.paths import cache_dir, results_dir
from synthrec_core.utils import atomic_write_json


def half_resolution(images: np.ndarray) -> np.ndarray:
    """uint8 [N,32,32] -> [N,16,16] by 2x2 block means."""
    return images.reshape(len(images), 16, 2, 16, 2).astype(np.float32).mean((2, 4)).round().astype(np.uint8)


def up_to_32(images: np.ndarray) -> np.ndarray:
    """uint8 [N,16,16] -> [N,32,32], bilinear."""
    x = torch.from_numpy(images.astype(np.float32))[:, None]
    return F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 255)[:, 0].round().byte().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400, help="training steps of each model")
    ap.add_argument("--digit-images", type=int, default=600, help="corpus images per digit")
    ap.add_argument("--n-per-class", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    c32 = load_corpus(build_corpus(CorpusConfig(parts=("digits",), digit_images=args.digit_images, workers=args.threads)))
    path16 = cache_dir() / "mini" / "resolution" / f"digits{args.digit_images}-16px.npz"
    path16.parent.mkdir(parents=True, exist_ok=True)
    if not path16.exists():
        with np.load(c32.path) as z:
            cols = {k: z[k] for k in z.files}
        cols["images"] = half_resolution(cols["images"])
        np.savez(path16, **cols)
    mnist = load_dataset("mnist").to_mini()
    classes = list(mnist.classnames)
    prompts = [f"a handwritten digit {d}" for d in mnist.display_names]  # the gate-1 prompt of MNIST
    full = load_corpus(build_corpus(corpus_preset("mini"), progress=False))
    judge = gates.train_judge(full, classes, 400, 4, 0)
    # the same judge recipe on corpus images after the 32 -> 16 -> 32 round trip: a fair reader of 16-px images
    blurred = SimpleNamespace(images=up_to_32(half_resolution(full.images)), concept=full.concept)
    judge16 = gates.train_judge(blurred, classes, 400, 4, 0)
    y = np.repeat(np.arange(len(classes)), args.n_per_class)
    out: dict = {"steps": args.steps, "n_per_class": args.n_per_class, "models": {}}
    for side, corpus in ((32, str(c32.path)), (16, str(path16))):
        cfg = MINIGEN_PRESETS["mini"].replace(corpus=corpus, steps=args.steps, warmup_steps=20, threads=args.threads,
                                              checkpoint_minutes=60.0)
        run = train_minigen(cfg)
        rows = read_loss(run)
        pipe = minigen_from_checkpoint(run)
        pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
        job = GenerationJob(classnames=tuple(classes), sentences=tuple((p,) for p in prompts), images_per_prompt=args.n_per_class,
                            pipeline_id=f"minigen-run/{run.name}", scheduler="dpm", steps=10, guidance_scale=3.0,
                            height=side, width=side, shared_noise=True)
        samples = gates.class_grid(generate(job, pipe, progress=False))
        t0 = time.time()  # sampling speed, uncached: one batch of 64 images, 10 DPM-Solver++ steps
        pipe(prompts * 7 + prompts[:4], num_inference_steps=10, output_type="np", progress=False,
             generator=torch.Generator().manual_seed(0))
        sample_s = (time.time() - t0) / 64
        flat = samples.reshape(-1, side, side)
        judged = judge(flat if side == 32 else up_to_32(flat))
        judged16 = judge16(up_to_32(half_resolution(flat)) if side == 32 else up_to_32(flat))
        out["models"][f"{side}px"] = {
            "seconds_per_step": float(np.diff([r["seconds"] for r in rows]).mean()),
            "final_loss": float(np.mean([r["loss"] for r in rows[-50:]])),
            "class_accuracy": float((judged == y).mean()),
            "class_accuracy_16px_judge": float((judged16 == y).mean()),
            "sampling_seconds_per_image": sample_s,
            "run": str(run),
        }
    test = mnist.test
    out["judge_on_real_mnist"] = {"32px": float((judge(test.images) == test.labels).mean()),
                                  "32->16->32": float((judge(up_to_32(half_resolution(test.images))) == test.labels).mean()),
                                  "16px judge, 32->16->32": float((judge16(up_to_32(half_resolution(test.images))) == test.labels).mean())}
    m32, m16 = out["models"]["32px"], out["models"]["16px"]
    out["ratios"] = {"train_step_time_32_over_16": m32["seconds_per_step"] / m16["seconds_per_step"],
                     "sampling_time_32_over_16": m32["sampling_seconds_per_image"] / m16["sampling_seconds_per_image"],
                     "class_accuracy_16_minus_32": m16["class_accuracy"] - m32["class_accuracy"]}
    atomic_write_json(results_dir("mini") / "minigen_resolution.json", out)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
