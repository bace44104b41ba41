"""Classifier heads on tiny Gaussian-cluster features whose right answers are known.

A fake text encoder (a lookup table per prompt) checks the zero-shot recipe; clusters around
orthogonal class means check CT, SCE, selection on validation, mix and phase-wise training,
the linear probe and the seed summary. Everything is CPU, single-threaded and small.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthrec_core.classifier import (
    HeadConfig,
    ZeroShotHead,
    accuracy,
    paired_accuracy_se,
    predict,
    evaluate_seeds,
    linear_probe,
    mix_train,
    phase_train,
    soft_target_ce,
    tune_head,
    zero_shot_weights,
)
from synthrec_core.config import ConfigError

torch.set_num_threads(1)

C, D = 4, 8


def clusters(n_per_class: int, seed: int, sigma: float = 0.2, means: np.ndarray | None = None):
    """Features around the first C basis vectors (or ``means``), labels 0..C-1."""
    rng = np.random.default_rng(seed)
    m = np.eye(C, D) if means is None else means
    y = np.repeat(np.arange(C), n_per_class)
    x = m[y] + sigma * rng.standard_normal((len(y), D))
    return x.astype(np.float32), y


def bad_init(seed: int = 0) -> ZeroShotHead:
    """A head whose rows are rotated away from the class means: poor but not hopeless."""
    rng = np.random.default_rng(seed)
    w = np.eye(C, D) + 1.2 * rng.standard_normal((C, D))
    return ZeroShotHead(w / np.linalg.norm(w, axis=1, keepdims=True))


FAST = HeadConfig(epochs=8, batch_size=32, lr=2e-2, loss="ce")


# ----------------------------------------------------------------------------- zero-shot


class FakeTextModel(torch.nn.Module):
    """open_clip-like: ``encode_text`` looks each prompt up in a fixed random table."""

    def __init__(self, prompts: list[str], dim: int = D) -> None:
        super().__init__()
        self.index = {p: i for i, p in enumerate(prompts)}
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(len(prompts), dim, generator=g) * torch.rand(len(prompts), 1, generator=g).add(0.5)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(50.0)))
        self.calls = 0

    def tokenize(self, texts):
        return torch.tensor([self.index[t] for t in texts])

    def encode_text(self, tokens):
        self.calls += 1
        return self.table[tokens]


NAMES = ["cat", "dog", "bird"]
TEMPLATES = ["a photo of a {}.", "a drawing of a {}.", "{} texture."]


def fake_model():
    return FakeTextModel([t.replace("{}", c) for c in NAMES for t in TEMPLATES])


def test_zero_shot_weights_are_unit_rows_averaged_over_templates():
    m = fake_model()
    w = zero_shot_weights(m, m.tokenize, NAMES, TEMPLATES)
    assert w.shape == (3, D) and w.dtype == torch.float32
    torch.testing.assert_close(w.norm(dim=1), torch.ones(3))
    for c, name in enumerate(NAMES):
        e = torch.stack([m.table[m.index[t.replace("{}", name)]] for t in TEMPLATES])
        expected = F.normalize(F.normalize(e, dim=1).mean(0), dim=0)
        torch.testing.assert_close(w[c], expected)
    # encoded in batches of 2 prompts: same weights, more calls
    m.calls = 0
    w2 = zero_shot_weights(m, m.tokenize, NAMES, TEMPLATES, batch_size=2)
    torch.testing.assert_close(w, w2)
    assert m.calls == 5  # 9 prompts / 2


def test_head_from_model_uses_its_logit_scale_and_formula():
    m = fake_model()
    head = ZeroShotHead.from_model(m, m.tokenize, NAMES, TEMPLATES)
    assert not head.logit_scale.requires_grad
    f = torch.randn(5, D)
    expected = 50.0 * F.normalize(f, dim=1) @ head.weight.T
    torch.testing.assert_close(head(f), expected, rtol=1e-5, atol=1e-4)
    assert torch.all(head.bias == 0)


@pytest.mark.parametrize("templates", [["a photo of a cat"], ["a photo of a {}.", "no placeholder"], []])
def test_template_without_placeholder_rejected(templates):
    m = fake_model()
    with pytest.raises(ConfigError, match="template"):
        zero_shot_weights(m, m.tokenize, NAMES, templates)


def test_bad_classnames_rejected():
    m = fake_model()
    with pytest.raises(ConfigError, match="duplicate"):
        zero_shot_weights(m, m.tokenize, ["cat", "cat"], TEMPLATES)
    with pytest.raises(ConfigError, match="empty"):
        zero_shot_weights(m, m.tokenize, [], TEMPLATES)


# ----------------------------------------------------------------------------- SCE


def test_sce_endpoints_are_ce_and_the_soft_term():
    g = torch.Generator().manual_seed(0)
    z, z0 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    torch.testing.assert_close(soft_target_ce(z, y, z0, lam=0.0, T=2.0), F.cross_entropy(z, y))
    soft = -(F.softmax(z0 / 2.0, dim=1) * F.log_softmax(z, dim=1)).sum(1).mean()
    torch.testing.assert_close(soft_target_ce(z, y, z0, lam=1.0, T=2.0), soft)
    mid = soft_target_ce(z, y, z0, lam=0.5, T=2.0)
    torch.testing.assert_close(mid, 0.5 * F.cross_entropy(z, y) + 0.5 * soft)
    with pytest.raises(ConfigError, match="lam"):
        soft_target_ce(z, y, z0, lam=1.5, T=2.0)


# ----------------------------------------------------------------------------- CT


def test_tuning_separable_features_beats_the_init():
    xtr, ytr = clusters(40, seed=1)
    xva, yva = clusters(20, seed=2)
    init = bad_init()
    before = accuracy(init, xva, yva)
    w0 = init.weight.detach().clone()
    for loss in ("ce", "sce"):
        head, hist = tune_head(init, xtr, ytr, FAST.replace(loss=loss), val=(xva, yva))
        after = accuracy(head, xva, yva)
        # SCE is held back by its (poor) teacher, but still gains
        assert after >= (0.95 if loss == "ce" else before + 0.15) and before < 0.6, (loss, before, after)
        assert hist[0]["epoch"] == 0 and hist[0]["val_acc"] == pytest.approx(before)
        assert [r["epoch"] for r in hist] == list(range(9))
    torch.testing.assert_close(init.weight, w0)  # head_init untouched
    assert head.logit_scale.item() == pytest.approx(math.log(100.0))  # scale frozen


def test_selection_uses_val_and_keeps_an_earlier_better_epoch():
    # train labels swap classes 0 and 1; val labels are right: training drives val accuracy down
    xtr, ytr = clusters(40, seed=1)
    ytr = np.where(ytr == 0, 1, np.where(ytr == 1, 0, ytr))
    xva, yva = clusters(20, seed=2)
    init = ZeroShotHead(np.eye(C, D))
    cfg = FAST.replace(epochs=6, lr=0.1)
    head, hist = tune_head(init, xtr, ytr, cfg, val=(xva, yva))
    accs = [r["val_acc"] for r in hist[1:]]
    assert accs[-1] < max(accs)  # the last epoch is worse on val than an earlier one
    chosen = [r for r in hist if r["selected"]]
    assert len(chosen) == 1 and chosen[0]["epoch"] == 1 + int(np.argmax(accs)) < cfg.epochs
    assert accuracy(head, xva, yva) == pytest.approx(max(accs))
    last, hist_last = tune_head(init, xtr, ytr, cfg.replace(select="last"), val=(xva, yva))
    assert accuracy(last, xva, yva) == pytest.approx(accs[-1]) and hist_last[-1]["selected"]


def test_select_val_without_val_is_an_error_and_last_works():
    xtr, ytr = clusters(10, seed=1)
    with pytest.raises(ConfigError, match="val"):
        tune_head(bad_init(), xtr, ytr, FAST)
    head, hist = tune_head(bad_init(), xtr, ytr, FAST.replace(select="last", epochs=2))
    assert all(r["val_acc"] is None for r in hist)


def test_deterministic_by_seed():
    xtr, ytr = clusters(30, seed=1, sigma=0.6)
    xva, yva = clusters(10, seed=2)
    cfg = FAST.replace(epochs=3, loss="sce")
    a, ha = tune_head(bad_init(), xtr, ytr, cfg, val=(xva, yva))
    b, hb = tune_head(bad_init(), xtr, ytr, cfg, val=(xva, yva))
    c, hc = tune_head(bad_init(), xtr, ytr, cfg.replace(seed=1), val=(xva, yva))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias) and ha == hb
    assert not torch.equal(a.weight, c.weight)  # another seed: another batch order


@pytest.mark.parametrize("epochs,eval_every,evaluated", [(1, 1, [1]), (3, 5, [3]), (5, 2, [2, 4, 5])])
def test_short_runs_evaluate_on_schedule_and_at_the_end(epochs, eval_every, evaluated):
    xtr, ytr = clusters(10, seed=1)
    xva, yva = clusters(5, seed=2)
    _, hist = tune_head(bad_init(), xtr, ytr, FAST.replace(epochs=epochs, eval_every=eval_every), val=(xva, yva))
    assert [r["epoch"] for r in hist[1:] if r["val_acc"] is not None] == evaluated
    assert hist[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at 0


def test_bad_inputs_rejected():
    xtr, ytr = clusters(5, seed=1)
    with pytest.raises(ConfigError, match="labels"):
        tune_head(bad_init(), xtr, ytr + C, FAST.replace(select="last"))
    with pytest.raises(ConfigError, match="dim"):
        tune_head(bad_init(), xtr[:, :5], ytr, FAST.replace(select="last"))
    with pytest.raises(ConfigError, match="labels for"):
        tune_head(bad_init(), xtr, ytr[:-1], FAST.replace(select="last"))


@pytest.mark.parametrize(
    "field,value",
    [
        ("loss", "mse"),
        ("sce_lambda", 1.5),
        ("sce_T", 0.0),
        ("lr", -1.0),
        ("weight_decay", -0.1),
        ("epochs", 0),
        ("batch_size", 0),
        ("real_batch_size", 2.5),
        ("grad_clip", 0.0),
        ("schedule", "step"),
        ("select", "test"),
        ("eval_every", 0),
    ],
)
def test_bad_config_values_rejected_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        HeadConfig(**{field: value})


def test_config_key_ignores_device_and_from_dict_rejects_unknown():
    assert HeadConfig(device="cuda").cache_key() == HeadConfig().cache_key() != HeadConfig(lr=1e-3).cache_key()
    assert HeadConfig.paper_mix().lr == 1e-3 and HeadConfig.paper_ct().lr == 2e-3
    with pytest.raises(ConfigError, match="epoch"):
        HeadConfig.from_dict({"epoch": 3})


# ----------------------------------------------------------------------------- mix / phase-wise


def test_mix_training_learns_from_real_when_synthetic_labels_are_wrong():
    xs, ys = clusters(40, seed=1)
    ys = np.random.default_rng(5).integers(0, C, len(ys))  # synthetic labels are noise
    xr, yr = clusters(4, seed=3)  # 4 correct real shots per class
    xva, yva = clusters(20, seed=2)
    init = ZeroShotHead(np.full((C, D), 1.0 / math.sqrt(D)))  # uninformative
    cfg = FAST.replace(epochs=6, real_batch_size=8)
    syn_only, _ = tune_head(init, xs, ys, cfg, val=(xva, yva))
    mixed, hist = mix_train(init, (xs, ys), (xr, yr), cfg, val=(xva, yva))
    assert accuracy(syn_only, xva, yva) <= 0.5
    assert accuracy(mixed, xva, yva) >= 0.9
    assert len(hist) == cfg.epochs + 1


def test_mix_training_learns_from_synthetic_classes_real_does_not_cover():
    xs, ys = clusters(40, seed=1)  # synthetic covers every class correctly
    xr, yr = clusters(4, seed=3)
    keep = yr < 2  # real shots of classes 0 and 1 only
    xr, yr = xr[keep], yr[keep]
    xva, yva = clusters(20, seed=2)
    init = ZeroShotHead(np.full((C, D), 1.0 / math.sqrt(D)))
    cfg = FAST.replace(epochs=6, real_batch_size=8, select="last")
    real_only, _ = tune_head(init, xr, yr, cfg)
    mixed, _ = mix_train(init, (xs, ys), (xr, yr), cfg)
    assert accuracy(real_only, xva, yva) <= 0.55
    assert accuracy(mixed, xva, yva) >= 0.9


def test_phase_training_runs_both_phases_in_order():
    xs, ys = clusters(20, seed=1)
    xr, yr = clusters(4, seed=3)
    xva, yva = clusters(10, seed=2)
    cfg = FAST.replace(epochs=4, real_batch_size=8, lr=5e-2)
    for order, first in (("syn_real", "syn"), ("real_syn", "real")):
        head, hist = phase_train(bad_init(), (xs, ys), (xr, yr), cfg, val=(xva, yva), order=order)
        phases = [r["phase"] for r in hist]
        assert phases[0] == first and phases.count("syn") == phases.count("real") == cfg.epochs + 1
        assert sum(r["selected"] for r in hist) == 2  # one kept epoch per phase
        assert accuracy(head, xva, yva) >= 0.9
    with pytest.raises(ConfigError, match="order"):
        phase_train(bad_init(), (xs, ys), (xr, yr), cfg, val=(xva, yva), order="both")


# ----------------------------------------------------------------------------- baselines, metrics


def test_linear_probe_picks_C_on_val_and_fits():
    xtr, ytr = clusters(4, seed=1, means=3 * np.eye(C, D))  # few shots; scale is normalised away
    xva, yva = clusters(20, seed=2)
    probe, info = linear_probe(xtr, ytr, val=(xva, yva), C_grid=(1e-4, 10.0))
    assert set(info["grid"]) == {1e-4, 10.0}
    assert info["C"] == max(info["grid"], key=lambda c: (info["grid"][c], -c))
    assert info["val_acc"] == pytest.approx(accuracy(probe, xva, yva)) and info["val_acc"] >= 0.9
    with pytest.raises(ConfigError, match="val"):
        linear_probe(xtr, ytr, val=None, C_grid=(1.0, 10.0))
    # a class absent from train is never predicted
    probe3, _ = linear_probe(xtr[ytr < 3], ytr[ytr < 3], C_grid=(10.0,), num_classes=C)
    assert probe3(torch.as_tensor(xva)).argmax(1).max().item() < 3


def test_accuracy_of_weights_and_heads_agree():
    xva, yva = clusters(10, seed=2)
    w = np.eye(C, D)
    assert accuracy(w, xva, yva) == accuracy(ZeroShotHead(w), xva, yva) >= 0.9
    assert accuracy(w, xva, (yva + 1) % C) <= 0.1


def test_paired_accuracy_se_counts_only_images_that_change():
    y = np.zeros(100, int)
    a = np.zeros(100, int)  # all right
    assert paired_accuracy_se(a, a, y) == 0.0  # same predictions: no evaluation noise in the gain
    b = a.copy()
    b[:10] = 1  # 10 of 100 turn wrong: d = -1 on 10 images, 0 elsewhere
    assert paired_accuracy_se(a, b, y) == pytest.approx(np.std([-1] * 10 + [0] * 90, ddof=1) / 10)
    xva, yva = clusters(10, seed=2)
    w = np.eye(C, D)
    assert (predict(w, xva) == yva).mean() == pytest.approx(accuracy(w, xva, yva))
    with pytest.raises(ConfigError):
        paired_accuracy_se(a, b[:50], y)


def test_evaluate_seeds_summarises_mean_and_sample_std():
    r = evaluate_seeds(lambda s: float(s), [1, 2, 3])
    assert r == {"mean": 2.0, "std": pytest.approx(1.0), "values": [1.0, 2.0, 3.0], "seeds": [1, 2, 3]}
    assert evaluate_seeds(lambda s: 0.5, [7])["std"] == 0.0
    with pytest.raises(ConfigError, match="duplicate"):
        evaluate_seeds(lambda s: 0.0, [1, 1])


def test_sce_matches_a_hand_value_on_two_classes():
    # z = (2, 0), teacher z0 = (0, 2), y = 0, l = 0.5, T = 2:
    # log softmax(z) = (-log(1+e^-2), -2-log(1+e^-2)); softmax(z0/2) = (1/(1+e), e/(1+e))
    z, z0, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    lse = math.log(1 + math.exp(-2))
    ce = lse
    p = (1 / (1 + math.e), math.e / (1 + math.e))
    soft = p[0] * lse + p[1] * (2 + lse)
    assert float(soft_target_ce(z, y, z0, lam=0.5, T=2.0)) == pytest.approx(0.5 * ce + 0.5 * soft, abs=1e-6)
    assert float(soft_target_ce(z, y, z0, lam=0.0, T=2.0)) == pytest.approx(ce, abs=1e-6)
