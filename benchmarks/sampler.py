"""Sampler: images/s and CLIP-filter pass rate for DDIM at 50 steps vs. DPM-Solver++ at 15 steps.

Runs on the mini generator (MiniGen) scored by MiniCLIP, on the MNIST digit classes with the
mini profile's first template. If trained MiniGen or MiniCLIP weights are not available, it
falls back to MiniGen's architecture with random weights (or the tiny SD pipeline) scored by a
random RN50 and says so (``"fallback"``): the speeds are then real, the pass rates are not.
The ratio is the fast solver's images/s over DDIM's.

    PYTHONPATH=. .venv/bin/python benchmarks/sampler.py [--per-class 8] [--generator minigen]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _common

_common.setup()

from synthrec_core.features import Encoder, encode_images, encode_texts  # noqa: E402
from synthrec_core.filtering import clip_filter  # noqa: E402
from synthrec_core.generation import GenerationJob, generate  # noqa: E402

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _random_minigen():
    """MiniGen's architecture and scheduler with random UNet weights (speed is that of MiniGen)."""
    import torch

    from synthrec_core.mini.miniclip import load_minilm
    from synthrec_core.mini.minigen import MiniGenPipeline, make_scheduler, make_unet

    tok, bert = load_minilm()
    torch.manual_seed(0)
    return MiniGenPipeline(unet=make_unet("mini").eval(), scheduler=make_scheduler(), text_encoder=bert, tokenizer=tok)


def load(generator: str, clip: str, pretrained: str):
    """(pipeline, clip triple, generator id, clip id, fallback note or None)."""
    from synthrec_core import models

    try:
        pipe = models.load_generator(generator)
        model, preprocess, tokenizer = models.load_clip(clip, pretrained)
        return pipe, (model, preprocess, tokenizer), generator, f"{clip}/{pretrained}", None
    except Exception as e:  # weights not shipped yet
        print(f"trained weights unavailable ({type(e).__name__}: {str(e)[:160]})")
    from tiny_models import tiny_rn

    try:
        pipe, gen_id = _random_minigen(), "minigen-architecture/random-weights"
    except Exception as e:
        print(f"MiniGen architecture unavailable ({type(e).__name__}: {e}); using tiny SD")
        from tiny_models import tiny_sd

        pipe, gen_id = tiny_sd(), "tiny-sd"
    note = "trained MiniGen/MiniCLIP not available: speeds are real for this architecture, CF pass rates are meaningless (random weights)"
    return pipe, tiny_rn(), gen_id, "tiny-RN/random", note


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=8)
    ap.add_argument("--generator", default="minigen")
    ap.add_argument("--clip", default="MiniCLIP-CNN")
    ap.add_argument("--pretrained", default="mini")
    ap.add_argument("--template", default="a handwritten digit {}")
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args()
    pipe, (model, preprocess, tokenizer), gen_id, clip_id, fallback = load(a.generator, a.clip, a.pretrained)
    text = encode_texts(model, tokenizer, [a.template.replace("{}", c) for c in DIGITS])
    enc = Encoder(model, preprocess, clip_id)
    work = Path(tempfile.mkdtemp(prefix="bench_sampler_"))
    size = 32
    rows = {}
    import diffusers

    own = pipe.scheduler
    for sched, steps in (("ddim", 50), ("dpm++", 15), ("ddim-noclip", 50)):
        if sched == "ddim-noclip":  # DDIM without x0 clipping, set on the pipeline (job.scheduler=None)
            pipe.scheduler = diffusers.DDIMScheduler.from_config(own.config, clip_sample=False)
        job = GenerationJob(classnames=DIGITS, pipeline_id=gen_id, template=a.template, images_per_prompt=a.per_class,
                            scheduler=None if sched == "ddim-noclip" else sched, steps=steps, height=size, width=size,
                            batch_size=a.batch_size, output_dir=str(work / sched))
        t, s = _common.timed(lambda: generate(job, pipe, progress=False))
        pipe.scheduler = own
        feats = encode_images(enc, s, cache=False, progress=False)
        d = clip_filter(feats, s.labels(), text, logit_scale=float(model.logit_scale.detach().exp()))
        rows[f"{sched}@{steps}"] = {"images_per_s": round(len(job) / t, 3), "cf_pass_rate": round(float(d["passed"].mean()), 3),
                                    "top1_agreement": round(float((d["pred"] == d["label"]).mean()), 3), "seconds": round(t, 2)}
    shutil.rmtree(work, ignore_errors=True)
    ddim, fast = rows["ddim@50"], rows["dpm++@15"]
    _common.write_result(
        "sampler",
        fast["images_per_s"] / ddim["images_per_s"],
        {
            "what": "images/s of DPM-Solver++ at 15 steps / DDIM at 50 steps; CF pass rates beside",
            "generator": gen_id, "clip": clip_id, "fallback": fallback, "classes": "MNIST digits",
            "template": a.template, "images_per_class": a.per_class, "size": size, "batch_size": a.batch_size,
            **rows, "threads": 1,
            "note": "ddim@50 uses the pipeline's scheduler config via models.make_scheduler; ddim-noclip@50 is the same "
                    "with clip_sample=False (MiniGen's config has clip_sample=True, which ruins DDIM samples)",
        },
    )


if __name__ == "__main__":
    main()
