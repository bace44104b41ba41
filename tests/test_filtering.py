"""CLIP filter and real filter on hand-built features whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from synthrec_core.config import ConfigError
from synthrec_core.filtering import class_embeddings, clip_filter, clip_probs, real_filter

# three orthogonal class prompts in 3-D
TEXT = np.eye(3)


def test_clip_probs_are_softmax_of_scaled_cosine():
    img = np.array([[2.0, 0, 0], [1.0, 1.0, 0]])
    p = clip_probs(img, TEXT, logit_scale=10.0)
    e = np.exp([10.0, 0, 0])
    np.testing.assert_allclose(p[0], e / e.sum())
    c = 10 / np.sqrt(2)
    e = np.exp([c, c, 0])
    np.testing.assert_allclose(p[1], e / e.sum())
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_passes_when_own_probability_exceeds_one_over_n():
    img = np.array([[1.0, 0, 0], [0, 1.0, 0], [1.0, 1.0, 1.0], [1.0, 0.9, 0]])
    d = clip_filter(img, [0, 0, 0, 1], TEXT, logit_scale=100.0)
    # own class, wrong class, exactly uniform (p = 1/3 is not > 1/3), runner-up
    assert d["passed"].tolist() == [True, False, False, False]
    assert d["pred"].tolist() == [0, 1, 0, 0]
    assert d["kept"].tolist() == d["passed"].tolist()  # keep_per_class=None keeps all passers
    assert set(d["selection"]) == {"passers"}


def test_random_k_among_passers_is_seeded_and_only_passers():
    rng = np.random.default_rng(0)
    good = np.eye(3)[[0] * 10] + 0.01 * rng.standard_normal((10, 3))
    bad = np.eye(3)[[1] * 5]
    img = np.vstack([good, bad])
    labels = [0] * 15
    a = clip_filter(img, labels, TEXT, keep_per_class=4, seed=1)
    b = clip_filter(img, labels, TEXT, keep_per_class=4, seed=1)
    c = clip_filter(img, labels, TEXT, keep_per_class=4, seed=2)
    assert a["kept"].sum() == 4 and a.loc[a["kept"], "passed"].all()
    assert a["kept"].tolist() == b["kept"].tolist() != c["kept"].tolist()
    assert set(a["selection"]) == {"random"}


def test_top_k_by_confidence_when_too_few_pass():
    # class 0: confidences decreasing; only the first two pass
    img = np.array([[1.0, 0, 0], [1.0, 0.5, 0], [0.5, 1.0, 0], [0.2, 1.0, 0], [0.0, 1.0, 0]])
    d = clip_filter(img, [0] * 5, TEXT, keep_per_class=3, logit_scale=10.0, ids=list("abcde"))
    assert d["passed"].tolist() == [True, True, False, False, False]
    assert d.loc[d["kept"], "id"].tolist() == ["a", "b", "c"]  # two passers + best failing one
    assert set(d["selection"]) == {"top"}


def test_classes_are_filtered_independently():
    img = np.vstack([np.eye(3)[[0] * 6], np.eye(3)[[2] * 2]])
    d = clip_filter(img, [0] * 6 + [1] * 2, TEXT, keep_per_class=3)
    assert d.groupby("label")["kept"].sum().tolist() == [3, 2]
    assert d.groupby("label")["selection"].first().tolist() == ["random", "top"]


def test_template_ensembles_are_averaged_after_normalising():
    ens = np.stack([np.stack([np.eye(3)[c] * 5, np.eye(3)[c] + 0.1]) for c in range(3)])
    emb = class_embeddings(ens)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0)
    assert np.argmax(emb, axis=1).tolist() == [0, 1, 2]


def test_clip_filter_rejects_bad_input():
    with pytest.raises(ConfigError, match="labels must lie in"):
        clip_filter(np.eye(3), [0, 1, 3], TEXT)
    with pytest.raises(ConfigError, match="keep_per_class=0"):
        clip_filter(np.eye(3), [0, 1, 2], TEXT, keep_per_class=0)
    with pytest.raises(ConfigError, match="image dim 2 != text dim 3"):
        clip_filter(np.ones((2, 2)), [0, 1], TEXT)


# -- real filter ----------------------------------------------------------------------
REAL = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
REAL_Y = [0, 0, 1, 1]


@pytest.mark.parametrize("distance", ["mean", "nearest"])
def test_real_filter_drops_images_nearer_to_another_class(distance):
    syn = np.array([[1.0, 0.05], [0.1, 1.0], [0.2, 1.0], [0.8, 0.2]])
    d = real_filter(syn, [0, 0, 1, 1], REAL, REAL_Y, distance=distance, ids=["a", "b", "c", "d"])
    assert d["kept"].tolist() == [True, False, True, False]
    assert d["nearest_class"].tolist() == [0, 1, 1, 0]
    assert (d["sim_own"] >= d["sim_other"]).tolist() == d["kept"].tolist()


def test_mean_and_nearest_distance_can_disagree():
    # class 0 shots spread apart; class 1 shots tight near 60 degrees
    real = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, np.sqrt(3) / 2], [0.52, 0.85]])
    real_y = [0, 0, 1, 1]
    syn = np.array([[0.05, 1.0]])  # almost on a class-0 shot, far from class-0's mean
    assert real_filter(syn, [0], real, real_y, distance="nearest")["kept"].item()
    assert not real_filter(syn, [0], real, real_y, distance="mean")["kept"].item()


def test_real_filter_needs_shots_for_every_class():
    with pytest.raises(ConfigError, match=r"no real shots for synthetic classes \[2\]"):
        real_filter(np.ones((1, 2)), [2], REAL, REAL_Y)
    with pytest.raises(ConfigError, match="distance='cosine'"):
        real_filter(np.ones((1, 2)), [0], REAL, REAL_Y, distance="cosine")
