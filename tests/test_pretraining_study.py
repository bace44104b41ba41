"""The pre-training study (synthrec_core.pretraining_study / pretraining_findings): bad parameters
fail before any work, finished grid cells are read back, and the findings have the right sign."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from synthrec_core import pretraining_findings as pf
from synthrec_core import pretraining_study as study
from synthrec_core.config import ConfigError
from synthrec_core.grid import Grid


def _stripes(n_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class c: stripes of period 2 + c (horizontal for even c, vertical for odd), plus noise."""
    rng = np.random.default_rng(seed)
    ii = np.arange(32)
    x, y = [], []
    for c in range(classes):
        wave = ((ii // (1 + c // 2)) % 2) * 200
        img = np.broadcast_to(wave[:, None] if c % 2 == 0 else wave[None, :], (32, 32))
        for _ in range(n_per_class):
            x.append(np.clip(img + rng.normal(0, 20, (32, 32)), 0, 255).astype(np.uint8))
            y.append(c)
    return np.stack(x), np.array(y)


def _toolkit() -> types.SimpleNamespace:
    """A toolkit with a source ("src", 4 classes) and a downstream ("down", 4 classes) of stripes."""
    def split(seed: int) -> types.SimpleNamespace:
        x, y = _stripes(8, 4, seed)
        return types.SimpleNamespace(images=x, labels=y)

    def splits(name: str) -> types.SimpleNamespace:
        base = 0 if name == "src" else 100
        return types.SimpleNamespace(classnames=["a", "b", "c", "d"], train=split(base), val=split(base + 1), test=split(base + 2))

    return types.SimpleNamespace(splits=splits)


CFG = dict(source="src", downstream=("down",), sizes=(4, 8), seeds=(0, 1), global_batch=16, pretrain_epochs=1,
           downstream_per_class=4, eval_limit=32)


@pytest.mark.parametrize("bad, match", [
    (dict(backbone="resnet-huge"), "resnet-huge"),
    (dict(downstream=("src",)), "exclude the source"),
    (dict(sizes=(8, 4)), "increasing"),
    (dict(methods=("simclr",)), "simclr"),
    (dict(transfer_mode="knn"), "knn"),
    (dict(seeds=(0, 0)), "distinct"),
])
def test_bad_parameters_fail_at_construction(bad, match):
    with pytest.raises(ConfigError, match=match):
        study.StudyConfig(**{**CFG, **bad})


def test_a_set_smaller_than_the_batch_or_one_class_fails_before_work(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(study, "source_set", lambda *a, **k: calls.append(a))
    with pytest.raises(ConfigError, match="smaller than global_batch"):
        study.run(_toolkit(), study.StudyConfig(**{**CFG, "sizes": (2, 8)}), Grid("t", tmp_path))
    with pytest.raises(ConfigError, match="1 class"):
        study.StudyConfig(**CFG).check_sizes(1)
    assert calls == []


def test_run_covers_the_plan_and_a_rerun_reads_every_cell_back(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(study, "source_set", lambda tk, cfg, init, n, seed: _stripes(n, 4, seed + (50 if init == "real" else 0)))
    cfg, tk = study.StudyConfig(**CFG), _toolkit()
    df, down, hist = study.run(tk, cfg, Grid("t", tmp_path / "grid"))
    assert sorted(set(zip(df["init"], df["images_per_class"]))) == [("real", 8), ("scratch", 0), ("synthetic", 4), ("synthetic", 8)]
    assert len(df) == 4 * len(cfg.seeds) and len(hist) == 3 * len(cfg.seeds)
    assert df["test_acc"].between(0, 1).all() and down["down"].test_labels.shape == (32,)
    grid = Grid("t", tmp_path / "grid")
    again, _, _ = study.run(tk, cfg, grid)
    assert grid.computed == 0 and grid.reused == len(df)
    pd.testing.assert_frame_equal(df.drop(columns=["test_pred", "selected"]), again.drop(columns=["test_pred", "selected"]))


def _table(acc: dict[tuple, float], labels: np.ndarray, seeds=(0, 1, 2)) -> pd.DataFrame:
    """Rows whose predictions are right on the first ``acc`` share of the test images."""
    rows = []
    for (init, method, n), a in acc.items():
        for s in seeds:
            k = int(round(a * len(labels))) - (s % 2)  # a little spread over seeds
            pred = np.where(np.arange(len(labels)) < k, labels, (labels + 1) % 4)
            rows.append({"init": init, "method": method, "images_per_class": n, "downstream": "down", "seed": s,
                         "test_acc": float((pred == labels).mean()), "test_pred": pred.tolist()})
    return pd.DataFrame(rows)


def test_findings_follow_the_measured_differences():
    labels = np.arange(200) % 4
    good = _table({("scratch", "none", 0): 0.4, ("real", "supervised", 8): 0.7, ("synthetic", "supervised", 4): 0.5,
                   ("synthetic", "supervised", 8): 0.65}, labels)
    f = pf.all_findings(good, {"down": labels}, n_boot=200)
    assert f["F12"]["mean"] == pytest.approx(25.0, abs=0.5) and f["F12"]["reproduced"] and f["F12"]["significant"]
    assert f["F13"]["mean"] == pytest.approx(15.0, abs=0.5) and f["F13"]["reproduced"]
    assert "-5.00 points" in f["F12"]["note"]  # synthetic minus real
    bad = _table({("scratch", "none", 0): 0.6, ("real", "supervised", 8): 0.7, ("synthetic", "supervised", 4): 0.5,
                  ("synthetic", "supervised", 8): 0.45}, labels)
    f = pf.all_findings(bad, {"down": labels}, n_boot=200)
    assert f["F12"]["mean"] < 0 and not f["F12"]["reproduced"] and not f["F13"]["reproduced"]
    with pytest.raises(KeyError, match="down"):
        pf.all_findings(good, {}, n_boot=200)
