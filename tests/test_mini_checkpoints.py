"""Checkpoints without pickles: portable safetensors + JSON folders, run checkpoints read with
``weights_only=True``, resuming a MiniGen run, and fine-tuning from the shipped checkpoint."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from synthrec_core.config import ConfigError
from test_mini_models import write_shapes_corpus


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes_corpus(tmp_path_factory.mktemp("corpus") / "corpus.npz", n_per=16)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(1)


def test_portable_checkpoint_round_trip_and_integrity(tmp_path):
    from synthrec_core.mini.train import load_checkpoint, save_portable_checkpoint

    state = {"unet": {"a.weight": torch.randn(3, 2).half(), "b": torch.arange(4)}, "norm": {"mu": torch.rand(5)},
             "config": {"steps": 3, "corpus": "tiny", "shape": [1, 2]}, "step": 3, "seconds": 1.5}
    folder = save_portable_checkpoint(state, tmp_path / "ck")
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.json", "checkpoint.safetensors"]
    back = load_checkpoint(folder)
    for g in ("unet", "norm"):
        assert all(torch.equal(back[g][k], v) and back[g][k].dtype == v.dtype for k, v in state[g].items())
    assert back["config"] == state["config"] and back["step"] == 3 and back["seconds"] == 1.5
    data = (folder / "checkpoint.safetensors").read_bytes()
    (folder / "checkpoint.safetensors").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ConfigError, match="does not match the sha256"):
        load_checkpoint(folder)


class _NotData:
    pass


def test_run_checkpoints_are_read_without_unpickling_objects(tmp_path):
    from synthrec_core.mini.train import load_checkpoint

    torch.save({"x": torch.ones(2), "obj": _NotData()}, tmp_path / "checkpoint.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")


def test_no_pickles_ship_in_the_package():
    from synthrec_core.mini.shipped_cards import WEIGHTS_DIR

    files = [p for p in WEIGHTS_DIR.rglob("*") if p.is_file()]
    assert not [p.name for p in files if p.suffix in (".pt", ".pth", ".pkl", ".bin", ".ckpt")]
    assert sum(p.stat().st_size for p in files) < 30e6


def test_minigen_resumes_its_run_checkpoint(shapes, tmp_path):
    from synthrec_core.mini.train import MiniGenConfig, load_checkpoint, read_loss, train_minigen

    cfg = MiniGenConfig(corpus=shapes, steps=4, warmup_steps=1, batch_size=8, progress=False, out_dir=str(tmp_path / "g"))
    first = train_minigen(cfg.replace(stop_step=2))  # done at step 2, with optimizer state and RNG in checkpoint.pt
    assert load_checkpoint(first)["step"] == 2 and load_checkpoint(first)["opt"]["state"]
    head = read_loss(first)
    (first / "done.json").unlink()
    run = train_minigen(cfg)  # the same folder: resumes from step 2
    rows = read_loss(run)
    assert [r["step"] for r in rows] == [0, 1, 2, 3] and rows[:2] == head
    assert load_checkpoint(run)["step"] == 4 and (run / "done.json").exists()


def test_fine_tuning_from_the_shipped_checkpoint(shapes, tmp_path):
    from synthrec_core.mini.train import (SHIPPED_MINIGEN_CHECKPOINT, checkpoint_identity, load_checkpoint,
                                          minigen_preset, read_loss, train_minigen)

    cfg = minigen_preset("mini").replace(corpus=shapes, steps=2, warmup_steps=0, batch_size=8, lr=1e-5,
                                         progress=False, checkpoint_minutes=60.0)
    tuned = train_minigen(cfg.replace(init_from=str(SHIPPED_MINIGEN_CHECKPOINT), out_dir=str(tmp_path / "tuned")))
    scratch = train_minigen(cfg.replace(out_dir=str(tmp_path / "scratch")))
    shipped = load_checkpoint(SHIPPED_MINIGEN_CHECKPOINT)
    init = json.loads((tuned / "init.json").read_text())
    assert init["identity"] == checkpoint_identity(SHIPPED_MINIGEN_CHECKPOINT) and init["step"] == shipped["step"]
    state = load_checkpoint(tuned)
    assert all(torch.equal(state["norm"][k], shipped["norm"][k]) for k in shipped["norm"])
    # the same first batch, noise and timesteps (same seed): the shipped weights denoise it far better than a fresh UNet
    loss_tuned, loss_scratch = read_loss(tuned)[0]["loss"], read_loss(scratch)[0]["loss"]
    assert loss_tuned < 0.5 * loss_scratch, (loss_tuned, loss_scratch)
    # at this learning rate two steps barely move the weights off the shipped point
    w = {k: v.float() for k, v in shipped["unet"].items()}
    drift = max(float((state["unet"][k] - w[k]).abs().max()) for k in w)
    assert drift < 1e-3 and np.isfinite(drift)
