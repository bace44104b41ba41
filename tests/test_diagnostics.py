"""Diagnostics: FID/KID against known answers, diversity, pass rates, figures from tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthrec_core.diagnostics import (
    compare_with_real,
    diversity,
    fid,
    gallery,
    kid,
    pass_rates,
    plot_pass_rates,
    plot_score_histograms,
)
from synthrec_core.filtering import clip_filter


def test_fid_is_zero_for_identical_sets_and_matches_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert fid(a, a) == pytest.approx(0.0, abs=1e-8)
    # N(0, I) vs N(mu, 4 I) in 3-D: |mu|^2 + 3 * (1 + 4 - 2 * 2) = |mu|^2 + 3
    b = 2.0 * rng.standard_normal((4000, 3)) + np.array([1.0, 2.0, 0.0])
    assert fid(a, b) == pytest.approx(5.0 + 3.0, rel=0.05)


def test_fid_handles_more_dims_than_samples():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((10, 64)), rng.standard_normal((12, 64)) + 3
    v = fid(a, b)
    assert np.isfinite(v) and v > fid(a, rng.standard_normal((12, 64)))


def test_kid_near_zero_for_same_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((500, 8)), rng.standard_normal((500, 8))
    same, _ = kid(a, b, subset_size=200, n_subsets=20)
    shifted, _ = kid(a, b + 1.0, subset_size=200, n_subsets=20)
    assert abs(same) < 0.02 < shifted


def test_diversity_is_zero_for_identical_images_and_grows_with_spread():
    f = np.vstack([np.tile([1.0, 0, 0], (5, 1)), np.eye(3), [[-1.0, 0, 0]]])
    d = diversity(f, [0] * 5 + [1] * 4, classnames=["same", "spread"])
    assert d["same"] == pytest.approx(0.0, abs=1e-12)
    assert d["spread"] > 0.9


def _decisions():
    img = np.vstack([np.eye(3)[[0, 0, 1, 2]], np.eye(3)[[1, 1, 0]]])
    return clip_filter(img, [0, 0, 0, 0, 1, 1, 1], np.eye(3), keep_per_class=2)


def test_pass_rates_per_class_and_overall():
    r = pass_rates(_decisions(), ["a", "b", "c"])
    assert r.loc["a", "pass_rate"] == 0.5 and r.loc["b", "pass_rate"] == pytest.approx(2 / 3)
    assert r.loc["all", "images"] == 7 and r.loc["all", "passed"] == 4


def test_figures_are_drawn_from_tables():
    import matplotlib

    matplotlib.use("Agg")
    d = _decisions()
    assert plot_score_histograms(d, ["a", "b", "c"]).axes
    assert plot_pass_rates(pass_rates(d, ["a", "b", "c"])).axes


def test_gallery_and_compare_with_real_on_a_set(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from synthrec_core.generation import GenerationJob, generate
    from tiny_models import tiny_sd

    torch.set_num_threads(1)
    s = generate(GenerationJob(classnames=("x", "y"), pipeline_id="tiny-sd", images_per_prompt=3, steps=2, output_dir=str(tmp_path / "s")), tiny_sd(), progress=False)
    d = pd.DataFrame({"id": s.manifest()["id"], "label": s.labels(), "kept": [True, False, True] * 2})
    fig = gallery(s, d, per_class=2)
    assert len(fig.axes) == 2 * 4
    rng = np.random.default_rng(0)
    t = compare_with_real(rng.standard_normal((6, 4)), s.labels(), rng.standard_normal((6, 4)), [0, 1] * 3, ["x", "y"], kid_subset=3)
    assert list(t.index) == ["x", "y", "all"] and np.isfinite(t["fid"]).all()
