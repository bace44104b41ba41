"""Generation throughput: the engine now vs its old default (``kernel_chunk=4``), and each lever.

    PYTHONPATH=. .venv/bin/python benchmarks/generation_speed.py [--images 320] [--repeats 2]

Mini settings: the shipped MiniGen, guidance 3, 32 images per call, 320 images (10 digit prompts
x 32), 2 CPU cores. Measured side by side in one run (each side's best of ``--repeats``): the old
engine path (chunked batch-invariant kernels, 2 torch threads, prompts encoded per call,
DPM-Solver++ 10 steps), then the levers one at a time at the same sampler settings, then the
engine as the mini profile runs it (UniPC at 7 steps, whose judge accuracy and CF pass rate match
DPM-Solver++ at 10 within their seed spreads: ``benchmarks/sampler_quality.py``). ``ratio`` =
the mini profile's engine images/s / old-path images/s; ``ratio_same_sampler`` keeps DPM-Solver++
at 10 steps. Also: the bare UNet's image-steps/s, its achieved GFLOP/s (FLOPs counted by
``torch.utils.flop_counter``), a 2048^2 float32 matmul's GFLOP/s on the same cores, and the
engine's fraction of the matmul-bound rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import _common

os.environ["SYNTHREC_IMAGE_STORE"] = "0"  # every run must really generate
_common.setup(threads=2)

import torch  # noqa: E402

from _legacy import batch_invariant_kernels  # noqa: E402
from synthrec_core.generation import GenerationJob, generate  # noqa: E402
from synthrec_core.models import load_generator  # noqa: E402

STEPS, GUIDANCE, BATCH = 10, 3.0, 32
PROMPTS = [f"a handwritten digit {d}" for d in range(10)]


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def pipeline_calls(pipe, n: int, steps: int = STEPS, embeds: bool = False, threads: int = 2) -> None:
    """n images through plain pipeline calls of BATCH, as the old engine made them."""
    torch.set_num_threads(threads)
    for start in range(0, n, BATCH):
        prompts = [PROMPTS[(start + i) % 10] for i in range(BATCH)]
        gens = [torch.Generator().manual_seed(start + i) for i in range(BATCH)]
        kw = dict(num_inference_steps=steps, guidance_scale=GUIDANCE, generator=gens, output_type="pil")
        if embeds:
            kw.update(prompt_embeds=pipe._bench_cond, negative_prompt_embeds=pipe._bench_uncond)
        else:
            kw["prompt"] = prompts
        with torch.inference_mode():
            pipe(**kw)


def engine(pipe, n: int, work: Path, tag: str, **job_kw) -> None:
    kw = {"steps": STEPS, "scheduler": "dpm++", **job_kw}
    job = GenerationJob(classnames=tuple(str(d) for d in range(10)), pipeline_id="minigen", template="a handwritten digit {}",
                        images_per_prompt=n // 10, guidance_scale=GUIDANCE, micro_batch=BATCH,
                        output_dir=str(work / f"{tag}-{time.perf_counter_ns()}"), **kw)
    generate(job, pipe, progress=False)


def unet_rates(pipe) -> dict[str, float]:
    """Bare UNet image-steps/s at 2*BATCH rows (CFG doubles the batch): 2 threads, and 2 single-thread copies."""
    from torch.utils.flop_counter import FlopCounterMode

    rows = 2 * BATCH
    x = torch.randn(rows, 4, 16, 16)
    tok, mask, pooled = torch.randn(rows, 24, 384), torch.ones(rows, 24, dtype=torch.bool), torch.randn(rows, 384)
    t = torch.tensor(500)

    def fwd(k: int) -> None:
        with torch.inference_mode():
            for _ in range(k):
                pipe.unet(x, t, encoder_hidden_states=tok, class_labels=pooled, encoder_attention_mask=mask)

    with FlopCounterMode(display=False) as fc:
        fwd(1)
    flops_per_row = fc.get_total_flops() / rows
    torch.set_num_threads(2)
    fwd(1)
    s2 = best(lambda: fwd(8), 2)
    torch.set_num_threads(1)
    fwd(1)
    ths = lambda: [threading.Thread(target=fwd, args=(8,)) for _ in range(2)]

    def two() -> None:
        ts = ths()
        for th in ts:
            th.start()
        for th in ts:
            th.join()

    s1 = best(two, 2)
    torch.set_num_threads(2)
    return {"flops_per_image_step": flops_per_row, "rows_per_s_2_threads": 8 * rows / s2, "rows_per_s_2x1_thread": 16 * rows / s1}


def matmul_gflops() -> float:
    torch.set_num_threads(2)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    s = best(lambda: [a @ b for _ in range(10)], 3)
    return 10 * 2 * 2048**3 / s / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=320)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    n, r = a.images, a.repeats
    work = Path(tempfile.mkdtemp(prefix="bench_gen_"))
    pipe = load_generator("minigen", scheduler="dpm++")
    with torch.inference_mode():
        cond = pipe.encode_prompt([PROMPTS[i % 10] for i in range(BATCH)])
        uncond = pipe.encode_prompt([""] * BATCH)
    pipe._bench_cond, pipe._bench_uncond = cond, uncond
    pipeline_calls(pipe, BATCH, steps=2)  # warm up

    def legacy() -> None:
        with batch_invariant_kernels(4):
            pipeline_calls(pipe, n)

    t = {
        "old engine: kernel_chunk=4, 2 threads": best(legacy, r),
        "plain kernels (fixed shape), 2 threads": best(lambda: pipeline_calls(pipe, n), r),
        "+ prompts encoded once": best(lambda: pipeline_calls(pipe, n, embeds=True), r),
        "engine: + 2 single-thread workers (default)": best(lambda: engine(pipe, n, work, "default"), r),
        "engine, 1 worker (1 thread)": best(lambda: engine(pipe, n, work, "w1", workers=1), r),
    }
    cl = load_generator("minigen", scheduler="dpm++")
    cl.unet.to(memory_format=torch.channels_last)
    t["engine + channels-last UNet"] = best(lambda: engine(cl, n, work, "cl"), r)
    bf = load_generator("minigen", scheduler="dpm++", dtype=torch.bfloat16)
    t["engine + bfloat16 weights"] = best(lambda: engine(bf, n, work, "bf16", dtype="bfloat16"), r)
    t["engine, mini profile settings (UniPC 7 steps)"] = best(lambda: engine(pipe, n, work, "unipc7", scheduler="unipc", steps=7), r)
    ips = {k: n / v for k, v in t.items()}
    u = unet_rates(pipe)
    mm = matmul_gflops()
    gflop_per_image = u["flops_per_image_step"] * 2 * STEPS / 1e9
    same = ips["engine: + 2 single-thread workers (default)"]
    default = ips["engine, mini profile settings (UniPC 7 steps)"]
    base = ips["old engine: kernel_chunk=4, 2 threads"]
    shutil.rmtree(work, ignore_errors=True)
    _common.write_result("generation_speed", default / base, {
        "what": "engine images/s as the mini profile runs it (UniPC 7 steps) / the old kernel_chunk=4 path "
                f"(DPM-Solver++ {STEPS} steps), same run, MiniGen, guidance {GUIDANCE}, {BATCH} images per call, {n} images",
        "ratio_same_sampler": round(same / base, 3),
        "images_per_s": {k: round(v, 2) for k, v in ips.items()},
        "lever_ratio_vs_previous_row": {k: round(v / p, 3) for (k, v), p in zip(list(ips.items())[1:4], list(ips.values())[:3])},
        "unet_gflop_per_image_step": round(u["flops_per_image_step"] / 1e9, 4),
        "bare_unet_image_steps_per_s_2_threads": round(u["rows_per_s_2_threads"], 1),
        "bare_unet_image_steps_per_s_2x1_thread": round(u["rows_per_s_2x1_thread"], 1),
        "bare_unet_gflops_2x1_thread": round(u["rows_per_s_2x1_thread"] * u["flops_per_image_step"] / 1e9, 1),
        "matmul_2048_gflops_2_threads": round(mm, 1),
        "matmul_bound_images_per_s": round(mm / gflop_per_image, 1),
        "engine_fraction_of_matmul_bound_same_sampler": round(same / (mm / gflop_per_image), 3),
        "engine_fraction_of_bare_unet_2x1_same_sampler": round(same / (u["rows_per_s_2x1_thread"] / (2 * STEPS)), 3),
        "repeats": r,
    })


if __name__ == "__main__":
    main()
