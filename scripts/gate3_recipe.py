"""Which gate-3 recipe? The paper's zero-shot recipe pieces, measured on the shipped mini models.

Gate 3 tunes MiniCLIP's zero-shot head on MiniGen images. This script measures that gain for
each recipe of the mini profile's ``world.gate3_recipes`` (``profiles/mini.yaml``: how the
synthetic set is prompted and how the head is tuned), through the same zero-shot recipe and engine
as the chapter. Images are shared by content, so recipes with the same prompts share their sets.

    .venv/bin/python scripts/gate3_recipe.py --report-on holdout   # choose (held-out train images)
    .venv/bin/python scripts/gate3_recipe.py                       # the same on test, for the record

``--report-on holdout`` is how the recipe is *chosen*: the rule of
:func:`synthrec_core.mini.selection.select_variant` on real train-split images no model or head
trains on. Writes ``results/mini/gate3_recipe_selection.json`` (holdout) or
``gate3_recipe.json`` (test) and prints one row per (recipe, dataset).
"""

from __future__ import annotations

import argparse

import torch

from synthrec_core.mini import gates, selection
from synthrec_core.toolkit import load_toolkit
from synthrec_core.utils import atomic_write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    recipes = gates.world()["gate3_recipes"]
    ap.add_argument("--recipes", nargs="+", default=list(recipes), choices=list(recipes))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-per-class", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-on", choices=gates.REPORT_SPLITS, default="test",
                    help="test: for the record; holdout: held-out train images, for choosing a recipe")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tk = load_toolkit("mini")
    target = selection.selection_results_path("gate3_recipe", "mini", args.report_on)
    gate2 = gates.miniclip_gate(tk, seeds=args.seeds, report_on=args.report_on)
    out: dict = {"seeds": args.seeds, "report_on": args.report_on, "variants": {}}
    for name in args.recipes:
        res = gates.synthetic_gain(tk, seeds=args.seeds, n_per_class=args.n_per_class, recipe=name, report_on=args.report_on)
        out["variants"][name] = {"recipe": recipes[name], "synthetic_detail": res["synthetic_detail"],
                                 **{k: gate2[k] for k in ("miniclip_zero_shot", "linear_probe_16shot")},
                                 "synthetic_gain": res["synthetic_gain"]}
        for d in gates.DATASETS:
            g = res["synthetic_gain"][d]
            print(f"{name:24s} {d:14s} zero-shot {100 * gate2['miniclip_zero_shot'][d]:5.1f}  "
                  f"gain {100 * g['mean']:+.2f} ± {100 * g['std']:.2f}", flush=True)
        atomic_write_json(target, out)
    selection.finish_selection(out, target, args.report_on)


if __name__ == "__main__":
    main()
