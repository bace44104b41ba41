"""End-to-end tower tuning: head-only equals CT, which parameters each part trains, BatchNorm
freezing, the caller's model left untouched, evaluation helpers and bad input.

Towers: MiniCLIP-CNN-tiny (open_clip TimmModel around MiniCNN, random weights; the real MiniLM
text tower is loaded but unused), and tiny random open_clip ModifiedResNet / VisionTransformer
towers (tests/tiny_clip.py). Images are random tensors with a class-dependent brightness
pattern, so a tuned tower can learn them. CPU, one thread.
"""

from __future__ import annotations

import copy

import pytest
import torch

from synthrec_core.classifier import HeadConfig, ZeroShotHead, tune_head
from synthrec_core.config import ConfigError
from synthrec_core.tower_tuning import (
    TowerConfig,
    encode_tower,
    evaluate_tower,
    last_block,
    parameter_share,
    tune_tower,
    tuned_parameters,
)
from tiny_clip import tiny_clip

torch.set_num_threads(1)
C = 3
FAST = HeadConfig(loss="ce", epochs=3, batch_size=8, lr=1e-2)


@pytest.fixture(scope="module")
def mini():
    from synthrec_core.models import load_clip

    torch.manual_seed(0)
    model, _, _ = load_clip("MiniCLIP-CNN-tiny", None)
    return model


def images(n_per_class: int, seed: int, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(C).repeat_interleave(n_per_class)
    x = torch.randn(len(y), 3, size, size, generator=g)
    for c in range(C):  # class c: a bright band in rows of its third of the image
        x[y == c, :, c * size // 3 : (c + 1) * size // 3] += 1.5
    return x, y


def head_for(model, seed: int = 0) -> ZeroShotHead:
    dim = encode_tower(model, torch.zeros(1, 3, 32, 32)).shape[1]
    g = torch.Generator().manual_seed(seed)
    return ZeroShotHead(torch.nn.functional.normalize(torch.randn(C, dim, generator=g), dim=-1), logit_scale=2.0)


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


@pytest.mark.parametrize("loss", ["ce", "sce"])
def test_head_only_reproduces_tune_head(mini, loss):
    x, y = images(6, 0)
    vx, vy = images(4, 1)
    head = head_for(mini)
    cfg = HeadConfig(loss=loss, epochs=6, batch_size=5, lr=2e-2, seed=3)
    _, tuned, hist = tune_tower(mini, head, x, y, TowerConfig(parts="head", train=cfg), val=(vx, vy))
    ref, ref_hist = tune_head(head, encode_tower(mini, x), y, cfg, val=(encode_tower(mini, vx), vy))
    torch.testing.assert_close(tuned.weight, ref.weight, rtol=0, atol=1e-6)
    torch.testing.assert_close(tuned.bias, ref.bias, rtol=0, atol=1e-6)
    assert [r["val_acc"] for r in hist] == [r["val_acc"] for r in ref_hist]
    assert [r["selected"] for r in hist] == [r["selected"] for r in ref_hist]


def test_caller_model_and_head_are_not_modified(mini):
    x, y = images(4, 0)
    head = head_for(mini)
    mini.train()
    flags = {n: p.requires_grad for n, p in mini.named_parameters()}
    before, head_before = copy.deepcopy(mini.state_dict()), copy.deepcopy(head.state_dict())
    tuned_model, tuned_head, hist = tune_tower(mini, head, x, y, TowerConfig(parts="all", freeze_bn=False, train=FAST.replace(select="last")))
    assert not _changed(before, mini.state_dict()) and not _changed(head_before, head.state_dict())
    assert {n: p.requires_grad for n, p in mini.named_parameters()} == flags and mini.training
    mini.eval()
    assert tuned_model is not mini and not tuned_model.training
    assert _changed(before, tuned_model.state_dict())  # the copy did train
    assert {n: p.requires_grad for n, p in tuned_model.named_parameters()} == flags


@pytest.mark.parametrize("arch", ["mini", "synthrec-tiny-RN", "synthrec-tiny-ViT"])
def test_last_block_trains_only_the_last_block_and_head(arch, request):
    model = request.getfixturevalue("mini") if arch == "mini" else tiny_clip(arch)[0]
    x, y = images(4, 0)
    head = head_for(model)
    names = last_block(model.visual)
    expected = {"mini": "head", "synthrec-tiny-RN": "layer4", "synthrec-tiny-ViT": "ln_post"}[arch]
    assert expected in names
    before = copy.deepcopy(model.visual.state_dict())
    tuned, _, _ = tune_tower(model, head, x, y, TowerConfig(parts="last_block", freeze_bn=False, train=FAST.replace(select="last")))
    changed = _changed(before, tuned.visual.state_dict())
    inside = {n for n in before if any(n == p or n.startswith(p + ".") for p in names)}
    assert changed and changed <= inside
    trained = {n for n, _ in tuned_parameters(model, "last_block", freeze_bn=False)}
    assert trained <= inside and (trained & changed)


def test_last_block_of_minicnn_is_its_last_stage(mini):
    names = last_block(mini.visual)
    feats = mini.visual.trunk.features
    last_pool = max(i for i, m in enumerate(feats) if isinstance(m, torch.nn.MaxPool2d))
    assert names[: len(feats) - last_pool - 1] == [f"trunk.features.{i}" for i in range(last_pool + 1, len(feats))]
    assert "head" in names


@pytest.mark.parametrize("freeze_bn", [True, False])
def test_freeze_bn_keeps_running_statistics_and_affine(mini, freeze_bn):
    x, y = images(4, 0)
    head = head_for(mini)
    before = copy.deepcopy(mini.visual.state_dict())
    tuned, _, _ = tune_tower(mini, head, x, y, TowerConfig(parts="all", freeze_bn=freeze_bn, train=FAST.replace(select="last")))
    after = tuned.visual.state_dict()
    bn = [n for n, m in mini.visual.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    stats = {f"{n}.{s}" for n in bn for s in ("running_mean", "running_var")}
    affine = {f"{n}.{s}" for n in bn for s in ("weight", "bias")}
    changed = _changed(before, after)
    convs = {k for k in before if k.endswith(".weight") and k not in affine}
    assert convs & changed  # the tower trained either way
    if freeze_bn:
        assert not (changed & (stats | affine))
    else:
        assert stats <= changed and affine & changed


def test_parameter_share_counts(mini):
    head = head_for(mini)
    n_head = head.weight.numel() + head.bias.numel()
    n_tower = sum(p.numel() for p in mini.visual.parameters())
    shares = {p: parameter_share(mini, head, p, freeze_bn=False) for p in ("head", "last_block", "all")}
    assert shares["head"]["tuned"] == n_head and shares["all"]["tuned"] == n_head + n_tower
    assert shares["all"]["share"] == pytest.approx(1.0)
    assert shares["head"]["share"] < shares["last_block"]["share"] < shares["all"]["share"]
    n_bn = sum(p.numel() for m in mini.visual.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
    assert parameter_share(mini, head, "all", freeze_bn=True)["tuned"] == n_head + n_tower - n_bn
    assert shares["head"]["share_of_clip"] < shares["head"]["share"]


def test_all_parts_learn_the_toy_task(mini):
    x, y = images(10, 0)
    vx, vy = images(10, 1)
    head = head_for(mini)
    model, tuned, hist = tune_tower(mini, head, x, y, TowerConfig(parts="all", train=HeadConfig(loss="ce", epochs=8, batch_size=10, lr=1e-2)), val=(vx, vy))
    assert hist[-1]["loss"] < hist[1]["loss"]
    assert sum(r["selected"] for r in hist) == 1
    sel = next(r for r in hist if r["selected"])
    assert sel["val_acc"] == pytest.approx(evaluate_tower(model, tuned, vx, vy))
    assert sel["val_acc"] >= hist[0]["val_acc"] and all(r["images_per_s"] > 0 for r in hist[1:])


def test_encode_and_evaluate_are_batched_eval_mode(mini):
    x, y = images(5, 0)
    mini.train()
    a, b = encode_tower(mini, x, batch_size=4), encode_tower(mini, x, batch_size=15)
    assert mini.training
    mini.eval()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(a, mini.encode_image(x), rtol=1e-5, atol=1e-5)
    head = head_for(mini)
    acc = evaluate_tower(mini, head, x, y, batch_size=4)
    assert acc == pytest.approx(float((head(a).argmax(1) == y).float().mean()))


def test_bad_input_fails_before_training(mini, monkeypatch):
    x, y = images(2, 0)
    head = head_for(mini)
    import synthrec_core.tower_tuning as tt

    monkeypatch.setattr(tt.copy, "deepcopy", lambda *a, **k: pytest.fail("work started before the checks"))
    with pytest.raises(ConfigError, match="expects"):
        tune_tower(mini, ZeroShotHead(torch.ones(C, 7)), x, y, TowerConfig(train=FAST.replace(select="last")))
    with pytest.raises(ConfigError, match="labels"):
        tune_tower(mini, head, x, y + 5, TowerConfig(train=FAST.replace(select="last")))
    with pytest.raises(ConfigError, match="float tensor"):
        tune_tower(mini, head, x[:, 0], y, TowerConfig(train=FAST.replace(select="last")))
    with pytest.raises(ConfigError, match="val="):
        tune_tower(mini, head, x, y, TowerConfig(train=FAST))
    with pytest.raises(ConfigError, match="val images"):
        tune_tower(mini, head, x, y, TowerConfig(train=FAST), val=(x[:, :, :16], y))
    with pytest.raises(ConfigError, match="Did you mean 'last_block'"):
        TowerConfig(parts="last-block")


def test_unsupported_architecture_is_a_clear_error():
    class Fake(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 4))

        def encode_image(self, x):
            return self.visual(x)

    model = Fake()
    with pytest.raises(ConfigError, match="last_block.*Sequential"):
        last_block(model.visual)
    x, y = images(2, 0)
    head = ZeroShotHead(torch.eye(C, 4))
    with pytest.raises(ConfigError, match="Sequential"):
        tune_tower(model, head, x, y, TowerConfig(parts="last_block", train=FAST.replace(select="last")))
    tuned, _, _ = tune_tower(model, head, x, y, TowerConfig(parts="all", train=FAST.replace(select="last")))  # "all" needs no block map
    assert _changed(model.visual.state_dict(), tuned.visual.state_dict())
