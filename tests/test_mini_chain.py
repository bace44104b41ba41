"""The tiny MiniGen chain (``minigen_chains.tiny`` in training.yaml): two stages of a few steps on
the tiny corpus and arch, the second continuing the first from its hand-over checkpoint."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_chain(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNTHREC_CACHE", str(tmp_path_factory.mktemp("chain-cache")))
    torch.set_num_threads(1)
    from synthrec_core.mini.train import train_minigen_chain

    first = train_minigen_chain("tiny", up_to="tiny-1", progress=False)
    stamp = (first["tiny-1"] / "loss.csv").stat().st_mtime_ns
    both = train_minigen_chain("tiny", progress=False)
    yield first, both, stamp
    mp.undo()


def test_up_to_stops_and_a_rerun_reuses_finished_stages(tiny_chain):
    first, both, stamp = tiny_chain
    assert list(first) == ["tiny-1"] and list(both) == ["tiny-1", "tiny-2"]
    assert both["tiny-1"] == first["tiny-1"]
    assert (both["tiny-1"] / "loss.csv").stat().st_mtime_ns == stamp  # not trained again
    for run in both.values():
        assert (run / "done.json").exists()


def test_stage_two_starts_from_stage_one_weights(tiny_chain):
    from synthrec_core.features import weights_hash
    from synthrec_core.mini.minigen import make_unet
    from synthrec_core.mini.train import checkpoint_identity, load_checkpoint, minigen_chain
    from synthrec_core.mini.train_chain import handover_dir

    _, runs, _ = tiny_chain
    s1, s2 = runs["tiny-1"], runs["tiny-2"]
    handover = load_checkpoint(handover_dir(s1))
    final1 = load_checkpoint(s1)
    # the hand-over is stage 1's final state, in fp16
    for group in ("unet", "ema"):
        assert all(torch.equal(handover[group][k], v.half()) for k, v in final1[group].items())
    # stage 2 was configured from it, keyed by its content, and loaded exactly those weights
    cfg2 = json.loads((s2 / "config.json").read_text())
    assert cfg2["init_from"] == str(handover_dir(s1))
    init = json.loads((s2 / "init.json").read_text())
    assert init["identity"] == checkpoint_identity(handover_dir(s1)) and init["step"] == final1["step"]
    unet = make_unet("tiny")
    unet.load_state_dict({k: v.float() for k, v in handover["unet"].items()})
    assert init["unet_weights"] == weights_hash(unet)
    assert init["unet_weights"] != weights_hash(make_unet("tiny"))  # not what a fresh UNet starts from
    # and kept stage 1's text standardisation although its own captions (stroke words) differ
    final2 = load_checkpoint(s2)
    assert all(torch.equal(final2["norm"][k], final1["norm"][k]) for k in final1["norm"])
    stages = minigen_chain("tiny")
    assert stages[1].config.stroke_words and not stages[0].config.stroke_words
    assert final2["config"]["steps"] == stages[1].config.steps and final2["step"] == stages[1].config.steps
    # stage 2's own hand-over names what it started from by content, and carries no machine path
    handover2 = load_checkpoint(handover_dir(s2))
    assert handover2["init_identity"] == init["identity"] and handover2["stage"] == "tiny-2"
    assert handover2["config"]["init_from"] == "" == handover2["config"]["out_dir"]


def test_stage_two_depends_on_stage_one_content(tiny_chain, tmp_path):
    import shutil

    from synthrec_core.mini.train import MiniGenConfig
    from synthrec_core.mini.train_chain import handover_dir

    _, runs, _ = tiny_chain
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(handover_dir(runs["tiny-1"]), a)
    shutil.copytree(handover_dir(runs["tiny-1"]), b)
    cfg = MiniGenConfig(init_from=str(a))
    assert cfg.cache_key() == cfg.replace(init_from=str(b)).cache_key()  # the path is not in the key
    data = (b / "checkpoint.safetensors").read_bytes()
    (b / "checkpoint.safetensors").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert cfg.cache_key() != cfg.replace(init_from=str(b)).cache_key()  # the content is
    from synthrec_core.config import ConfigError

    with pytest.raises(ConfigError, match="no checkpoint there"):
        cfg.replace(init_from=str(tmp_path / "missing")).cache_key()
