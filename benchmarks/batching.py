"""Batching: engine throughput with batch size B vs. one image at a time (same images, byte-identical).

    PYTHONPATH=. .venv/bin/python benchmarks/batching.py [--images 32] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _common

_common.setup()

from synthrec_core.generation import GenerationJob, generate  # noqa: E402
from synthrec_core.utils import file_sha256  # noqa: E402
from tiny_models import tiny_sd  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)  # best of N: the machine is shared
    a = ap.parse_args()
    pipe = tiny_sd()
    work = Path(tempfile.mkdtemp(prefix="bench_batching_"))
    job = GenerationJob(classnames=("a", "b"), pipeline_id="tiny-sd", images_per_prompt=a.images // 2,
                        steps=a.steps, height=a.size, width=a.size)
    generate(job.replace(output_dir=str(work / "warm"), batch_size=2), pipe, progress=False)
    B = a.batch_size
    configs = {"batch 1": (1, True), f"batch {B}": (B, True), "batch 1, plain kernels": (1, False), f"batch {B}, plain kernels": (B, False)}
    times = {k: [] for k in configs}
    sets = {}
    for r in range(a.repeats):
        for name, (bs, inv) in configs.items():
            out = work / f"{bs}_{inv}_{r}"
            t, sets[name] = _common.timed(
                lambda: generate(job.replace(output_dir=str(out), batch_size=bs, kernel_chunk=4 if inv else None), pipe, progress=False)
            )
            times[name].append(t)
    sha = {k: [file_sha256(p) for p in s.paths()] for k, s in sets.items()}
    n = len(job)
    ips = {k: n / min(t) for k, t in times.items()}
    plain = f"batch {B}, plain kernels"
    shutil.rmtree(work, ignore_errors=True)
    _common.write_result(
        "batching",
        ips[f"batch {B}"] / ips["batch 1"],
        {
            "what": f"engine images/s at batch {B} / at batch 1 (default batch-invariant kernels)",
            "images": n, "size": a.size, "steps": a.steps,
            "images_per_s": {k: round(v, 2) for k, v in ips.items()},
            "speedup_plain_kernels": round(ips[plain] / ips["batch 1, plain kernels"], 3),
            "times_s": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "byte_identical_batch_1_vs_B": sha["batch 1"] == sha[f"batch {B}"],
            f"images_differing_plain_kernels_batch_{B}_vs_1": sum(x != y for x, y in zip(sha["batch 1, plain kernels"], sha[plain])),
            "threads": 1,
        },
    )


if __name__ == "__main__":
    main()
