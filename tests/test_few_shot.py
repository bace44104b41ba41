"""Few-shot baselines: Tip-Adapter against a hand computation, selection on val only, Tip-Adapter-F,
CoOp through frozen native and HF text towers, and the method registry's checks.

Tiny random open_clip models (tests/tiny_clip.py) stand in for RN50/ViT text towers; MiniCLIP
(shipped, a few seconds to load) is used for the HF tower. CPU, one thread.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthrec_core import few_shot
from synthrec_core.classifier import HeadConfig, ZeroShotHead, accuracy, tune_head, zero_shot_weights
from synthrec_core.config import ConfigError
from synthrec_core.coop import CoOpConfig, prompt_encoder, train_coop
from synthrec_core.few_shot import (
    ClassText,
    CoOpGrid,
    ProbeConfig,
    TipAdapterHead,
    TipConfig,
    TipFConfig,
    run_coop,
    run_methods,
    tip_adapter,
    tip_adapter_f,
)
from tiny_clip import tiny_clip

torch.set_num_threads(1)
C, D = 4, 8


def clusters(n_per_class: int, seed: int, sigma: float = 0.35):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), n_per_class)
    return (np.eye(C, D)[y] + sigma * rng.standard_normal((len(y), D))).astype(np.float32), y


def rotated_head(seed: int = 0, scale: float = math.log(100.0)) -> ZeroShotHead:
    rng = np.random.default_rng(seed)
    w = np.eye(C, D) + 1.0 * rng.standard_normal((C, D))
    return ZeroShotHead(w / np.linalg.norm(w, axis=1, keepdims=True), logit_scale=scale)


def _norm(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- Tip-Adapter


def test_tip_adapter_matches_hand_computation():
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    head = ZeroShotHead(w, logit_scale=math.log(10.0), bias=[0.1, -0.2, 0.0])
    shots = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [2.0, 0.0, 1.0]], np.float32)
    shot_y = np.array([0, 1, 2, 0])
    f = np.array([[0.5, 1.0, 0.2], [3.0, 0.0, 1.0]], np.float32)
    alpha, beta = 1.7, 3.2
    # by hand: 10 * cos(f, W) + b + alpha * exp(-beta * (1 - cos(f, shots))) @ onehot
    zs = 10.0 * _norm(f) @ w.T + np.array([0.1, -0.2, 0.0])
    aff = np.exp(-beta * (1.0 - _norm(f) @ _norm(shots).T))
    onehot = np.eye(3)[shot_y]
    expected = zs + alpha * aff @ onehot
    adapter = TipAdapterHead(head, torch.tensor(_norm(shots), dtype=torch.float32), torch.tensor(onehot, dtype=torch.float32), alpha, beta)
    np.testing.assert_allclose(adapter(torch.tensor(f)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    # tip_adapter builds the same cache from the shots and uses the alpha, beta it picked
    val = (f, np.array([1, 0]))
    fitted, chosen = tip_adapter(head, (shots, shot_y), val, TipConfig(alpha_grid=(alpha,), beta_grid=(beta,)))
    assert (chosen["alpha"], chosen["beta"]) == (alpha, beta)
    np.testing.assert_allclose(fitted(torch.tensor(f)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    # excluding an entry removes exactly its affinity
    ex = adapter(torch.tensor(f), exclude=torch.tensor([3, -1])).detach().numpy()
    aff2 = aff.copy()
    aff2[0, 3] = 0.0
    np.testing.assert_allclose(ex, zs + alpha * aff2 @ onehot, rtol=1e-5, atol=1e-5)


def _val_test_conflict():
    """Head = identity; the shots sit on the *other* axis than their class's head row. At the
    points used, the head and the cache disagree: val labels follow the cache (large alpha
    wins), test labels follow the head (alpha 0 wins)."""
    head = ZeroShotHead(np.eye(2), logit_scale=math.log(10.0))
    train = (np.array([[0.0, 1.0], [1.0, 0.0]], np.float32), np.array([0, 1]))
    points = np.array([[1.0, 0.3], [0.3, 1.0]], np.float32)
    return head, train, (points, np.array([1, 0])), (points, np.array([0, 1]))


def test_tip_adapter_grid_selection_uses_val_only():
    head, train, val, test = _val_test_conflict()
    grid = TipConfig(alpha_grid=(0.0, 0.5, 2.0, 8.0, 30.0), beta_grid=(1.0, 5.0))
    fitted, chosen = tip_adapter(head, train, val, grid)
    # independent scores on each split over the grid
    def accs(split):
        f, y = split
        zs = 10.0 * _norm(f) @ np.eye(2).T
        out = {}
        for b in grid.beta_grid:
            aff = np.exp(-b * (1 - _norm(f) @ _norm(train[0]).T)) @ np.eye(2)[train[1]]
            for a in grid.alpha_grid:
                out[(a, b)] = float(((zs + a * aff).argmax(1) == y).mean())
        return out

    v, t = accs(val), accs(test)
    best_v = max(v.values())
    expected = min(k for k, s in v.items() if s == best_v)  # ties: smaller alpha, then beta
    assert (chosen["alpha"], chosen["beta"]) == expected
    assert chosen["val_acc"] == pytest.approx(best_v)
    assert t[expected] < max(t.values())  # the test-best choice differs; the function took val's
    assert accuracy(fitted, *test) == pytest.approx(t[expected])
    assert set(chosen["at_grid_max"]) <= {"alpha", "beta"}


def test_tip_adapter_f_trains_keys_and_never_loses_val():
    head = rotated_head(0, scale=math.log(30.0))
    train, val = clusters(4, 1), clusters(30, 2)
    head_before = copy.deepcopy(head.state_dict())
    base, c0 = tip_adapter(head, train, val)
    fitted, chosen, hist = tip_adapter_f(head, train, val, TipFConfig(epochs=15, batch_size=8, lr=1e-2))
    assert all(torch.equal(head_before[k], v) for k, v in head.state_dict().items())
    assert chosen["val_acc"] >= c0["val_acc"]  # epoch 0 (training-free) is a candidate
    assert hist[-1]["loss"] < hist[1]["loss"]
    assert sum(r["selected"] for r in hist) == 1
    assert chosen["epoch"] > 0 and not torch.allclose(fitted.keys, base.keys)
    assert chosen["val_acc"] == pytest.approx(accuracy(fitted, *val))


def test_tip_adapter_f_leaves_each_shot_own_entry_out(monkeypatch):
    head = rotated_head(0)
    train, val = clusters(3, 1), clusters(5, 2)
    seen = []
    forward = TipAdapterHead.forward

    def spy(self, features, exclude=None):
        if exclude is not None:
            seen.append((features.detach().clone(), exclude.clone()))
        return forward(self, features, exclude)

    monkeypatch.setattr(TipAdapterHead, "forward", spy)
    tip_adapter_f(head, train, val, TipFConfig(epochs=2, batch_size=5))
    keys = F.normalize(torch.tensor(train[0]), dim=-1)  # the initial cache
    assert sum(len(e) for _, e in seen) == 2 * len(train[1])
    for f, e in seen:
        torch.testing.assert_close(F.normalize(f, dim=-1), keys[e])
    seen.clear()
    tip_adapter_f(head, train, val, TipFConfig(epochs=1, leave_one_out=False))
    assert all(bool((e == -1).all()) for _, e in seen)


def test_tip_adapter_config_and_input_errors():
    with pytest.raises(ConfigError):
        TipConfig(alpha_grid=())
    with pytest.raises(ConfigError):
        TipConfig(beta_grid=(1.0, float("nan")))
    head = rotated_head()
    x, y = clusters(2, 0)
    with pytest.raises(ConfigError, match="dim"):
        tip_adapter(head, (x[:, :5], y), (x, y))
    with pytest.raises(ConfigError, match="labels"):
        tip_adapter(head, (x, y + 10), (x, y))
    assert TipConfig.wide().alpha_grid[-1] == pytest.approx(1000.0)


# ----------------------------------------------------------------------------- CoOp

CLASSES = ["cat", "dog", "car", "tree", "boat", "bird"]


@pytest.fixture(scope="module")
def miniclip():
    from synthrec_core.models import load_clip

    model, _, tok = load_clip("MiniCLIP-CNN", "mini")
    return model, tok


@pytest.mark.parametrize("name", ["synthrec-tiny-RN", "synthrec-tiny-ViT", "miniclip"])
def test_coop_phrase_context_equals_the_hand_prompt(name, request):
    model, tok = request.getfixturevalue("miniclip") if name == "miniclip" else tiny_clip(name)
    enc = prompt_encoder(model, tok, CLASSES, n_ctx=4)
    assert enc.kind == ("hf" if name == "miniclip" else "native")
    ctx = enc.phrase_embeddings("a photo of a")
    with torch.no_grad():
        ours = enc(ctx)
        ref = model.encode_text(tok([f"a photo of a {c}." for c in CLASSES])).float()
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["synthrec-tiny-ViT", "miniclip"])
def test_coop_trains_only_the_context(name, request):
    model, tok = request.getfixturevalue("miniclip") if name == "miniclip" else tiny_clip(name)
    model.train()  # CoOp must switch to eval and back
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    before = copy.deepcopy(model.state_dict())
    enc = prompt_encoder(model, tok, CLASSES, n_ctx=4)
    ctx = torch.nn.Parameter(0.02 * torch.randn(4, enc.width))
    enc(ctx).pow(2).sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    dim = enc(ctx).shape[1]
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((len(CLASSES) * 3, dim)).astype(np.float32)
    labels = np.repeat(np.arange(len(CLASSES)), 3)
    head, learned, hist = train_coop(model, tok, CLASSES, (feats, labels), (feats, labels), CoOpConfig(n_ctx=4, epochs=3, batch_size=8, lr=0.05))
    after = model.state_dict()
    assert set(after) == set(before)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    model.eval()
    assert learned.shape == (4, enc.width) and head.num_classes == len(CLASSES)
    assert hist[-1]["loss"] < hist[1]["loss"]


def test_coop_beats_the_hand_prompt_on_a_toy_problem():
    """Image features sit around the text features of another prompt; a learned context can
    move the class weights there, the hand prompt cannot."""
    model, tok = tiny_clip("synthrec-tiny-ViT")
    with torch.no_grad():
        proto = F.normalize(model.encode_text(tok([f"a blurry sketch of the {c} at night" for c in CLASSES])), dim=-1)
    g = torch.Generator().manual_seed(0)

    def draw(n):
        y = torch.arange(len(CLASSES)).repeat_interleave(n)
        return (proto[y] + 0.05 * torch.randn(len(y), proto.shape[1], generator=g)).numpy(), y.numpy()

    train, val, test = draw(4), draw(20), draw(50)
    hand = ZeroShotHead(zero_shot_weights(model, tok, CLASSES, ["a photo of a {}."]), logit_scale=float(model.logit_scale.detach()))
    head, chosen, hist = run_coop(model, tok, CLASSES, train, val,
                                  CoOpGrid(n_ctx_grid=(4,), lr_grid=(1e-2,), base=CoOpConfig(epochs=30, optimizer="adamw")))
    assert chosen["n_ctx"] == 4 and chosen["epoch"] >= 1
    runs = [r for r in hist if r["epoch"] >= 1]
    assert runs[-1]["loss"] < runs[0]["loss"]
    assert accuracy(head, *test) > accuracy(hand, *test) + 0.1


def test_coop_input_errors(miniclip):
    model, tok = miniclip
    with pytest.raises(ConfigError, match="no longer fit"):
        prompt_encoder(model, tok, ["a " * 20 + "cat"], n_ctx=16)
    with pytest.raises(ConfigError, match="n_ctx=3"):
        feats, labels = np.zeros((2, 128), np.float32), np.array([0, 1])
        train_coop(model, tok, ["cat", "dog"], (feats, labels), (feats, labels), CoOpConfig(n_ctx=3, ctx_init="a photo of a"))
    with pytest.raises(ConfigError, match="class_template"):
        CoOpConfig(class_template="no placeholder")

    class NotClip(torch.nn.Module):
        text = torch.nn.Linear(2, 2)

    with pytest.raises(ConfigError, match="text tower"):
        prompt_encoder(NotClip(), tok, ["cat"], n_ctx=4)


# ----------------------------------------------------------------------------- registry


def test_registry_runs_every_feature_method_and_records_choices():
    head = rotated_head(0, scale=math.log(30.0))
    train, val, test = clusters(4, 1), clusters(30, 2), clusters(30, 3)
    names = ["zero_shot", "ct_real", "linear_probe", "tip_adapter", "tip_adapter_f"]
    out = run_methods(names, train, val, head, options={"tip_adapter_f": TipFConfig(epochs=5), "linear_probe": ProbeConfig(C_grid=(0.1, 10.0))})
    assert list(out) == names
    for name, r in out.items():
        assert r.name == name
        assert r.chosen["val_acc"] == pytest.approx(accuracy(r.predictor, *val)), name
        json.dumps(r.record())
    assert out["linear_probe"].chosen["C"] in (0.1, 10.0)
    assert {"alpha", "beta"} <= set(out["tip_adapter"].chosen)
    direct, _ = tune_head(head, *train, cfg=HeadConfig(loss="ce", batch_size=32), val=val)
    torch.testing.assert_close(out["ct_real"].predictor.weight, direct.weight)
    # the baselines improve on the poor zero-shot head here
    assert accuracy(out["ct_real"].predictor, *test) > accuracy(out["zero_shot"].predictor, *test)


def test_registry_checks_everything_before_work(monkeypatch):
    calls = []
    fn, typ, default = few_shot.METHODS["zero_shot"]
    monkeypatch.setitem(few_shot.METHODS, "zero_shot", (lambda *a: calls.append(1) or fn(*a), typ, default))
    head = rotated_head()
    train, val = clusters(2, 0), clusters(3, 1)
    with pytest.raises(ConfigError, match="tip_adapter"):
        run_methods(["zero_shot", "tip_adaptr"], train, val, head)
    with pytest.raises(ConfigError, match="twice"):
        run_methods(["zero_shot", "zero_shot"], train, val, head)
    with pytest.raises(ConfigError, match="dim"):
        run_methods(["zero_shot"], (train[0][:, :5], train[1]), val, head)
    with pytest.raises(ConfigError, match="dim"):
        run_methods(["zero_shot"], train, (val[0][:, :5], val[1]), head)
    with pytest.raises(ConfigError, match="ClassText"):
        run_methods(["zero_shot", "coop"], train, val, head)
    with pytest.raises(ConfigError, match="TipConfig"):
        run_methods(["zero_shot"], train, val, head, options={"tip_adapter": TipFConfig()})
    with pytest.raises(ConfigError, match="class names"):
        model, tok = tiny_clip("synthrec-tiny-RN")
        run_methods(["zero_shot", "coop"], train, val, head, text=ClassText(model, tok, ["a", "b"]))
    assert calls == []
    run_methods(["zero_shot"], train, val, head)
    assert calls == [1]


def test_registry_runs_coop_on_miniclip(miniclip):
    model, tok = miniclip
    names = ["cat", "dog", "car"]
    head = ZeroShotHead(zero_shot_weights(model, tok, names, ["a photo of a {}."]), logit_scale=float(model.logit_scale.detach()))
    rng = np.random.default_rng(0)
    w = head.weight.detach().numpy()
    y = np.repeat(np.arange(3), 4)
    feats = (w[y] + 0.1 * rng.standard_normal((len(y), w.shape[1]))).astype(np.float32)
    out = run_methods(["coop"], (feats, y), (feats, y), head, text=ClassText(model, tok, names),
                      options={"coop": CoOpGrid(n_ctx_grid=(2, 4), base=CoOpConfig(epochs=2, batch_size=12))})
    r = out["coop"]
    assert r.chosen["n_ctx"] in (2, 4) and r.chosen["epoch"] in (1, 2)
    assert {h["n_ctx"] for h in r.history} == {2, 4}
    assert r.predictor.logit_scale.item() == pytest.approx(head.logit_scale.item())
