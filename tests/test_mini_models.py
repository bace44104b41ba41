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
    second = _splits("digits", report_on="holdout2")  # the next draw: disjoint from the first
    assert second.test.split == "holdout2" and len(second.test) == len(full.train) - len(held.test)
    assert rows(second.test) <= rows(full.train) and not rows(second.test) & rows(held.test)
    assert rows(second.train) == rows(held.test)  # digits is small: the rest is the first draw
    with pytest.raises(ConfigError, match="report_on"):
        _splits("digits", report_on="validation")


def test_select_variant_needs_gate2_then_counts_gate3():
    from synthrec_core.mini.world import select_variant

    def res(zs, gains):
        names = ("mnist", "digits", "animal_mnist", "fashion_mnist")
        return {"miniclip_zero_shot": dict(zip(names, zs)), "linear_probe_16shot": dict.fromkeys(names, 0.95),
                "synthetic_gain": {n: {"mean": g, "std": 0.005, "seeds": [0, 1, 2]} for n, g in zip(names, gains)}}

    variants = {"a": res((0.9, 0.9, 0.5, 0.5), (0.01, -0.01, 0.0, 0.0)),       # gate 2 ok, gate 3 on 1
                "b": res((0.9, 0.9, 0.34, 0.5), (0.02, 0.02, 0.02, 0.02)),     # best gains, fails gate 2
                "c": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.01, -0.02)),     # gate 2 ok, gate 3 on 3
                "d": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.006, -0.03))}    # as c, smaller mean gain
    out = select_variant(variants)
    assert out["chosen"] == "c"
    assert out["scores"]["b"]["gate2_failed"] == ["animal_mnist"] and out["scores"]["c"]["gate3_datasets"] == 3
    assert select_variant({"b": variants["b"]})["chosen"] is None
    with pytest.raises(ValueError):
        select_variant({})


def test_ablation_and_selection_tables(tmp_path, monkeypatch):
    import json

    from synthrec_core.mini.world import selection_table

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    assert selection_table("miniclip", "mini") is None and selection_table("miniclip", "mini", "holdout") is None
    g = {"mean": 0.02, "std": 0.01, "seeds": [0, 1, 2]}
    variant = {"miniclip_zero_shot": {"mnist": 0.9}, "linear_probe_16shot": {"mnist": 0.95},
               "synthetic_gain": {"mnist": g}, "synthetic_ceiling": {"mnist": g}}
    (tmp_path / "mini" / "miniclip_selection.json").write_text(json.dumps(
        {"variants": {"a": variant, "b": variant}, "selection": {"chosen": "b"}}))
    table = selection_table("miniclip", "mini", "holdout")
    assert list(table.index.get_level_values(0)) == ["a", "b (chosen)"]
    assert table["gain > spread"].all() and table.loc[("a", "mnist"), "zero-shot"] == 90.0
    with pytest.raises(ConfigError):
        selection_table("miniclip", "mini", "val")
    # gate-3 recipes carry no corpus ceiling
    recipe = {k: v for k, v in variant.items() if k != "synthetic_ceiling"}
    (tmp_path / "mini" / "gate3_recipe.json").write_text(json.dumps({"variants": {"paper CT": recipe}}))
    table = selection_table("gate3_recipe", "mini")
    assert table.index.names == ["recipe", "dataset"] and "corpus ceiling" not in table.columns


@pytest.fixture(scope="module")
def tiny_pipe(shapes_corpus, tmp_path_factory):
    from synthrec_core.mini.train import MiniGenConfig, minigen_from_checkpoint, train_minigen

    run = train_minigen(MiniGenConfig(corpus=shapes_corpus, steps=2, warmup_steps=0, batch_size=8, progress=False,
                                      out_dir=str(tmp_path_factory.mktemp("gen"))))
    return minigen_from_checkpoint(run)


def test_class_images_grow_their_cache_bit_identically(tiny_pipe, tmp_path, monkeypatch):
    import shutil

    from synthrec_core.mini.evaluate import generate_class_images
    from synthrec_core.paths import cache_dir

    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path))
    gen = lambda prompts, n: generate_class_images(tiny_pipe, prompts, n, seed=1, steps=2, batch_size=4, progress=False)
    prompts = ["a ring shape", "a bar shape"]
    small = gen(prompts, 3)
    grown = gen(prompts, 5)  # generates images 3 and 4 only, in other batches
    assert grown.shape == (2, 5, 32, 32) and grown.dtype == np.uint8
    assert (grown[:, :3] == small).all() and (gen(prompts, 2) == small[:, :2]).all()
    shutil.rmtree(cache_dir() / "mini" / "gate_samples")
    assert (gen(prompts, 5) == grown).all()  # from scratch == grown
    # per-image prompts: image j of a class uses prompts[c][j % len]
    varied = gen([["a ring shape", "a white cross on black"], ["a bar shape"]], 5)
    assert (varied[1] == grown[1]).all() and (varied[0, ::2] == grown[0, ::2]).all()
    assert not (varied[0, 1::2] == grown[0, 1::2]).all()
    for bad in ([], [[]], ["a ring", ""]):
        with pytest.raises(ConfigError):
            gen(bad, 2)
    with pytest.raises(ConfigError):
        gen(prompts, 0)


def test_gate3_prompts_add_language_enhanced_sentences():
    from synthrec_core.mini.evaluate import GEN_PROMPTS, gate3_prompts

    classes = ["dog", "cat"]
    assert gate3_prompts("animal_mnist", classes) == [[GEN_PROMPTS["animal_mnist"].format(name=c)] for c in classes]
    le = gate3_prompts("animal_mnist", classes, le=6)
    assert [len(p) for p in le] == [6, 6] and all(len(set(p)) == 6 for p in le)
    assert le[0][0] == GEN_PROMPTS["animal_mnist"].format(name="dog") and all("cat" in p or "Felis" in p for p in le[1][1:3])
    assert gate3_prompts("animal_mnist", classes, le=6, seed=0) == le
    with pytest.raises(ConfigError):
        gate3_prompts("animal_mnist", classes, le=-1)


@pytest.mark.parametrize("bad", [{"cf_pool": 16}, {"cf_pool": -1}, {"cf_pool": 2.5}])
def test_synthetic_gain_rejects_a_bad_filter_pool(bad):
    from synthrec_core.mini.evaluate import synthetic_gain

    with pytest.raises(ConfigError):
        synthetic_gain(None, None, None, n_per_class=16, **bad)


def test_selection_results_paths(tmp_path, monkeypatch):
    from synthrec_core.mini.world import selection_results_path

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    names = {(k, r): selection_results_path(k, "mini", r).name for k in ("miniclip", "gate3_recipe") for r in ("test", "holdout")}
    assert selection_results_path("minigen_stage", "mini", "holdout2").name == "minigen_stage_selection_holdout2.json"
    assert names == {("miniclip", "test"): "miniclip_ablation.json", ("miniclip", "holdout"): "miniclip_selection.json",
                     ("gate3_recipe", "test"): "gate3_recipe.json", ("gate3_recipe", "holdout"): "gate3_recipe_selection.json"}
    with pytest.raises(ConfigError):
        selection_results_path("minigen")


def test_lowres_copies_blur_typography_only_and_name_it():
    from types import SimpleNamespace

    from synthrec_core.mini.train import LOWRES_PHRASE, MiniGenConfig, lowres_copies

    imgs = np.zeros((6, 32, 32), np.uint8)
    imgs[:, 8:24, 15:17] = 255  # a sharp 2 px bar
    corpus = SimpleNamespace(images=imgs, group=np.array(["digit", "letter", "digit", "object", "animal", "digit"]))
    caps = np.array([f"cap {i}" for i in range(6)])
    out, out_caps = lowres_copies(corpus, caps, share=1.0, size=8, seed=0)
    assert len(out) == 4 and out.dtype == np.uint8 and out.shape[1:] == (32, 32)  # the 4 typography images
    assert list(out_caps) == [f"cap {i} {LOWRES_PHRASE}" for i in (0, 1, 2, 5)]
    assert (out > 0).sum() > (imgs[0] > 0).sum() and out.max() < 255  # blurred: wider and dimmer
    assert len(lowres_copies(corpus, caps, share=0.0)[0]) == 0
    half = lowres_copies(corpus, caps, share=0.5, seed=3)[1]
    assert list(half) == list(lowres_copies(corpus, caps, share=0.5, seed=3)[1])  # seeded
    for bad in ({"lowres_share": 1.5}, {"lowres_size": 1}, {"lowres_size": 8.0}):
        with pytest.raises(ConfigError):
            MiniGenConfig(**bad)


def test_low_resolution_judge_trains_on_blurred_corpus_images(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from synthrec_core.mini.evaluate import _train_judge
    from synthrec_core.mini.train import lowres

    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    imgs = np.zeros((40, 32, 32), np.uint8)
    imgs[:20, 8:24, 14:18] = 255  # "one": a vertical bar
    imgs[20:, 14:18, 8:24] = 255  # "minus": a horizontal bar
    imgs = np.clip(imgs.astype(int) + rng.integers(0, 30, imgs.shape), 0, 255).astype(np.uint8)
    concepts = np.array(["one"] * 20 + ["minus"] * 20)
    corpus = SimpleNamespace(images=imgs, concept=concepts)
    sharp = _train_judge(corpus, ["one", "minus"], 20, 1, 0)
    blurred = _train_judge(corpus, ["one", "minus"], 20, 1, 0, lowres_size=8)
    files = sorted((tmp_path / "mini" / "judges").glob("*.pt"))
    assert len(files) == 2  # cached apart: the training images differ
    weights = [torch.load(f, weights_only=True) for f in files]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # a judge trained plainly on the blurred copies of the corpus images is the same judge: the same
    # training images, so the same cached weights (no third file) and the same predictions
    copy = _train_judge(SimpleNamespace(images=lowres(imgs, 8), concept=concepts), ["one", "minus"], 20, 1, 0)
    assert sorted((tmp_path / "mini" / "judges").glob("*.pt")) == files
    probe = rng.integers(0, 256, (64, 32, 32)).astype(np.uint8)
    assert (copy(probe) == blurred(probe)).all() and (copy(imgs) == blurred(imgs)).all()
    assert sharp(imgs).shape == (40,)


def test_stroke_words_describe_the_measured_stroke_weight():
    from types import SimpleNamespace

    from synthrec_core.mini.train import stroke_word_captions

    imgs = np.zeros((4, 32, 32), np.uint8)
    imgs[0, 6:26, 15:17] = 255  # 2 px bar: thin
    imgs[1, 6:26, 14:18] = 255  # 4 px bar: very bold
    imgs[2, 6:26, 15:18] = 255  # 3 px bar: bold
    imgs[3, 6:26, 14:18] = 255  # not typography: unchanged
    corpus = SimpleNamespace(images=imgs, captions=np.array(["a 1", "a 1", "a 1", "a bar"]),
                             group=np.array(["digit", "letter", "digit", "object"]))
    assert list(stroke_word_captions(corpus)) == ["a 1 in thin strokes", "a 1 in very bold strokes",
                                                  "a 1 in bold strokes", "a bar"]


def test_gate3_recipes_map_to_synthetic_gain_arguments():
    from synthrec_core.classifier import HeadConfig
    from synthrec_core.mini.evaluate import GATE3_RECIPES, GEN_PROMPTS, STYLE_PROMPTS, gate3_kwargs

    assert gate3_kwargs("paper CT") == {}
    kw = gate3_kwargs("bold, CT batch 32")
    assert kw["head_cfg"] == HeadConfig(batch_size=32)
    assert kw["gen_prompts"] == {d: GEN_PROMPTS[d] + " in bold strokes" for d in ("mnist", "digits")}
    kw = gate3_kwargs("bold, Fashion outline, paper CT")
    assert kw["gen_styles"] == {"fashion_mnist": "outline"} and "head_cfg" not in kw
    assert kw["gen_prompts"]["fashion_mnist"] == STYLE_PROMPTS["outline"] and kw["gen_prompts"]["digits"].endswith("in bold strokes")
    both = gate3_kwargs({"stroke": "bold", "lowres": True})["gen_prompts"]
    assert both["mnist"] == GEN_PROMPTS["mnist"] + " in bold strokes in low resolution" and "fashion_mnist" not in both
    assert all(isinstance(gate3_kwargs(name), dict) for name in GATE3_RECIPES)
    for bad in ("paper", {"strokes": "bold"}, {"lowres": "yes"}, {"stroke": "heavy"}, {"head": {"batch_size": 0}},
                {"style": {"fashion_mnist": "watercolour"}}, {"style": {"mnist": "outline"}}):
        with pytest.raises(ConfigError):
            gate3_kwargs(bad)


def test_export_minigen_replaces_weights_but_keeps_card_and_logs(shapes_corpus, tmp_path):
    from synthrec_core.mini.train import MiniGenConfig, export_minigen, train_minigen

    run = train_minigen(MiniGenConfig(corpus=shapes_corpus, steps=2, warmup_steps=0, batch_size=8, progress=False,
                                      out_dir=str(tmp_path / "g")))
    out = tmp_path / "weights"
    export_minigen(run / "checkpoint.pt", out)
    (out / "README.md").write_text("card")
    (out / "loss_1.csv").write_text("step,loss\n")
    first = (out / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    export_minigen(run / "checkpoint.pt", out, fp16=False)
    assert (out / "README.md").read_text() == "card" and (out / "loss_1.csv").exists()
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() != first  # fp32 now
    assert not (out.parent / "weights.tmp").exists()


def test_selection_gains_one_row_per_variant(tmp_path, monkeypatch):
    import json

    from synthrec_core.mini.world import selection_gains

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    assert selection_gains("gate3_recipe", "mini") is None
    res = lambda m: {"miniclip_zero_shot": {"mnist": 0.9, "digits": 0.8}, "linear_probe_16shot": {"mnist": 0.95, "digits": 0.9},
                     "synthetic_gain": {"mnist": {"mean": m, "std": 0.01}, "digits": {"mean": -0.01, "std": 0.01}}}
    (tmp_path / "mini" / "gate3_recipe.json").write_text(json.dumps({"variants": {"a": res(0.02), "b": res(0.0)}}))
    wide = selection_gains("gate3_recipe", "mini")
    assert list(wide.columns) == ["mnist", "digits", "gate-3 datasets"]
    assert wide.loc["a", "mnist"] == "+2.00 ± 1.00 ✓" and wide.loc["b", "mnist"] == "+0.00 ± 1.00"
    assert wide["gate-3 datasets"].to_dict() == {"a": 1, "b": 0}


def test_finish_selection_chooses_only_on_holdout(tmp_path, capsys):
    import json

    from synthrec_core.mini.world import finish_selection

    g = {d: {"mean": 0.02, "std": 0.01, "seeds": [0, 1, 2]} for d in ("mnist", "digits", "animal_mnist", "fashion_mnist")}
    res = {"miniclip_zero_shot": {d: 0.9 for d in g}, "linear_probe_16shot": {d: 0.95 for d in g}, "synthetic_gain": g}
    out = finish_selection({"variants": {"a": res}}, tmp_path / "sel.json", "holdout")
    assert out["selection"]["chosen"] == "a" and json.loads((tmp_path / "sel.json").read_text()) == out
    assert "selection" not in finish_selection({"variants": {"a": res}}, tmp_path / "test.json", "test")
    assert finish_selection({"variants": {"a": res}}, tmp_path / "h2.json", "holdout2")["selection"]["chosen"] == "a"
    assert '"mnist": 2.0' in capsys.readouterr().out
