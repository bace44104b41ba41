"""Does MiniGen follow its style phrases? Stroke width and sharpness of digit samples per phrase.

MiniGen's last two training stages taught it two caption phrases: the stroke weight of a glyph
("in thin / bold / very bold strokes", ``train_captions.STROKE_WORDS``) and "in low resolution"
(``train_captions.LOWRES_PHRASE``). For each phrase this script makes ``--n-per-digit`` images of
each prompt "a handwritten digit <d><phrase>" through the generation engine (one seeded set per
phrase, cached by content) and measures, per image:

- **stroke width** (px): ``corpus_render.stroke_width`` of the > 127 mask (``2 * area / perimeter``);
- **sharpness**: the mean absolute 4-neighbour Laplacian over lit pixels (> 25); lower is blurrier;
- the **mid-gray share**: lit pixels (> 25) below 200, and the mean pixel value.

The same numbers for the first ``--real-n`` *train* images of MNIST and scikit-learn digits (at the
mini framing) say where real digits sit. No model is trained or chosen here; it describes the
generator the MiniGen model card cites.

    .venv/bin/python scripts/minigen_diagnostics.py              # the shipped MiniGen, ~2 min on 2 cores
    .venv/bin/python scripts/minigen_diagnostics.py --generator path/to/diffusers/folder

Writes ``results/mini/minigen_diagnostics.json`` (git commit, generator identity, settings, each
set's key and per-image seeds, mean ± std with ddof=1) and prints one row per phrase.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: the phrases measured, appended to the digit prompt (the empty phrase first)
PHRASES = ("", " in thin strokes", " in bold strokes", " in very bold strokes", " in low resolution",
           " in very bold strokes in low resolution")
TEMPLATE = "a handwritten digit {digit}{phrase}"
LIT = 25  # a pixel above this is lit (sharpness and mid-gray share)
STROKE_MASK = 127  # the stroke-width mask threshold


def sharpness(images: np.ndarray) -> np.ndarray:
    """Per image: mean absolute 4-neighbour Laplacian over its lit interior pixels (uint8 [N,H,W])."""
    x = images.astype(np.float32)
    lap = np.abs(4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:])
    lit = x[:, 1:-1, 1:-1] > LIT
    return np.array([lap[i][lit[i]].mean() if lit[i].any() else 0.0 for i in range(len(x))])


def _mean_std(v: np.ndarray) -> dict[str, float]:
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}


def measure(images: np.ndarray) -> dict:
    """The diagnostics of a stack of uint8 images [N,H,W] (white on black)."""
    from synthrec_core.mini.corpus_render import stroke_width

    lit = images > LIT
    return {"n_images": int(len(images)),
            "stroke_width_px": _mean_std(np.array([stroke_width(im > STROKE_MASK) for im in images])),
            "sharpness": _mean_std(sharpness(images)),
            "mid_gray_share": float((lit & (images < 200)).sum() / max(1, lit.sum())),
            "mean_pixel": float(images.mean())}


def git_commit() -> dict:
    """The checkout's commit and whether it has uncommitted changes (None outside git)."""
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def sample_phrase(pipe, generator: str, phrase: str, args: argparse.Namespace) -> tuple[np.ndarray, dict]:
    """``n_per_digit`` engine images per digit prompt with ``phrase``: (uint8 [10*n,32,32], set record)."""
    from PIL import Image

    from synthrec_core.generation import GenerationJob, generate
    from synthrec_core.mini.corpus_text import DIGIT_WORDS

    prompts = [TEMPLATE.format(digit=d, phrase=phrase) for d in range(10)]
    job = GenerationJob(classnames=tuple(DIGIT_WORDS), pipeline_id=generator, sentences=tuple((p,) for p in prompts),
                        images_per_prompt=args.n_per_digit, seed=args.seed, scheduler=args.scheduler, steps=args.steps,
                        guidance_scale=args.guidance, workers=args.workers)
    job = job.resolved(pipe)
    s = generate(job, pipe, progress=False)
    rows = sorted(s.manifest().itertuples(), key=lambda r: (r.class_index, r.image_index))
    images = np.stack([np.asarray(Image.open(s.root / r.path).convert("L")) for r in rows])
    return images, {"set_key": job.set_key, "generator_weights": job.weights, "image_seeds": [int(r.seed) for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="minigen", help="a registered generator name or a diffusers folder")
    ap.add_argument("--n-per-digit", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="the seed of every set (per-image seeds derive from it)")
    ap.add_argument("--scheduler", default="dpm++")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--real-n", type=int, default=800, help="real train images per dataset")
    ap.add_argument("--workers", type=int, default=None, help="engine CPU workers (None = CPU cores); no effect on images")
    ap.add_argument("--out", default=None, help="default results/mini/minigen_diagnostics.json")
    args = ap.parse_args()

    from synthrec_core.data import load_dataset
    from synthrec_core.models import load_generator
    from synthrec_core.paths import results_dir
    from synthrec_core.utils import atomic_write_json

    t0 = time.time()
    pipe = load_generator(args.generator)
    out: dict = {"script": "scripts/minigen_diagnostics.py", "git": git_commit(), "generator": args.generator,
                 "settings": {"template": TEMPLATE, "digits": list(range(10)), "images_per_prompt": args.n_per_digit,
                              "seed": args.seed, "scheduler": args.scheduler, "steps": args.steps,
                              "guidance_scale": args.guidance, "stroke_mask_threshold": STROKE_MASK, "lit_threshold": LIT,
                              "real_split": "train", "real_images": args.real_n},
                 "phrases": {}, "real": {}}
    for phrase in PHRASES:
        images, record = sample_phrase(pipe, args.generator, phrase, args)
        out["phrases"][phrase.strip() or "(none)"] = {"phrase": phrase.strip(), **measure(images), **record}
    for name in ("mnist", "digits"):
        out["real"][name] = measure(load_dataset(name).to_mini().train.images[: args.real_n])
    out["seconds"] = round(time.time() - t0, 1)
    path = Path(args.out) if args.out else results_dir("mini") / "minigen_diagnostics.json"
    atomic_write_json(path, out)
    for name, r in {**out["phrases"], **{f"real {k}": v for k, v in out["real"].items()}}.items():
        print(f"{name:40s} stroke width {r['stroke_width_px']['mean']:5.2f} px  sharpness {r['sharpness']['mean']:6.1f}  "
              f"mid-gray {r['mid_gray_share']:.2f}  mean pixel {r['mean_pixel']:5.1f}", flush=True)
    print(f"-> {path} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
