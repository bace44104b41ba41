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
