"""Where do MiniGen's images sit in MiniCLIP's feature space, next to the text head and real images?

For each dataset: the cosine between each class's zero-shot text-head row and the centroid of
its real images, and between the centroid of its MiniGen images and that real centroid; and the
accuracy, on real images, of three nearest-centroid classifiers with no training at all: the
text head (zero-shot), MiniGen centroids, and the centroids of 32 real train images per class
(a few-shot reference). If MiniGen centroids classify better than the text head while classifier
tuning gains nothing, the information is in the images, and the tuning does not carry the head
across the image-text gap.

    .venv/bin/python scripts/modality_gap.py                       # held-out train images (default)
    .venv/bin/python scripts/modality_gap.py --report-on test

Writes ``results/mini/modality_gap.json`` (or ``modality_gap_test.json``) and prints a table.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from synthrec_core.data import kshot_indices
from synthrec_core.mini import evaluate
from synthrec_core.models import load_clip, load_generator
from synthrec_core.runner import find_notebooks, profile_parameters
from synthrec_core.paths import results_dir
from synthrec_core.utils import atomic_write_json


def _centroids(feats: torch.Tensor, labels: np.ndarray, n: int) -> torch.Tensor:
    c = torch.stack([feats[torch.from_numpy(labels == k)].mean(0) for k in range(n)])
    return c / c.norm(dim=1, keepdim=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=profile_parameters(find_notebooks(["00_foundation"])[0], "mini")["gate3_recipe"],
                    choices=list(evaluate.GATE3_RECIPES), help="whose MiniGen prompts to use (default: the mini profile's)")
    ap.add_argument("--n-per-class", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-on", choices=evaluate.REPORT_SPLITS, default="holdout")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, _, tok = load_clip("MiniCLIP-CNN", "mini")
    pipe = load_generator("minigen", scheduler="dpm")
    prompts = evaluate.recipe_prompts(args.recipe)
    out: dict = {"recipe": args.recipe, "n_per_class": args.n_per_class, "seed": args.seed,
                 "report_on": args.report_on, "datasets": {}}
    for name in evaluate.DATASETS:
        sp = evaluate._splits(name, report_on=args.report_on)
        classes = list(sp.train.classnames)
        k = len(classes)
        feats = {s: evaluate.image_features(model, sp[s].images) for s in ("train", "val", "test")}
        y = sp.test.labels
        text = evaluate.zero_shot(model, tok, name, sp, feats)["weights"]
        real = _centroids(feats["test"], y, k)
        samples = evaluate.generate_class_images(pipe, evaluate.gate3_prompts(name, classes, template=prompts[name]),
                                                 args.n_per_class, args.seed, 10, 3.0, progress=False)
        syn = _centroids(evaluate.image_features(model, samples.reshape(-1, *samples.shape[2:])),
                         np.repeat(np.arange(k), args.n_per_class), k)
        idx = kshot_indices(sp.train.labels, args.n_per_class, args.seed)
        shots = _centroids(feats["train"][idx], sp.train.labels[idx], k)
        acc = lambda w: float(((feats["test"] @ w.T).argmax(1).numpy() == y).mean())
        out["datasets"][name] = {
            "cos_text_to_real_centroid": float((text * real).sum(1).mean()),
            "cos_minigen_to_real_centroid": float((syn * real).sum(1).mean()),
            "acc_text_head": acc(text), "acc_minigen_centroids": acc(syn), "acc_real_shot_centroids": acc(shots),
        }
        r = out["datasets"][name]
        print(f"{name:14s} cos(text, real) {r['cos_text_to_real_centroid']:.3f}  cos(MiniGen, real) "
              f"{r['cos_minigen_to_real_centroid']:.3f}  accuracy: text head {100 * r['acc_text_head']:.1f}  "
              f"MiniGen centroids {100 * r['acc_minigen_centroids']:.1f}  "
              f"{args.n_per_class}-shot real centroids {100 * r['acc_real_shot_centroids']:.1f}", flush=True)
    stem = "modality_gap" if args.report_on == "holdout" else "modality_gap_test"
    atomic_write_json(results_dir("mini") / f"{stem}.json", out)


if __name__ == "__main__":
    main()
