"""Does gate 3 depend on how MiniCLIP was trained? Gates 2 and 3 for several MiniCLIP variants.

The shipped MiniCLIP is trained with concept-level targets on clean captions: every image's
caption names its concept, and all same-concept pairs in a batch are positives. Real CLIP learns
from instance-level pairs of noisy web alt text. This script trains the CLIP-like variants on the
same corpus and measures, for each, the zero-shot and 16-shot probe accuracy (gate 2) and the
gain from tuning the zero-shot head on MiniGen images, beside the corpus-image ceiling (gate 3).
MiniGen samples are shared by all variants (cached by content).

    .venv/bin/python scripts/miniclip_ablation.py                         # train (cached) + evaluate on test
    .venv/bin/python scripts/miniclip_ablation.py --report-on holdout     # the same on held-out train images
    .venv/bin/python scripts/miniclip_ablation.py --variants shipped caption

``--report-on holdout`` is how a variant is *chosen*: every number is measured on real train-split
images that no model or head trains on (:data:`synthrec_core.mini.gates.REPORT_SPLITS`), and
:func:`synthrec_core.mini.selection.select_variant` applies gates 2 and 3 to them. Writes
``results/mini/miniclip_ablation.json`` (test) or ``miniclip_selection.json`` (holdout, with the
choice) and prints one row per (variant, dataset).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from synthrec_core.mini import gates, selection
from synthrec_core.mini.corpus import build_corpus, corpus_preset, load_corpus
from synthrec_core.mini.train import MINICLIP_PRESETS, load_miniclip_run, train_miniclip
from synthrec_core.toolkit import load_toolkit
from synthrec_core.utils import atomic_write_json

#: MiniCLIP's mini recipe (``MINICLIP_PRESETS["mini"]``, trained ``--steps``) with these changes;
#: "shipped" (also accepted) evaluates the weights in the package
VARIANTS = {
    "concept": {"targets": "concept", "alt_text_noise": 0.0},
    "caption": {"targets": "caption", "alt_text_noise": 0.0},
    "caption+alt30": {"targets": "caption", "alt_text_noise": 0.3},
    "caption+alt40": {"targets": "caption", "alt_text_noise": 0.4},
    "caption+alt50": {"targets": "caption", "alt_text_noise": 0.5},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=["shipped", *VARIANTS])
    ap.add_argument("--steps", type=int, default=850, help="training steps of each trained variant")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-per-class", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-on", choices=gates.REPORT_SPLITS, default="test",
                    help="test: the ablation the book shows; holdout: held-out train images, for choosing a variant")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    corpus_cfg = corpus_preset("mini").replace(workers=args.threads)
    corpus = load_corpus(build_corpus(corpus_cfg))
    out: dict = {"n_per_class": args.n_per_class, "seeds": args.seeds, "report_on": args.report_on, "variants": {}}
    target = selection.selection_results_path("miniclip", "mini", args.report_on)
    shipped = load_toolkit("mini")
    for name in args.variants:
        if name == "shipped":
            tk = shipped
            recipe: dict = {"shipped": True}
        else:
            cfg = MINICLIP_PRESETS["mini"].replace(steps=args.steps, warmup_steps=40, threads=args.threads,
                                                   **VARIANTS[name])
            tk = load_toolkit("mini", clip=load_miniclip_run(train_miniclip(cfg)), pipeline=shipped.pipeline)
            recipe = cfg.to_dict()
        res = gates.miniclip_gate(tk, seeds=args.seeds, report_on=args.report_on)
        res.update(gates.synthetic_gain(tk, seeds=args.seeds, n_per_class=args.n_per_class, corpus=corpus,
                                        report_on=args.report_on))
        out["variants"][name] = {"recipe": recipe, **{k: res[k] for k in (
            "miniclip_zero_shot", "linear_probe_16shot", "synthetic_gain", "synthetic_ceiling")}}
        for d in gates.DATASETS:
            g, c = res["synthetic_gain"][d], res["synthetic_ceiling"][d]
            print(f"{name:14s} {d:14s} zero-shot {100 * res['miniclip_zero_shot'][d]:5.1f}  "
                  f"probe16 {100 * res['linear_probe_16shot'][d]:5.1f}  "
                  f"MiniGen gain {100 * g['mean']:+.2f} ± {100 * g['std']:.2f}  "
                  f"ceiling {100 * c['mean']:+.2f} ± {100 * c['std']:.2f}", flush=True)
        atomic_write_json(target, out)
    selection.finish_selection(out, target, args.report_on)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
