"""Feature cache: time of a second encoding request for the same set / time of the first.

Encodes a synthetic set (tiny SD, 32 px) with open_clip ``RN50`` (random weights, 224 px
preprocessing) through ``features.encode_images``. The second request is timed twice: with
the weight-hash memo warm (same model object, as in a notebook) and cold (memo cleared, as
in a new process: the image tower's ~150 MB of weights are hashed again). The ratio
reported is the cold one, the worse of the two.

    PYTHONPATH=. .venv/bin/python benchmarks/feature_cache.py [--images 64]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _common

_common.setup()

import numpy as np  # noqa: E402

from synthrec_core import features  # noqa: E402
from synthrec_core.features import Encoder, encode_images  # noqa: E402
from synthrec_core.generation import GenerationJob, generate  # noqa: E402
from tiny_models import tiny_rn, tiny_sd  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=64)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_feat_"))
    s = generate(GenerationJob(classnames=("a", "b", "c", "d"), pipeline_id="tiny-sd", images_per_prompt=a.images // 4, steps=2,
                               output_dir=str(work / "set")), tiny_sd(), progress=False)
    model, preprocess, _ = tiny_rn()
    enc = Encoder(model, preprocess, "RN50-random")
    cache = work / "cache"
    t1, f1 = _common.timed(lambda: encode_images(enc, s, cache_root=cache, batch_size=16, progress=False))
    t2, f2 = _common.timed(lambda: encode_images(enc, s, cache_root=cache, progress=False))
    features._WEIGHT_HASHES.clear()
    t3, f3 = _common.timed(lambda: encode_images(Encoder(model, preprocess, "RN50-random"), s, cache_root=cache, progress=False))
    assert np.array_equal(f1, f2) and np.array_equal(f1, f3)
    shutil.rmtree(work, ignore_errors=True)
    _common.write_result(
        "feature_cache",
        t3 / t1,
        {
            "images": len(f1), "encoder": "open_clip RN50, pretrained=None, 224 px", "threads": 1,
            "first_request_s": round(t1, 3), "second_request_warm_memo_s": round(t2, 4),
            "second_request_cold_memo_s": round(t3, 4), "ratio_warm": round(t2 / t1, 5),
        },
    )


if __name__ == "__main__":
    main()
