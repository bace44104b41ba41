"""Classifier tuning on cached features vs re-encoding the images every epoch, side by side.

    PYTHONPATH=. .venv/bin/python benchmarks/ct_cached.py [--per-class 64] [--epochs 30]

The zero-shot recipe extracts features once (eval mode, no augmentation: paper §1) and tunes
only the head. The alternative it replaces encodes the training and validation images through
the frozen image tower at every epoch. Both run the same CT recipe (``classifier.tune_head``'s
loop) on the same MiniCLIP features of Animal-MNIST train images (standing in for a synthetic
set) with validation selection; ``ratio`` = seconds re-encoding / seconds on cached features
(read back from the content-keyed cache; target >= 100). The cold cost (one encoding pass, then
CT) is reported beside it.
"""

from __future__ import annotations

import argparse
import time

import _common

_common.setup(threads=2)

import numpy as np  # noqa: E402

from synthrec_core.classifier import HeadConfig, tune_head  # noqa: E402
from synthrec_core.features import encode_images  # noqa: E402
from synthrec_core.toolkit import load_toolkit  # noqa: E402
from synthrec_core.zero_shot import zero_shot_head  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args()
    tk = load_toolkit("mini", generator=False)
    splits = tk.splits("animal_mnist")
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.permutation(np.flatnonzero(splits.train.labels == c))[: a.per_class] for c in range(10)])
    x_img, y = splits.train.images[idx], splits.train.labels[idx]
    val_img, val_y = splits.val.images, splits.val.labels
    enc = lambda imgs, cache: encode_images(tk.encoder, imgs, cache=cache, progress=False)  # noqa: E731
    head, _ = zero_shot_head(tk.model, tk.tokenizer, splits, tk.prompt_spec("animal_mnist"), (enc(val_img, True), val_y))
    cfg = HeadConfig(epochs=a.epochs, batch_size=min(512, len(y)))

    t = time.perf_counter()
    feats, vfeats = enc(x_img, False), enc(val_img, False)  # one pass, as the recipe does (cold cache)
    tuned_cached, _ = tune_head(head, feats, y, cfg, val=(vfeats, val_y))
    cached = time.perf_counter() - t
    t = time.perf_counter()
    warm_feats, warm_val = enc(x_img, True), enc(val_img, True)
    tune_head(head, warm_feats, y, cfg, val=(warm_val, val_y))
    warm = time.perf_counter() - t

    t = time.perf_counter()
    h = head
    for epoch in range(a.epochs):  # the same schedule, one epoch at a time, images re-encoded each time
        f, vf = enc(x_img, False), enc(val_img, False)
        h, _ = tune_head(h, f, y, cfg.replace(epochs=1, schedule="constant"), val=(vf, val_y))
    reencode = time.perf_counter() - t
    _common.write_result("ct_cached", reencode / warm, {
        "what": "CT seconds re-encoding train+val images every epoch / seconds on cached features",
        "train_images": int(len(y)), "val_images": int(len(val_y)), "epochs": a.epochs,
        "seconds_cached_cold": round(cached, 3), "seconds_cached_warm": round(warm, 3), "seconds_reencoding": round(reencode, 3),
        "ratio_cold": round(reencode / cached, 1),
    })


if __name__ == "__main__":
    main()
