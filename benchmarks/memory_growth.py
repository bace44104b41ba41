"""Memory growth: peak RSS of a generation run with 10x more images / with 1x (each in a fresh process).

The engine streams images to disk, so memory should not grow with the set size. Each size
runs in its own subprocess (``--child``), which reports its peak RSS (``ru_maxrss``) and its
RSS after loading the pipeline (the baseline before any image is made).

    PYTHONPATH=. .venv/bin/python benchmarks/memory_growth.py [--images 16] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import _common


def child(n: int, out: str, size: int, steps: int) -> None:
    _common.setup()
    import psutil

    from synthrec_core.generation import GenerationJob, generate
    from tiny_models import tiny_sd

    pipe = tiny_sd()
    base = psutil.Process().memory_info().rss
    job = GenerationJob(classnames=("a", "b", "c", "d"), pipeline_id="tiny-sd", images_per_prompt=n // 4, steps=steps,
                        height=size, width=size, batch_size=8, output_dir=out)
    generate(job, pipe, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"images": len(job), "peak_rss": peak, "rss_after_load": base}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--child", nargs=2, metavar=("N", "OUT"))
    a = ap.parse_args()
    if a.child:
        return child(int(a.child[0]), a.child[1], a.size, a.steps)
    work = Path(tempfile.mkdtemp(prefix="bench_mem_"))
    env = dict(os.environ, PYTHONPATH=f"{_common.REPO}{os.pathsep}{_common.REPO / 'tests'}")
    res = {}
    for n in (a.images, a.images * a.factor):
        p = subprocess.run([sys.executable, __file__, "--size", str(a.size), "--steps", str(a.steps), "--child", str(n), str(work / f"n{n}")],
                           env=env, capture_output=True, text=True, check=True)
        res[n] = json.loads(p.stdout.strip().splitlines()[-1])
    small, big = res[a.images], res[a.images * a.factor]
    mb = lambda b: round(b / 2**20, 1)  # noqa: E731
    _common.write_result(
        "memory_growth",
        big["peak_rss"] / small["peak_rss"],
        {
            "images": [small["images"], big["images"]],
            "peak_rss_mb": [mb(small["peak_rss"]), mb(big["peak_rss"])],
            "rss_after_pipeline_load_mb": [mb(small["rss_after_load"]), mb(big["rss_after_load"])],
            "growth_beyond_load_mb": [mb(small["peak_rss"] - small["rss_after_load"]), mb(big["peak_rss"] - big["rss_after_load"])],
            "size": a.size, "steps": a.steps, "batch_size": 8,
        },
    )


if __name__ == "__main__":
    main()
