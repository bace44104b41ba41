"""Fewer sampler steps at the same quality? MiniGen's samples judged and filtered, per sampler setting.

    PYTHONPATH=. .venv/bin/python benchmarks/sampler_quality.py [--settings dpm++:10 unipc:7 ...] [--seeds 0 1 2]

For each dataset's gate-1 prompts (MNIST, Animal-MNIST, Fashion-MNIST; 32 images per class per
seed, through the engine), two quality figures per sampler setting: the share of samples a
corpus-trained judge assigns to the prompted class (the mini world's gate 1), and the CLIP
filter's pass rate with MiniCLIP's zero-shot head. Each is mean ± std over seeds. A setting
*holds* on a dataset when both means are within the larger of the two settings' seed spreads
of the reference (the first setting). ``ratio``: reference steps / steps of the fastest setting
that holds on every dataset (the speed-up it buys at equal quality). Needs the mini corpus
(built by the 00_foundation chapter); about 15 minutes on 2 cores for the default settings.
"""

from __future__ import annotations

import argparse

import _common

_common.setup(threads=2)

import numpy as np  # noqa: E402

from synthrec_core.filtering import clip_probs  # noqa: E402
from synthrec_core.mini import gates  # noqa: E402
from synthrec_core.mini.corpus import corpus_preset, load_corpus  # noqa: E402
from synthrec_core.toolkit import load_toolkit  # noqa: E402
from synthrec_core.zero_shot import class_names, fill_template  # noqa: E402

DATASETS = ("mnist", "animal_mnist", "fashion_mnist")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", nargs="+", default=["dpm++:10", "dpm++:8", "dpm++:6", "unipc:8", "unipc:7", "unipc:6"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n-per-class", type=int, default=32)
    a = ap.parse_args()
    tk = load_toolkit("mini")
    corp = load_corpus(corpus_preset("mini"))
    rows: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in DATASETS:
        splits = tk.splits(name)
        classes = list(splits.classnames)
        judge = gates.train_judge(corp, classes)
        p = gates._real_features(tk, splits)
        head, _ = gates._zero_shot(tk, name, splits, p)
        template, names = gates._entry(gates.world()["gate1_prompts"][name])
        prompts = [fill_template(template, n) for n in class_names(splits, names)]
        for setting in a.settings:
            sched, steps = setting.split(":")
            tk.gen.update(scheduler=sched, steps=int(steps))
            judged, passed = [], []
            for seed in a.seeds:
                s = gates._gate_set(tk, classes, prompts, a.n_per_class, seed, progress=False)
                x, y = gates.set_images(s), s.manifest()["class_index"].to_numpy()
                judged.append(float((judge(x) == y).mean()))
                from synthrec_core.features import encode_images

                pr = clip_probs(encode_images(tk.encoder, x, progress=False), head.weight.detach().numpy(),
                                float(head.logit_scale.exp()))
                passed.append(float((pr[np.arange(len(y)), y] > 1 / len(classes)).mean()))
            rows.setdefault(setting, {})[name] = {"judge": judged, "cf_pass": passed}
            print(name, setting, f"judge {np.mean(judged):.3f} ± {np.std(judged, ddof=1):.3f}",
                  f"CF {np.mean(passed):.3f} ± {np.std(passed, ddof=1):.3f}", flush=True)
    ref = a.settings[0]
    holds = {}
    for setting in a.settings:
        ok = []
        for name in DATASETS:
            for m in ("judge", "cf_pass"):
                r, s = rows[ref][name][m], rows[setting][name][m]
                ok.append(abs(np.mean(s) - np.mean(r)) <= max(np.std(r, ddof=1), np.std(s, ddof=1)))
        holds[setting] = bool(all(ok))
    steps_of = lambda s: int(s.split(":")[1])
    fastest = min((s for s in a.settings if holds[s]), key=steps_of)
    _common.write_result("sampler_quality", steps_of(ref) / steps_of(fastest), {
        "what": f"reference steps / steps of the fastest setting within the seed spread of {ref} on every dataset "
                "(judge accuracy and CF pass rate)",
        "reference": ref, "fastest_holding": fastest, "holds": holds, "seeds": a.seeds, "n_per_class": a.n_per_class,
        "measured": {s: {n: {m: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v, ddof=1)), 4)}
                             for m, v in d.items()} for n, d in r.items()} for s, r in rows.items()},
    })


if __name__ == "__main__":
    main()
