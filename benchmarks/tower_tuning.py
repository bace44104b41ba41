"""Tower tuning on MiniCLIP, one thread: training images/s per part, and the ratio of whole-tower
training to eval-mode encoding.

Trains the shipped MiniCLIP's image tower (``tower_tuning.tune_tower``, CE, no validation) on
random preprocessed 32x32 tensors for each of ``parts`` = head / last_block / all, with BatchNorm
frozen and not, and times eval-mode encoding (``encode_tower``) of the same images beside them.
The runs alternate over ``--repeats`` rounds and each keeps its best epoch. Throughput does not
depend on image content, so random tensors suffice. The ratio reported is
``all (BN frozen) training images/s / encoding images/s``.

    PYTHONPATH=. .venv/bin/python benchmarks/tower_tuning.py [--images 512 --batch 128 --repeats 3]
"""

from __future__ import annotations

import argparse
import time

import _common

_common.setup()

import torch  # noqa: E402

from synthrec_core.classifier import HeadConfig, ZeroShotHead  # noqa: E402
from synthrec_core.models import load_clip  # noqa: E402
from synthrec_core.tower_tuning import TowerConfig, encode_tower, parameter_share, tune_tower  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    model, _, _ = load_clip("MiniCLIP-CNN", "mini")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.images, 3, 32, 32, generator=g)
    y = torch.arange(a.images) % 10
    head = ZeroShotHead(torch.nn.functional.normalize(torch.randn(10, 128, generator=g), dim=-1), logit_scale=float(model.logit_scale.detach()))
    runs = [(p, fb) for p in ("head", "last_block", "all") for fb in (True, False) if not (p == "head" and not fb)]
    best: dict[str, float] = {}
    for _ in range(a.repeats):
        t = time.perf_counter()
        encode_tower(model, x, batch_size=a.batch)
        best["encode"] = max(best.get("encode", 0.0), a.images / (time.perf_counter() - t))
        for parts, fb in runs:
            cfg = TowerConfig(parts=parts, freeze_bn=fb, train=HeadConfig(loss="ce", epochs=2, batch_size=a.batch, select="last"))
            _, _, hist = tune_tower(model, head, x, y, cfg)
            key = f"{parts}{'' if fb else ' (BN not frozen)'}"
            best[key] = max([best.get(key, 0.0)] + [r["images_per_s"] for r in hist[1:]])
    details = {f"{k} images/s": round(v, 1) for k, v in best.items()}
    details.update({f"{p} share of classifier params": round(parameter_share(model, head, p)["share"], 5) for p in ("head", "last_block", "all")})
    details.update({"images": a.images, "batch": a.batch, "threads": torch.get_num_threads(),
                    "note": "'head' trains on features computed once (no tower pass per step): its images/s is the head's alone"})
    _common.write_result("tower_tuning", best["all"] / best["encode"], details)


if __name__ == "__main__":
    main()
