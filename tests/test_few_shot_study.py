"""The few-shot study's rules: RF on crafted features, RG at the strength extremes (MiniGen),
k-shot draws from train only, and bad input refused before any work."""

from __future__ import annotations

import numpy as np
import pytest

from synthrec_core.config import ConfigError
from synthrec_core.filtering import real_filter
from synthrec_core.few_shot_study import FewShotConfig, _first, check_shots, curves, write_references


def test_rf_keeps_and_drops_exactly_the_documented_images():
    real = np.array([[1.0, 0.0], [0.0, 1.0]])  # one shot of class 0 on x, one of class 1 on y
    syn = np.array([[1.0, 0.1],   # class 0, near its own shot: kept
                    [0.1, 1.0],   # class 0, near class 1's shot: dropped
                    [1.0, 1.0],   # class 0, equidistant: a tie, kept
                    [0.2, 1.0]])  # class 1, near its own: kept
    d = real_filter(syn, [0, 0, 0, 1], real, [0, 1])
    assert d["kept"].tolist() == [True, False, True, True]


def test_rf_selection_tops_up_a_class_in_pool_order():
    labels = np.array([0, 0, 0, 1, 1])
    keep = np.array([False, True, False, True, True])
    assert _first(labels, np.arange(5), keep, 2).tolist() == [0, 1, 3, 4]  # class 0: its kept one, then the first dropped


@pytest.fixture(scope="module")
def minigen():
    from synthrec_core.models import img2img_pipeline
    from synthrec_core.toolkit import load_toolkit

    tk = load_toolkit("mini")
    return tk, img2img_pipeline(tk.pipeline), tk.splits("animal_mnist").train.images[:2]


def _rg(pipe, ref, strength, seed=0):
    import torch
    from PIL import Image

    out = pipe(prompt=["a bear."], image=[Image.fromarray(ref).convert("RGB")], strength=strength, num_inference_steps=20,
               guidance_scale=3.0, generator=[torch.Generator().manual_seed(seed)], output_type="pil")
    im = np.asarray((out.images if hasattr(out, "images") else out[0])[0].convert("L"), dtype=float)
    return im


def test_rg_small_strength_returns_the_reference_and_full_strength_ignores_it(minigen):
    _, pipe, refs = minigen
    near = np.abs(_rg(pipe, refs[0], 0.05) - refs[0]).mean()
    far = np.abs(_rg(pipe, refs[0], 1.0) - refs[0]).mean()
    assert near < 20 and far > 2 * near  # grey levels out of 255
    a, b = _rg(pipe, refs[0], 1.0), _rg(pipe, refs[1], 1.0)  # same seed, two references
    assert np.abs(a - b).mean() < 1.0


def test_kshot_draws_never_touch_val_or_test(minigen):
    tk, _, _ = minigen
    from synthrec_core.data import kshot, kshot_indices

    s = tk.splits("animal_mnist")
    shots = kshot(s, 4, seed=3)
    idx = kshot_indices(s.train, 4, seed=3)
    assert np.array_equal(shots.images, s.train.images[idx]) and np.bincount(shots.labels).tolist() == [4] * 10
    with pytest.raises(TypeError, match="draws from .train only"):
        kshot(s.test, 4, seed=3)


def test_bad_input_fails_before_work(tmp_path):
    with pytest.raises(ConfigError, match="strength"):
        FewShotConfig(shots=(1,), strengths=((1, 1.5),))
    with pytest.raises(ConfigError, match="strength"):
        FewShotConfig(shots=(1,), strengths=((1, 0.0),))
    with pytest.raises(ConfigError, match="no real-guidance strength"):
        FewShotConfig(shots=(3,))
    with pytest.raises(ConfigError, match="method"):
        curves(None, [], [0], FewShotConfig(shots=(1,)), None, ["tip_adaptor"])

    class P:  # a prepared dataset whose smallest training class has 2 images
        name = "toy"

        class splits:
            classnames = ["a", "b"]

            class train:
                labels = np.array([0, 0, 1, 1, 1])

    with pytest.raises(ConfigError, match="larger than the smallest training class"):
        check_shots([P], [4])
    with pytest.raises(ConfigError, match="size"):
        write_references(np.zeros((1, 28, 28), np.uint8), (32, 32), root=tmp_path)
