"""Pre-training and transfer (paper §3): backbones, augmentation, supervised and MoCo v2 steps,
DDP vs one process, kill-and-resume, transfer, the detection hook and bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthrec_core.backbones import BACKBONES, build_backbone, count_parameters
from synthrec_core.config import ConfigError
from synthrec_core.moco import MoCo
from synthrec_core.pretrain_data import AugConfig, augment, batch_generator, decode_set, epoch_permutation, shard, to_model_input
from synthrec_core.pretraining import PretrainConfig, pretrain
from synthrec_core.transfer import TransferConfig, extract_features, faster_rcnn, transfer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))


def quadrants(n: int, seed: int = 0, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a bright square in the quadrant named by the label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.integers(0, 60, (n, 32, 32)).astype(np.uint8)
    for i, c in enumerate(y):
        r, q = divmod(int(c) % 4, 2)
        x[i, 4 + 16 * r : 12 + 16 * r, 4 + 16 * q : 12 + 16 * q] = 220
    return x, y


def bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise with one short bar anywhere: horizontal (0) or vertical (1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 80, (n, 32, 32)).astype(np.uint8)
    for i, c in enumerate(y):
        r, q = rng.integers(4, 24, 2)
        if c:
            x[i, r : r + 8, q : q + 2] = 200
        else:
            x[i, r : r + 2, q : q + 8] = 200
    return x, y


def blobs(n: int, seed: int) -> np.ndarray:
    """Three random Gaussian blobs per image: every image looks different (for MoCo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    out = np.zeros((n, 32, 32))
    for i in range(n):
        for _ in range(3):
            (cy, cx), (sy, sx) = rng.uniform(4, 28, 2), rng.uniform(2, 7, 2)
            out[i] += rng.uniform(0.5, 1) * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def _cli(cfg: dict, data: Path, out: Path, nproc: int = 1) -> list[str]:
    cfg_file = out.parent / f"{out.name}.json"
    cfg_file.write_text(json.dumps(cfg))
    if nproc == 1:
        launcher = [sys.executable, "-m"]
    else:
        torchrun = Path(sys.executable).with_name("torchrun")
        launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
        launcher += ["--nproc_per_node", str(nproc), "--master_port", str(29700 + os.getpid() % 200), "-m"]
    return [*launcher, "synthrec_core.pretraining", "--config", str(cfg_file), "--data", str(data), "--out", str(out), "--threads", "1"]


# --------------------------------------------------------------------------- backbones


def test_backbones_by_name_random_init_and_sizes():
    sizes = {}
    for name in ("resnet-mini", "vit-mini", "resnet50", "deit_small"):
        spec = BACKBONES[name]
        model, dim = build_backbone(name, in_chans=1, num_classes=None, seed=0)
        s = spec.input_size
        assert model(torch.zeros(2, 1, s, s)).shape == (2, dim)
        sizes[name] = count_parameters(model)
    assert sizes["resnet-mini"] < 2e6 and sizes["vit-mini"] < 1e6 and sizes["resnet50"] > 2e7
    a, _ = build_backbone("vit-mini", 3, 10, seed=1)
    b, _ = build_backbone("vit-mini", 3, 10, seed=1)
    c, _ = build_backbone("vit-mini", 3, 10, seed=2)
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.head.weight, c.head.weight)
    gn, _ = build_backbone("resnet-mini", 1, norm="group")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gn.modules())
    with pytest.raises(ConfigError, match="Did you mean 'resnet-mini'"):
        build_backbone("resnet-mni")
    with pytest.raises(ConfigError, match="no BatchNorm"):
        build_backbone("vit-mini", norm="group")


# --------------------------------------------------------------------------- data path


def test_augmentation_is_batched_seeded_and_rank_invariant():
    x = torch.from_numpy(quadrants(8)[0]).unsqueeze(1)
    cfg = AugConfig.moco_v2()
    full = augment(x, cfg, batch_generator(0, 1, 0), 32)
    assert full.shape == (8, 1, 32, 32) and full.min() >= -1 and full.max() <= 1
    assert torch.equal(full, augment(x, cfg, batch_generator(0, 1, 0), 32))
    assert not torch.equal(full, augment(x, cfg, batch_generator(0, 1, 1), 32))
    # rank 1 of 2 augments its half exactly as the global batch does
    half = augment(x[4:], cfg, batch_generator(0, 1, 0), 32, rows=slice(4, 8), total=8)
    assert torch.equal(half, full[4:])
    assert torch.allclose(augment(x, AugConfig.none(), batch_generator(0, 1, 0), 32), to_model_input(x, 32))
    rgb = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    assert augment(rgb, cfg, batch_generator(0, 0, 0), 32).shape == (4, 3, 32, 32)
    perm = torch.arange(16)
    assert torch.equal(torch.cat([shard(perm, 1, 8, r, 2)[0] for r in range(2)]), perm[8:16])


def test_decode_set_caches_arrays_by_content(tmp_path):
    from synthrec_core.generation import GenerationJob, generate
    from tiny_models import tiny_sd

    job = GenerationJob(classnames=("cat", "dog"), pipeline_id="tiny-sd", images_per_prompt=2, steps=2, output_dir=str(tmp_path / "s"))
    s = generate(job, tiny_sd(), progress=False)
    images, labels = decode_set(s, mode="L")
    assert images.dtype == np.uint8 and images.shape == (4, 32, 32) and labels.tolist() == [0, 0, 1, 1]
    cached = list((tmp_path / "cache" / "decoded").glob("*/images.npy"))
    assert len(cached) == 1
    again, _ = decode_set(s.root, mode="L")
    assert np.array_equal(again, images)
    rgb, _ = decode_set(s, mode="RGB", size=16)
    assert rgb.shape == (4, 16, 16, 3) and len(list((tmp_path / "cache" / "decoded").glob("*/images.npy"))) == 2


# --------------------------------------------------------------------------- training steps


def test_supervised_pretraining_lowers_its_loss(tmp_path):
    x, y = quadrants(256)
    cfg = PretrainConfig(epochs=3, global_batch=32, lr=2e-3)
    res = pretrain(cfg, x, y, out_dir=tmp_path / "run", log=False)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert res.history[-1]["train_acc"] > 0.6  # chance 0.25
    assert {"images_per_s", "data_share"} <= set(res.history[0]) and 0 < res.history[0]["data_share"] < 1
    again = pretrain(cfg, x, y, out_dir=tmp_path / "run", log=False)
    assert again.cached and again.history == res.history


def _moco(seed: int = 0, queue: int = 64, m: float = 0.9, head_bn: bool = False) -> MoCo:
    bb, _ = build_backbone("resnet-mini", 1, norm="group", seed=seed)
    return MoCo(bb, out_dim=16, queue_size=queue, m=m, t=0.2, seed=seed, head_bn=head_bn)


def test_moco_momentum_update_and_queue_by_hand():
    moco = _moco(queue=8)
    with torch.no_grad():
        for p in moco.encoder_q.parameters():
            p.add_(1.0)  # make q and k differ
    q0 = [p.detach().clone() for p in moco.encoder_q.parameters()]
    k0 = [p.detach().clone() for p in moco.encoder_k.parameters()]
    moco.momentum_update()
    for q, k, new in zip(q0, k0, moco.encoder_k.parameters()):
        assert torch.allclose(new, 0.9 * k + 0.1 * q, atol=1e-6)
    assert not any(p.requires_grad for p in moco.encoder_k.parameters())
    keys = [F.normalize(torch.randn(4, 16), dim=1) for _ in range(3)]
    moco.enqueue(keys[0])
    assert torch.equal(moco.queue[:, 0:4], keys[0].T) and int(moco.queue_ptr) == 4
    moco.enqueue(keys[1])
    assert torch.equal(moco.queue[:, 4:8], keys[1].T) and int(moco.queue_ptr) == 0
    moco.enqueue(keys[2])  # wraps: the oldest keys are replaced first
    assert torch.equal(moco.queue[:, 0:4], keys[2].T) and torch.equal(moco.queue[:, 4:8], keys[1].T) and int(moco.queue_ptr) == 4
    q, k = F.normalize(torch.randn(2, 16), dim=1), F.normalize(torch.randn(2, 16), dim=1)
    logits = moco.logits(q, k)
    assert logits.shape == (2, 9)
    assert torch.allclose(logits[:, 0], (q * k).sum(1) / 0.2) and torch.allclose(logits[:, 1:], q @ moco.queue / 0.2)


CROPS = AugConfig.light(0.5)  # MoCo v2's full recipe needs far more steps than a unit test has


def _in_batch_infonce(moco: MoCo, x: np.ndarray) -> float:
    """Contrastive loss on fixed views of held-out images, negatives = the other images' keys."""
    t = torch.from_numpy(x).unsqueeze(1)
    v1, v2 = (augment(t, CROPS, batch_generator(123, 0, 0, v), 32) for v in (0, 1))
    moco.eval()
    with torch.no_grad():
        q = F.normalize(moco.encoder_q(v1), dim=1)
        k = F.normalize(moco.encoder_k(v2), dim=1)
        return float(F.cross_entropy(q @ k.T / 0.2, torch.arange(len(x))))


def test_moco_pretraining_lowers_contrastive_loss_and_fills_queue(tmp_path):
    cfg = PretrainConfig(method="moco", norm="group", epochs=6, global_batch=32, optimizer="sgd", lr=0.03, moco_queue=64,
                         moco_dim=16, moco_m=0.9, moco_head_bn=True, aug=CROPS)
    res = pretrain(cfg, blobs(256, 0), None, out_dir=tmp_path / "moco", log=False)
    held = blobs(64, 7)
    before, after = _moco(head_bn=True), _moco(head_bn=True)
    state = torch.load(tmp_path / "moco" / "checkpoint.pt", weights_only=False)["model"]
    after.load_state_dict(state)
    assert _in_batch_infonce(after, held) < _in_batch_infonce(before, held) - 0.5  # ln 64 = 4.16 is chance
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    steps = 6 * (256 // 32)
    assert int(state["queue_ptr"]) == (steps * 32) % 64
    assert torch.allclose(state["queue"].norm(dim=0), torch.ones(64), atol=1e-5)
    # the last step's keys came from the final key encoder (no EMA update after them): recompute them
    # and find them in the 32 columns before the pointer
    idx, _ = shard(epoch_permutation(256, 0, 6), 7, 32, 0, 1)
    view = augment(torch.from_numpy(blobs(256, 0)[idx.numpy()]).unsqueeze(1), CROPS, batch_generator(0, 6, 7, 1), 32)
    after.train()
    with torch.no_grad():
        keys = F.normalize(after.encoder_k(view), dim=1)
    assert torch.allclose(state["queue"][:, 32:64], keys.T, atol=1e-5)


def test_global_batchnorm_on_one_rank_is_batchnorm():
    import torch.distributed as dist

    from synthrec_core.distributed import GlobalBatchNorm, sync_batchnorm

    bn, _ = build_backbone("resnet-mini", 1, 4, seed=0)
    gbn = sync_batchnorm(build_backbone("resnet-mini", 1, 4, seed=0)[0])
    assert any(isinstance(m, GlobalBatchNorm) for m in gbn.modules()) and not any(type(m) is torch.nn.BatchNorm2d for m in gbn.modules())
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{29900 + os.getpid() % 90}", rank=0, world_size=1)
    try:
        x = torch.randn(8, 1, 32, 32)
        a, b = bn.train()(x), gbn.train()(x)  # the global path runs (a group exists), with one rank
        a.square().mean().backward()
        b.square().mean().backward()
    finally:
        dist.destroy_process_group()
    assert torch.allclose(a, b, atol=1e-5)
    for p, q in zip(bn.parameters(), gbn.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-6)
    for u, v in zip(bn.buffers(), gbn.buffers()):
        assert torch.allclose(u.float(), v.float(), atol=1e-5)


# --------------------------------------------------------------------------- distributed, resume


def _two_vs_one(tmp_path: Path, cfg: dict, x: np.ndarray, y: np.ndarray) -> tuple[dict, dict]:
    np.savez(tmp_path / "data.npz", images=x, labels=y)
    r = subprocess.run(_cli(cfg, tmp_path / "data.npz", tmp_path / "two", nproc=2), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    pretrain(PretrainConfig.from_dict(cfg), x, y, out_dir=tmp_path / "one", log=False)
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)
    assert a["run_key"] == b["run_key"] and b["history"][-1]["world"] == 2 and a["history"][-1]["world"] == 1
    return a, b


def test_two_gloo_ranks_match_one_process_with_synced_batchnorm(tmp_path):
    """BatchNorm over the global batch (norm="sync_batch": GlobalBatchNorm on CPU, where torch
    has no SyncBatchNorm). Plain DDP BatchNorm would normalise each rank's half separately.
    SGD: AdamW turns float-rounding noise in near-zero gradients into full-size steps."""
    x, y = quadrants(128)
    cfg = dict(backbone="resnet-mini", norm="sync_batch", epochs=2, global_batch=32, optimizer="sgd", lr=0.05)
    a, b = _two_vs_one(tmp_path, cfg, x, y)
    for k, v in a["model"].items():  # weights and BatchNorm running statistics
        assert torch.allclose(v.float(), b["model"][k].float(), atol=2e-4), k
    assert np.allclose([h["loss"] for h in a["history"]], [h["loss"] for h in b["history"]], atol=1e-5)


def test_two_gloo_ranks_match_one_process_moco(tmp_path):
    """MoCo: keys gathered in rank order into one queue; GroupNorm backbone, global BatchNorm head."""
    cfg = dict(method="moco", backbone="resnet-mini", norm="group", epochs=2, global_batch=32, optimizer="sgd", lr=0.03,
               moco_queue=64, moco_dim=16, moco_head_bn=True)
    a, b = _two_vs_one(tmp_path, cfg, blobs(128, 0), np.zeros(128, int))
    for k, v in a["model"].items():  # both encoders, the queue and its pointer
        assert torch.allclose(v.float(), b["model"][k].float(), atol=2e-4), k
    assert np.allclose([h["loss"] for h in a["history"]], [h["loss"] for h in b["history"]], atol=1e-5)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    x, y = quadrants(512)
    np.savez(tmp_path / "data.npz", images=x, labels=y)
    cfg = dict(epochs=6, global_batch=64, lr=2e-3, warmup_epochs=1)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(cfg, tmp_path / "data.npz", out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        prog = out / "progress.json"
        if prog.exists() and json.loads(prog.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "final.pt").exists()
    done = json.loads((out / "progress.json").read_text())["epoch"]
    assert 2 <= done < 6
    r = subprocess.run(_cli(cfg, tmp_path / "data.npz", out), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["resumed_from"] >= done
    straight = pretrain(PretrainConfig.from_dict(cfg), x, y, out_dir=tmp_path / "straight", log=False)
    a = torch.load(out / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 6
    for k, v in b["model"].items():
        assert torch.equal(a["model"][k], v), k  # bit-identical
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in straight.history]
    fa, fb = torch.load(out / "final.pt", weights_only=False), torch.load(straight.path, weights_only=False)
    assert all(torch.equal(fa["body"][k], fb["body"][k]) for k in fb["body"])


@pytest.mark.slow  # a second torchrun launch (~30 s on a loaded machine)
def test_a_failing_rank_stops_every_rank_without_hanging(tmp_path):
    x, y = quadrants(64)
    np.savez(tmp_path / "data.npz", images=x, labels=y)
    out = tmp_path / "run"
    (out / "progress.json").mkdir(parents=True)  # rank 0 cannot write its progress file after epoch 1
    r = subprocess.run(_cli(dict(epochs=2, global_batch=32), tmp_path / "data.npz", out, nproc=2), env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "another rank failed" in r.stderr and "IsADirectoryError" in r.stderr


@pytest.mark.slow  # two more torchrun launches
def test_ddp_bad_world_size_and_plain_batchnorm(tmp_path):
    """Under torchrun: a global batch that 2 ranks cannot split is a ConfigError on every rank
    before training; plain BatchNorm (norm="default") under DDP is *not* one process's result."""
    x, y = quadrants(128)
    np.savez(tmp_path / "data.npz", images=x, labels=y)
    r = subprocess.run(_cli(dict(global_batch=33), tmp_path / "data.npz", tmp_path / "odd", nproc=2), env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and r.stderr.count("not divisible by the world size 2") == 2, r.stderr[-2000:]
    assert not (tmp_path / "odd" / "checkpoint.pt").exists()
    cfg = dict(backbone="resnet-mini", norm="default", epochs=1, global_batch=32, optimizer="sgd", lr=0.05)
    a, b = _two_vs_one(tmp_path, cfg, x, y)
    assert not torch.allclose(a["model"]["body.layer1.0.bn1.running_var"], b["model"]["body.layer1.0.bn1.running_var"], atol=1e-2)
    assert abs(a["history"][0]["loss"] - b["history"][0]["loss"]) > 1e-3


# --------------------------------------------------------------------------- transfer


def test_finetuning_beats_a_random_feature_probe_and_selects_on_val(tmp_path):
    splits = (bars(400, 0), bars(200, 1), bars(400, 2))
    ft, net = transfer("resnet-mini", splits, TransferConfig(mode="finetune", epochs=4, lrs=(0.02, 0.05), batch_size=32))
    probe, _ = transfer("resnet-mini", splits, TransferConfig(mode="linear", C_grid=(0.1, 10.0)))
    assert ft["test_acc"] > probe["test_acc"] + 0.15, (ft["test_acc"], probe["test_acc"])
    assert ft["init"] == probe["init"] == "scratch"
    curves = ft["curves"]
    assert len(curves) == 8 and {"lr", "epoch", "train_loss", "val_acc"} <= set(curves[0])
    best = max(curves, key=lambda r: r["val_acc"])
    assert ft["selected"]["val_acc"] == best["val_acc"] and sum(r["selected"] for r in curves) == 1
    assert len(probe["curves"]) == 2 and probe["selected"]["C"] in (0.1, 10.0)
    json.dumps({k: v for k, v in ft.items()})  # plain data
    assert extract_features(net, splits[2][0][:5]).shape == (5, 256)


def test_transfer_starts_from_pretrained_weights(tmp_path):
    x, y = quadrants(128)
    res = pretrain(PretrainConfig(epochs=1, global_batch=32), x, y, out_dir=tmp_path / "p", log=False)
    splits = (quadrants(64, 1), quadrants(32, 2), quadrants(32, 3))
    m, net = transfer(res, splits, TransferConfig(mode="linear", C_grid=(1.0,)))
    assert m["init"] == f"pretrained:{res.run_key}"
    pre = res.load_backbone()
    scratch, _ = build_backbone("resnet-mini", 1, seed=0)
    assert np.allclose(extract_features(net, x[:4]), extract_features(pre, x[:4]), atol=1e-5)
    assert not np.allclose(extract_features(scratch, x[:4]), extract_features(pre, x[:4]), atol=1e-3)
    # init_from: the paper's "+ ImageNet weights" rows (here: our own checkpoint)
    cont = pretrain(PretrainConfig(epochs=1, global_batch=32, init_from=str(res.path)), x, y, out_dir=tmp_path / "c", log=False)
    assert cont.history[0]["loss"] < res.history[0]["loss"]


def test_faster_rcnn_hook_builds_and_runs_one_forward():
    bb, _ = build_backbone("resnet-mini", in_chans=3, seed=0)
    det = faster_rcnn(bb, num_classes=3, min_size=64, max_size=64, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=10)
    det.eval()
    with torch.no_grad():
        out = det([torch.rand(3, 64, 80)])
    assert set(out[0]) == {"boxes", "labels", "scores"}
    with pytest.raises(ConfigError, match="RGB"):
        faster_rcnn(build_backbone("resnet-mini", 1)[0])


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_a_config_error_before_training(tmp_path, monkeypatch):
    x, y = quadrants(64)
    with pytest.raises(ConfigError, match="Did you mean 'vit-mini'"):
        PretrainConfig(backbone="vit-mni")
    with pytest.raises(ConfigError, match="one class"):
        pretrain(PretrainConfig(global_batch=32), x, np.zeros(64, int), out_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match="fewer than global_batch"):
        pretrain(PretrainConfig(global_batch=128), x, y, out_dir=tmp_path / "b")
    with pytest.raises(ConfigError, match="multiple of global_batch"):
        PretrainConfig(method="moco", global_batch=48, moco_queue=64)
    with pytest.raises(ConfigError, match="unknown PretrainConfig field"):
        PretrainConfig.from_dict({"epoch": 3})
    pretrain(PretrainConfig(epochs=1, global_batch=32), x, y, out_dir=tmp_path / "c", log=False)
    with pytest.raises(ConfigError, match=r"another run .*lr: 0.002 -> 0.01"):
        pretrain(PretrainConfig(epochs=1, global_batch=32, lr=0.01), x, y, out_dir=tmp_path / "c")
    with pytest.raises(ConfigError, match="data key"):
        pretrain(PretrainConfig(epochs=1, global_batch=32), x[::-1].copy(), y[::-1].copy(), out_dir=tmp_path / "c")
    vit = pretrain(PretrainConfig(backbone="vit-mini", epochs=1, global_batch=32), x, y, out_dir=tmp_path / "v", log=False)
    with pytest.raises(ConfigError, match="cannot load it into resnet-mini"):
        pretrain(PretrainConfig(epochs=1, global_batch=32, init_from=str(vit.path)), x, y, out_dir=tmp_path / "d")
    import synthrec_core.pretraining as pt

    monkeypatch.setattr(pt.distributed, "setup", lambda device: (0, 3, None, device))  # as if under torchrun with 3 ranks
    with pytest.raises(ConfigError, match="not divisible by the world size 3"):
        pretrain(PretrainConfig(global_batch=32), x, y, out_dir=tmp_path / "e")
    assert not any((tmp_path / d).exists() for d in ("a", "b", "d", "e"))


def test_config_round_trips_through_json_with_nested_aug():
    cfg = PretrainConfig.preset("mini-moco", epochs=3)
    back = PretrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.cache_key() == cfg.cache_key() and isinstance(back.aug, AugConfig)
    assert cfg.replace(device="cuda").cache_key() == cfg.cache_key()
    assert cfg.replace(lr=0.1).cache_key() != cfg.cache_key()
    for name in ("paper-aware-resnet50", "paper-agnostic-resnet50", "paper-deit-small", "paper-moco-resnet50"):
        assert PretrainConfig.preset(name).backbone in ("resnet50", "deit_small")
    assert math.isclose(TransferConfig.paper_cifar100().lrs[0], 0.003)
