"""The measurements of ``scripts/minigen_diagnostics.py`` (stroke width, sharpness) on images
whose answer is known, and the shape of the results file it committed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "minigen_diagnostics.py"


@pytest.fixture(scope="module")
def diag():
    spec = importlib.util.spec_from_file_location("minigen_diagnostics", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _bars(width: int, n: int = 3) -> np.ndarray:
    imgs = np.zeros((n, 32, 32), np.uint8)
    imgs[:, 6:26, 14 : 14 + width] = 255
    return imgs


def test_stroke_width_and_sharpness_of_known_images(diag):
    from synthrec_core.mini.train import lowres

    thin, bold = diag.measure(_bars(2)), diag.measure(_bars(5))
    assert thin["stroke_width_px"]["mean"] < 2.5 < 4.0 < bold["stroke_width_px"]["mean"]
    assert thin["stroke_width_px"]["std"] == 0.0 and thin["n_images"] == 3
    sharp, blurred = diag.sharpness(_bars(3)), diag.sharpness(lowres(_bars(3), 8))
    assert (blurred < 0.5 * sharp).all()  # blurrier is lower
    assert diag.measure(_bars(3))["mid_gray_share"] == 0.0 and diag.measure(lowres(_bars(3), 8))["mid_gray_share"] > 0.5
    assert (diag.sharpness(np.zeros((2, 32, 32), np.uint8)) == 0).all()  # no lit pixel: 0, not NaN


def test_committed_results_record_commit_settings_and_seeds():
    path = Path(__file__).resolve().parents[1] / "results" / "mini" / "minigen_diagnostics.json"
    out = json.loads(path.read_text())
    assert out["script"] == "scripts/minigen_diagnostics.py" and len(out["git"]["commit"]) == 40
    n = 10 * out["settings"]["images_per_prompt"]
    for name, r in out["phrases"].items():
        assert r["n_images"] == n and len(r["image_seeds"]) == n and len(set(r["image_seeds"])) == n, name
    assert set(out["real"]) == {"mnist", "digits"}
