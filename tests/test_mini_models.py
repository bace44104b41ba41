"""MiniCLIP / MiniGen recipes: tiny training runs lower their loss, resume, validate configs.

Uses a synthetic stand-in corpus of simple shapes (no fonts) so the tests stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthrec_core.config import ConfigError

SHAPES = ("bar", "ring", "cross")


def _shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((32, 32), np.uint8)
    c = 16 + rng.integers(-2, 3, size=2)
    yy, xx = np.mgrid[:32, :32]
    if kind == "bar":
        img[(abs(xx - c[1]) <= 1) & (abs(yy - c[0]) <= 9)] = 255
    elif kind == "ring":
        r = np.hypot(yy - c[0], xx - c[1])
        img[(r > 5) & (r < 8)] = 255
    else:
        img[((abs(xx - c[1]) <= 1) | (abs(yy - c[0]) <= 1)) & (abs(xx - c[1]) <= 8) & (abs(yy - c[0]) <= 8)] = 255
    return img


def write_shapes_corpus(path, n_per: int = 40, seed: int = 0) -> str:
    """A corpus.npz of bars, rings and crosses with captions, in the corpus format."""
    rng = np.random.default_rng(seed)
    rows = [(_shape(k, rng), f"a white {k} on black", k) for k in SHAPES for _ in range(n_per)]
    images = np.stack([r[0] for r in rows])
    captions = np.array([r[1] if i % 2 else f"a {r[2]} shape" for i, r in enumerate(rows)])
    concept = np.array([r[2] for r in rows])
    other = np.array(["shape"] * len(rows))
    np.savez(path, images=images, captions=captions, concept=concept, style=other, source=other, group=other)
    return str(path)


@pytest.fixture(scope="module")
def shapes_corpus(tmp_path_factory):
    return write_shapes_corpus(tmp_path_factory.mktemp("corpus") / "corpus.npz")


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _mean(rows, sl):
    return float(np.mean([r["loss"] for r in rows[sl]]))


def test_miniclip_tiny_run_lowers_loss_and_resumes(shapes_corpus, tmp_path):
    from synthrec_core.mini.train import MiniCLIPConfig, read_loss, train_miniclip

    cfg = MiniCLIPConfig(corpus=shapes_corpus, steps=40, batch_size=24, lr=3e-3, progress=False,
                         out_dir=str(tmp_path / "clip"))
    half = train_miniclip(cfg.replace(steps=40, max_minutes=1e-9))  # stops at once, checkpointed
    assert (half / "checkpoint.pt").exists() and not (half / "done.json").exists()
    folder = train_miniclip(cfg)
    rows = read_loss(folder)
    assert [r["step"] for r in rows] == list(range(40))  # resumed, no duplicated steps
    assert _mean(rows, slice(-8, None)) < _mean(rows, slice(0, 8)) - 0.05


def test_minigen_tiny_run_lowers_loss(shapes_corpus, tmp_path):
    from synthrec_core.mini.train import MiniGenConfig, read_loss, train_minigen

    cfg = MiniGenConfig(corpus=shapes_corpus, steps=40, batch_size=16, lr=2e-3, progress=False,
                        out_dir=str(tmp_path / "gen"))
    rows = read_loss(train_minigen(cfg))
    assert len(rows) == 40
    assert _mean(rows, slice(-10, None)) < _mean(rows, slice(0, 10))


def test_minigen_trains_and_samples_at_the_corpus_resolution(shapes_corpus, tmp_path):
    from synthrec_core.mini.train import MiniGenConfig, minigen_from_checkpoint, train_minigen

    with np.load(shapes_corpus) as z:
        small = {k: z[k] for k in z.files}
    small["images"] = small["images"].reshape(-1, 16, 2, 16, 2).mean((2, 4)).astype(np.uint8)
    path = tmp_path / "corpus16.npz"
    np.savez(path, **small)
    run = train_minigen(MiniGenConfig(corpus=str(path), steps=2, warmup_steps=0, batch_size=8, progress=False,
                                     out_dir=str(tmp_path / "g16")))
    pipe = minigen_from_checkpoint(run)
    assert pipe.unet.config.sample_size == 8  # space-to-depth: 16 px -> 8 x 8
    out = pipe("a ring shape", num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 16, 16, 1)


def test_fold_text_norm_is_exact():
    from synthrec_core.mini.minigen import make_unet
    from synthrec_core.mini.train import _fold_text_norm

    torch.manual_seed(0)
    unet = make_unet("tiny").eval()
    norm = {"tok_mu": torch.randn(384), "tok_sd": torch.rand(384) + 0.5,
            "pool_mu": torch.randn(384), "pool_sd": torch.rand(384) + 0.5}
    z, t = torch.randn(2, 4, 16, 16), torch.tensor([10, 500])
    tok, pooled = torch.randn(2, 5, 384), torch.randn(2, 384)
    with torch.no_grad():
        ref = unet(z, t, encoder_hidden_states=(tok - norm["tok_mu"]) / norm["tok_sd"],
                   class_labels=(pooled - norm["pool_mu"]) / norm["pool_sd"]).sample
        _fold_text_norm(unet, norm)
        out = unet(z, t, encoder_hidden_states=tok, class_labels=pooled).sample
    assert torch.allclose(ref, out, atol=1e-4)


def test_augment_keeps_polarity_and_range():
    from synthrec_core.mini.train import augment_batch

    x = torch.zeros(8, 1, 32, 32)
    x[:, :, 10:22, 14:18] = 1.0
    y = augment_batch(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert float(y[:, :, :3, :3].mean()) == 0.0  # corners stay black: never inverted
    assert not torch.allclose(y[0], y[1])  # per-image parameters


@pytest.mark.parametrize("bad", [dict(steps=0), dict(lr=-1.0), dict(arch="nope"), dict(targets="x"), dict(augment=5.0)])
def test_miniclip_config_rejects_bad_values(bad):
    from synthrec_core.mini.train import MiniCLIPConfig

    with pytest.raises(ConfigError):
        MiniCLIPConfig(**bad)


@pytest.mark.parametrize("bad", [dict(caption_dropout=1.0), dict(arch="huge"), dict(ema_decay=1.0), dict(max_length=2)])
def test_minigen_config_rejects_bad_values(bad):
    from synthrec_core.mini.train import MiniGenConfig

    with pytest.raises(ConfigError):
        MiniGenConfig(**bad)


def test_config_key_ignores_threads_and_paths():
    from synthrec_core.mini.train import MiniGenConfig

    a = MiniGenConfig()
    assert a.cache_key() == a.replace(threads=2, out_dir="/x", progress=False).cache_key()
    assert a.cache_key() != a.replace(seed=1).cache_key()


def test_gate_helpers():
    from synthrec_core.mini.evaluate import _pairwise_distances, class_prompts

    assert class_prompts("mnist", ["zero", "one"], "a handwritten digit {digit}") == [
        "a handwritten digit 0", "a handwritten digit 1"]
    assert class_prompts("fashion_mnist", ["ankle_boot"], "a {name}") == ["a ankle boot"]
    x = np.zeros((2, 3, 4, 4), np.uint8)
    x[1] = 255  # prompt 1 all white: prompts differ by 255, seeds do not differ
    d = _pairwise_distances(x)
    assert d["same_seed_different_prompt"] == 255.0 and d["different_seed_same_prompt"] == 0.0


def test_alt_text_captions_never_name_the_concept_and_are_seeded():
    from types import SimpleNamespace

    from synthrec_core.mini.train import alt_text_captions

    n = 2000
    corpus = SimpleNamespace(captions=np.array(["a white silhouette of a dog"] * n), group=np.array(["animal"] * n),
                             style=np.array(["silhouette"] * n), concept=np.array(["dog"] * n))
    out = alt_text_captions(corpus, 0.3, seed=0)
    changed = out != corpus.captions
    assert 0.25 < changed.mean() < 0.35
    assert not any("dog" in c for c in out[changed])
    assert (out == alt_text_captions(corpus, 0.3, seed=0)).all()
    assert (out != alt_text_captions(corpus, 0.3, seed=1)).any()


def test_alt_text_noise_needs_caption_targets():
    from synthrec_core.mini.train import MiniCLIPConfig

    with pytest.raises(ConfigError, match="alt_text_noise"):
        MiniCLIPConfig(alt_text_noise=0.5)
    assert MiniCLIPConfig(alt_text_noise=0.5, targets="caption").cache_key() != MiniCLIPConfig(targets="caption").cache_key()


def test_gate_summary_applies_the_three_dataset_rule():
    import pandas as pd

    from synthrec_core.mini.world import gate_summary

    rows = [{"gate": "3 synthetic data helps", "dataset": d, "measured": m, "threshold": "> std", "holds": m > 0.001}
            for d, m in (("a", 0.01), ("b", 0.02), ("c", -0.01), ("d", 0.0))]
    text = gate_summary(pd.DataFrame(rows), "mini")
    assert "fails (needs 3 datasets, has 2)" in text and "**mini**" in text
    rows[2]["measured"], rows[2]["holds"] = 0.03, True
    assert "holds (needs 3 datasets, has 3)" in gate_summary(pd.DataFrame(rows), "mini")


def test_holdout_splits_come_from_train_and_are_disjoint():
    from synthrec_core.mini.evaluate import _splits

    full = _splits("digits")
    held = _splits("digits", report_on="holdout")
    assert held.test.split == "holdout" and len(held.test) == len(full.train) // 2
    assert len(held.train) + len(held.test) == len(full.train) and len(held.val) == len(full.val)
    rows = lambda ds: {x.tobytes() for x in ds.images}
    assert rows(held.test) <= rows(full.train) and not rows(held.test) & rows(full.test)
    again = _splits("digits", report_on="holdout")
    assert (again.test.labels == held.test.labels).all() and (again.test.images == held.test.images).all()
    with pytest.raises(ConfigError, match="report_on"):
        _splits("digits", report_on="validation")


def test_select_miniclip_needs_gate2_then_counts_gate3():
    from synthrec_core.mini.world import select_miniclip

    def res(zs, gains):
        names = ("mnist", "digits", "animal_mnist", "fashion_mnist")
        return {"miniclip_zero_shot": dict(zip(names, zs)), "linear_probe_16shot": dict.fromkeys(names, 0.95),
                "synthetic_gain": {n: {"mean": g, "std": 0.005, "seeds": [0, 1, 2]} for n, g in zip(names, gains)}}

    variants = {"a": res((0.9, 0.9, 0.5, 0.5), (0.01, -0.01, 0.0, 0.0)),       # gate 2 ok, gate 3 on 1
                "b": res((0.9, 0.9, 0.34, 0.5), (0.02, 0.02, 0.02, 0.02)),     # best gains, fails gate 2
                "c": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.01, -0.02)),     # gate 2 ok, gate 3 on 3
                "d": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.006, -0.03))}    # as c, smaller mean gain
    out = select_miniclip(variants)
    assert out["chosen"] == "c"
    assert out["scores"]["b"]["gate2_failed"] == ["animal_mnist"] and out["scores"]["c"]["gate3_datasets"] == 3
    assert select_miniclip({"b": variants["b"]})["chosen"] is None
    with pytest.raises(ValueError):
        select_miniclip({})


def test_ablation_and_selection_tables(tmp_path, monkeypatch):
    import json

    from synthrec_core.mini.world import miniclip_ablation_table

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    assert miniclip_ablation_table("mini") is None and miniclip_ablation_table("mini", "holdout") is None
    g = {"mean": 0.02, "std": 0.01, "seeds": [0, 1, 2]}
    variant = {"miniclip_zero_shot": {"mnist": 0.9}, "linear_probe_16shot": {"mnist": 0.95},
               "synthetic_gain": {"mnist": g}, "synthetic_ceiling": {"mnist": g}}
    (tmp_path / "mini" / "miniclip_selection.json").write_text(json.dumps(
        {"variants": {"a": variant, "b": variant}, "selection": {"chosen": "b"}}))
    table = miniclip_ablation_table("mini", "holdout")
    assert list(table.index.get_level_values(0)) == ["a", "b (chosen)"]
    assert table["gain > spread"].all() and table.loc[("a", "mnist"), "zero-shot"] == 90.0
    with pytest.raises(ConfigError):
        miniclip_ablation_table("mini", "val")
