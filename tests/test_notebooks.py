"""Each notebook's CI-default run records the metrics it recorded before (the recommenders pattern).

Every notebook runs headless at its own defaults (the ``ci`` level) through ``synthrec run``'s
code path, into a temporary results folder, and the numbers it writes are compared with
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
}
TOLERANCE = 1e-6  # the CI runs are deterministic on one kind of machine (single-threaded, seeded)


def _dig(data: dict, path: str):
    for part in path.split("."):
        data = data[part]
    return data


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("nb")
    old = {k: os.environ.get(k) for k in ("SYNTHREC_RESULTS", "SYNTHREC_BUILD")}
    os.environ["SYNTHREC_RESULTS"], os.environ["SYNTHREC_BUILD"] = str(root / "results"), str(root / "build")
    yield root / "results" / "ci"
    for k, v in old.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("stem", list(METRICS))
def test_ci_run_records_the_same_metrics(stem, ci_results):
    from synthrec_core.runner import find_notebooks, run_notebook

    run_notebook(find_notebooks([stem])[0], "ci", progress=False)
    data = json.loads((ci_results / f"{stem}.json").read_text())
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
