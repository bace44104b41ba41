"""Few-shot baselines and real-only tower tuning with the shipped MiniCLIP (a smoke measurement).

Prints, per dataset and shot count, held-out top-1 of the registry's methods
(``few_shot.run_methods``: zero-shot, CT from the text head, linear probe, Tip-Adapter with
``TipConfig.wide()``, Tip-Adapter-F, CoOp over n_ctx 4/16) and what each chose on validation.
With ``--tower``: 16-shot Fashion-MNIST, CE on the real shots, ``tower_tuning.tune_tower`` for
head / last block / all, BatchNorm frozen or not (the setting of the paper's F11). One seed; the
held-out images are train images none of the shots come from (``report_on="holdout"``); all
selection is on the validation split (first 1,000 images).

    .venv/bin/python scripts/adhoc/few_shot_baselines.py [--datasets fashion_mnist animal_mnist] [--shots 1 4 16] [--tower]
"""

from __future__ import annotations

import argparse
import time

import torch

from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, zero_shot_weights
from synthrec_core.coop import CoOpConfig
from synthrec_core.data.splits import kshot_indices
from synthrec_core.few_shot import ClassText, CoOpGrid, TipConfig, TipFConfig, run_methods
from synthrec_core.mini.evaluate import _DOMAIN, TEMPLATES, _splits, image_features
from synthrec_core.mini.miniclip import miniclip_image_tensor
from synthrec_core.models import load_clip
from synthrec_core.tower_tuning import TowerConfig, evaluate_tower, tune_tower

METHODS = ["zero_shot", "ct_real", "linear_probe", "tip_adapter", "tip_adapter_f", "coop"]


def setup(name: str, model, tok):
    splits = _splits(name, report_on="holdout")
    names = [c.replace("_", " ") for c in splits.train.classnames]
    template = TEMPLATES[_DOMAIN[name]][0].replace("{name}", "{}").replace("{digit}", "{}")
    head = ZeroShotHead(zero_shot_weights(model, tok, names, [template]), logit_scale=float(model.logit_scale.detach()))
    return splits, names, template, head


def baselines(name: str, shots: list[int], model, tok) -> None:
    splits, names, template, head = setup(name, model, tok)
    f = {s: image_features(model, splits[s].images).numpy() for s in ("train", "val", "test")}
    val = (f["val"][:1000], splits.val.labels[:1000])
    opts = {"tip_adapter": TipConfig.wide(), "tip_adapter_f": TipFConfig(grid=TipConfig.wide()),
            "coop": CoOpGrid(n_ctx_grid=(4, 16), base=CoOpConfig(epochs=20))}
    print(f"\n{name}  (zero-shot template {template!r}; held-out {len(splits.test)} images)")
    for k in shots:
        idx = kshot_indices(splits.train.labels, k, seed=0)
        t = time.perf_counter()
        out = run_methods(METHODS, (f["train"][idx], splits.train.labels[idx]), val, head, ClassText(model, tok, names), opts)
        for m, r in out.items():
            acc = accuracy(r.predictor, f["test"], splits.test.labels)
            print(f"  k={k:2d} {m:14s} {100 * acc:6.2f}   chose {r.record()['chosen']}")
        print(f"  ({time.perf_counter() - t:.0f} s)")


def tower(model, tok) -> None:
    splits, _, _, head = setup("fashion_mnist", model, tok)
    idx = kshot_indices(splits.train.labels, 16, seed=0)
    x, y = miniclip_image_tensor(splits.train.images[idx]), splits.train.labels[idx]
    val = (miniclip_image_tensor(splits.val.images[:1000]), splits.val.labels[:1000])
    xt, yt = miniclip_image_tensor(splits.test.images), splits.test.labels
    print("\nfashion_mnist 16-shot, real only, CE, 30 epochs, batch 32, lr 2e-3")
    for parts in ("head", "last_block", "all"):
        for fb in ((True,) if parts == "head" else (True, False)):
            t = time.perf_counter()
            m, h, hist = tune_tower(model, head, x, y, TowerConfig(parts=parts, freeze_bn=fb, train=HeadConfig(loss="ce", batch_size=32)), val=val)
            sel = next(r for r in hist if r["selected"])
            print(f"  {parts:10s} BN {'frozen' if fb else 'train '}  held-out {100 * evaluate_tower(m, h, xt, yt):6.2f}  "
                  f"(epoch {sel['epoch']}, val {100 * sel['val_acc']:.2f}; {time.perf_counter() - t:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["fashion_mnist", "animal_mnist"])
    ap.add_argument("--shots", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--tower", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, _, tok = load_clip("MiniCLIP-CNN", "mini")
    if a.tower:
        tower(model, tok)
        return
    for name in a.datasets:
        baselines(name, a.shots, model, tok)


if __name__ == "__main__":
    main()
