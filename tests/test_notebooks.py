"""Each notebook's CI-default run records the metrics it recorded before (the recommenders pattern).

Every notebook runs headless at its own defaults (the ``ci`` level) through ``synthrec run``'s
code path, into a temporary results folder (the session fixture ``ci_notebooks``, shared with the
rendered-book test), and the numbers it writes are compared with
``tests/notebook_metrics.json`` using ``pytest.approx``. A change that moves a number fails here;
when the change is meant, re-record with

    SYNTHREC_RECORD_METRICS=1 .venv/bin/python -m pytest tests/test_notebooks.py

and commit the JSON with the change that explains it. nbval (``make test``) re-executes the same
notebooks separately and checks they run clean.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

REFERENCE = Path(__file__).with_name("notebook_metrics.json")
#: what each notebook's CI run is checked on: dotted paths into results/ci/<stem>.json
METRICS = {
    "00_datasets": ["sizes.mnist.train", "sizes.mnist.test", "sizes.digits.val", "sizes.animal_mnist.test",
                    "sizes.fashion_mnist.test"],
    "00_foundation": ["miniclip_zero_shot.mnist", "miniclip_zero_shot.digits", "minigen_class_accuracy.mnist",
                      "synthetic_gain.mnist.mean", "synthetic_gain.digits.mean", "synthetic_ceiling.mnist.mean", "corpus.images"],
    "00_synthetic_sets": ["pass_rate"],
    "01_zero_shot": ["findings.F1.mean", "findings.F3.mean", "findings.F5.mean", "findings.F6.mean", "findings.F7.mean",
                     "findings.F8.mean"],
    "02_few_shot": ["findings.F9.mean", "findings.F10.mean", "findings.F11.mean"],
    "03_pretraining": ["findings.F12.mean", "findings.F13.mean"],
}
TOLERANCE = 1e-6  # the CI runs are deterministic on one kind of machine (single-threaded, seeded)


def _dig(data: dict, path: str):
    for part in path.split("."):
        data = data[part]
    return data


@pytest.mark.parametrize("stem", list(METRICS))
def test_ci_run_records_the_same_metrics(stem, ci_notebooks):
    data = json.loads((ci_notebooks["results"] / f"{stem}.json").read_text())
    got = {m: _dig(data, m) for m in METRICS[stem]}
    if os.environ.get("SYNTHREC_RECORD_METRICS"):
        ref = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
        ref[stem] = got
        REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {stem}")
    want = json.loads(REFERENCE.read_text())[stem]
    assert set(want) == set(got)
    for m, v in want.items():
        assert got[m] == pytest.approx(v, abs=TOLERANCE), m
