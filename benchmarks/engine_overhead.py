"""Engine overhead: images/s through ``generation.generate`` vs. raw pipeline calls, same batches.

Both sides run the same tiny Stable Diffusion pipeline (loaded with ``from_pretrained``) with
the same prompts, per-image generators and batch size; the raw side only keeps the PIL images
in memory, the engine also encodes PNGs, writes them atomically and builds the manifest. The
ratio compares like with like (``kernel_chunk=None``: the raw kernels); the cost of the
default batch-invariant chunked kernels (``kernel_chunk=4``) is reported beside it.
Runs alternate (raw, engine, raw, engine, ...) so background load hits both; the ratio uses
each side's best time (the machine is shared).

    PYTHONPATH=. .venv/bin/python benchmarks/engine_overhead.py [--images 48] [--size 64] [--steps 20]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _common

_common.setup()

import torch  # noqa: E402

from synthrec_core.generation import GenerationJob, generate  # noqa: E402
from tiny_models import tiny_sd  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    pipe = tiny_sd()
    classes = tuple(f"class{i}" for i in range(4))
    work = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    job = GenerationJob(classnames=classes, pipeline_id="tiny-sd", images_per_prompt=a.images // len(classes),
                        steps=a.steps, height=a.size, width=a.size, batch_size=a.batch_size)
    units = job.units()

    def raw() -> list:
        out = []
        for s in range(0, len(units), a.batch_size):
            batch = units[s : s + a.batch_size]
            with torch.inference_mode():
                r = pipe(prompt=[u.prompt for u in batch], num_inference_steps=a.steps, guidance_scale=job.guidance_scale,
                         generator=[torch.Generator("cpu").manual_seed(u.seed) for u in batch],
                         height=a.size, width=a.size, output_type="pil")
            out.extend(r.images)
        return out

    def engine(i: int, invariant: bool):
        return generate(job.replace(output_dir=str(work / f"run{i}_{invariant}"), kernel_chunk=4 if invariant else None), pipe, progress=False)

    raw()  # warm-up
    t_raw, t_eng, t_inv = [], [], []
    for i in range(a.repeats):
        t_raw.append(_common.timed(raw)[0])
        t_eng.append(_common.timed(lambda: engine(i, False))[0])
        t_inv.append(_common.timed(lambda: engine(i, True))[0])
    n = len(units)
    ips = lambda ts: n / min(ts)  # noqa: E731
    shutil.rmtree(work, ignore_errors=True)
    _common.write_result(
        "engine_overhead",
        ips(t_eng) / ips(t_raw),
        {
            "what": "engine (PNG encode, atomic write, manifest) vs raw pipeline calls, same kernels and batches",
            "images": n, "batch_size": a.batch_size, "size": a.size, "steps": a.steps,
            "raw_images_per_s": round(ips(t_raw), 2), "engine_images_per_s": round(ips(t_eng), 2),
            "engine_batch_invariant_images_per_s": round(ips(t_inv), 2),
            "ratio_batch_invariant_engine_vs_raw": round(ips(t_inv) / ips(t_raw), 3),
            "raw_times_s": [round(t, 3) for t in t_raw], "engine_times_s": [round(t, 3) for t in t_eng],
            "engine_batch_invariant_times_s": [round(t, 3) for t in t_inv],
            "pipeline": "tiny random StableDiffusionPipeline (tests/tiny_models.py)", "threads": 1,
        },
    )


if __name__ == "__main__":
    main()
