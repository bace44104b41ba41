"""Batching: engine throughput with batch size B vs. one image at a time (same images, byte-identical).

    PYTHONPATH=. .venv/bin/python benchmarks/batching.py [--images 32] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    pipe = tiny_sd()
    work = Path(tempfile.mkdtemp(prefix="bench_batching_"))
    job = GenerationJob(classnames=("a", "b"), pipeline_id="tiny-sd", images_per_prompt=a.images // 2,
                        steps=a.steps, height=a.size, width=a.size)
    generate(job.replace(output_dir=str(work / "warm"), batch_size=2), pipe, progress=False)
    times = {1: [], a.batch_size: []}
    sets = {}
    for r in range(a.repeats):
        for bs in times:
            out = work / f"bs{bs}_{r}"
            t, sets[bs] = _common.timed(lambda: generate(job.replace(output_dir=str(out), batch_size=bs), pipe, progress=False))
            times[bs].append(t)
    same = [file_sha256(p) for p in sets[1].paths()] == [file_sha256(p) for p in sets[a.batch_size].paths()]
    n = len(job)
    ips = {bs: n / statistics.median(t) for bs, t in times.items()}
    shutil.rmtree(work, ignore_errors=True)
    _common.write_result(
        "batching",
        ips[a.batch_size] / ips[1],
        {
            "images": n, "size": a.size, "steps": a.steps, "batch_size": a.batch_size,
            "images_per_s_batch_1": round(ips[1], 2), f"images_per_s_batch_{a.batch_size}": round(ips[a.batch_size], 2),
            "times_s": {str(k): [round(x, 3) for x in v] for k, v in times.items()},
            "byte_identical": same, "threads": 1,
        },
    )


if __name__ == "__main__":
    main()
