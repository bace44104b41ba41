"""synthrec_core.models: loading CLIPs through open_clip and generators through diffusers.

Tiny MiniCLIP / MiniGen are trained for a few steps on a shapes corpus, exported in the
shipped format and loaded back through the public loaders; the shipped weights are loaded
too when present.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from synthrec_core import models
from test_mini_models import write_shapes_corpus


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exported tiny MiniGen folder and MiniCLIP weights file (module-scoped, in a temp cache)."""
    import os

    base = tmp_path_factory.mktemp("models")
    old = os.environ.get("SYNTHREC_CACHE")
    os.environ["SYNTHREC_CACHE"] = str(base / "cache")
    try:
        from synthrec_core.mini.train import (MiniCLIPConfig, MiniGenConfig, export_miniclip, export_minigen,
                                              train_miniclip, train_minigen)

        corpus = write_shapes_corpus(base / "corpus.npz", n_per=10)
        gen = train_minigen(MiniGenConfig(corpus=corpus, steps=3, warmup_steps=1, progress=False,
                                          out_dir=str(base / "gen")))
        clip = train_miniclip(MiniCLIPConfig(corpus=corpus, steps=3, warmup_steps=1, progress=False,
                                             out_dir=str(base / "clip")))
        yield {"minigen": export_minigen(gen, base / "minigen"),
               "miniclip": export_miniclip(clip, base / "miniclip")}
    finally:
        if old is None:
            os.environ.pop("SYNTHREC_CACHE", None)
        else:
            os.environ["SYNTHREC_CACHE"] = old


@pytest.fixture(scope="module")
def pipe(exported):
    return models.load_generator(str(exported["minigen"]))


def _seeds(*s):
    return [torch.Generator().manual_seed(i) for i in s]


def test_minigen_loads_through_diffusers(exported):
    from synthrec_core.mini.miniclip import load_minilm
    from synthrec_core.mini.minigen import MiniGenPipeline

    tok, bert = load_minilm()
    p = MiniGenPipeline.from_pretrained(str(exported["minigen"]), text_encoder=bert, tokenizer=tok)
    assert type(p.scheduler).__name__ == "DDIMScheduler" and p.unet.config.in_channels == 4
    assert not (exported["minigen"] / "text_encoder").exists()  # MiniLM is not shipped


def test_minigen_output_types_and_range(pipe):
    kw = dict(num_inference_steps=3, generator=_seeds(0, 1))
    pil = pipe(["a bar", "a ring"], **kw).images
    assert len(pil) == 2 and pil[0].size == (32, 32) and pil[0].mode == "L"
    arr = pipe(["a bar", "a ring"], output_type="np", **dict(kw, generator=_seeds(0, 1))).images
    assert arr.shape == (2, 32, 32, 1) and arr.min() >= 0 and arr.max() <= 1
    pt = pipe(["a bar", "a ring"], output_type="pt", return_dict=False, **dict(kw, generator=_seeds(0, 1)))[0]
    assert pt.shape == (2, 1, 32, 32)
    assert np.allclose(pt.permute(0, 2, 3, 1).numpy(), arr, atol=1e-5)
    assert np.array_equal(np.asarray(pil[1]), (arr[1, ..., 0] * 255).round().astype(np.uint8))


def test_minigen_seed_determinism_and_batch_independence(pipe):
    kw = dict(num_inference_steps=3, output_type="np", guidance_scale=2.0)
    a = pipe(["a bar", "a ring", "a cross"], generator=_seeds(5, 6, 7), **kw).images
    b = pipe(["a ring"], generator=_seeds(6), **kw).images
    c = pipe(["a bar", "a ring", "a cross"], generator=_seeds(5, 6, 8), **kw).images
    assert np.allclose(a[1], b[0], atol=1e-4)  # an image depends on its own seed, not the batch
    assert np.allclose(a[:2], c[:2], atol=1e-4) and not np.allclose(a[2], c[2], atol=1e-3)
    d = pipe("a bar", num_images_per_prompt=2, generator=_seeds(5, 9), **kw).images
    assert np.allclose(d[0], a[0], atol=1e-4)


def test_minigen_img2img_strength(pipe):
    rng = np.random.default_rng(0)
    img = (rng.random((2, 32, 32)) > 0.7).astype(np.uint8) * 255
    same = pipe(["a bar", "a ring"], image=img, strength=0.0, num_inference_steps=10, output_type="np",
                generator=_seeds(0, 1)).images[..., 0]
    assert np.abs(same - img / 255.0).max() < 1e-5
    low = pipe(["a bar", "a ring"], image=img, strength=0.1, num_inference_steps=10, output_type="np",
               generator=_seeds(0, 1)).images[..., 0]
    high = pipe(["a bar", "a ring"], image=img, strength=1.0, num_inference_steps=10, output_type="np",
                generator=_seeds(0, 1)).images[..., 0]
    assert np.abs(low - img / 255.0).mean() < np.abs(high - img / 255.0).mean()
    padded = pipe("a bar", image=np.zeros((28, 28), np.uint8), strength=0.0, output_type="np",
                  generator=_seeds(0)).images
    assert padded.shape == (1, 32, 32, 1)


def test_minigen_rejects_bad_arguments(pipe):
    with pytest.raises(ValueError, match="generators"):
        pipe(["a", "b"], generator=_seeds(0), num_inference_steps=2)
    with pytest.raises(ValueError, match="strength"):
        pipe("a", image=np.zeros((32, 32), np.uint8), strength=1.5)
    with pytest.raises(ValueError, match="output_type"):
        pipe("a", output_type="jpg")


def test_scheduler_swap(exported):
    p = models.load_generator(str(exported["minigen"]), scheduler="dpm")
    assert type(p.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert p.scheduler.config.prediction_type == "v_prediction"
    out = p("a bar", num_inference_steps=3, output_type="np", generator=_seeds(0)).images
    assert np.isfinite(out).all()
    with pytest.raises(ValueError, match="unknown scheduler"):
        models.load_generator(str(exported["minigen"]), scheduler="magic")


def test_miniclip_loads_through_open_clip(exported):
    import open_clip
    from PIL import Image

    from synthrec_core.mini.miniclip import assemble_checkpoint, miniclip_image_tensor

    model, preprocess, tokenizer = models.load_clip("MiniCLIP-CNN-tiny", str(exported["miniclip"]))
    full = assemble_checkpoint(exported["miniclip"])
    m2, _, _ = open_clip.create_model_and_transforms("MiniCLIP-CNN-tiny", pretrained=str(full))
    m2.eval()
    img = np.zeros((32, 32), np.uint8)
    img[8:24, 14:18] = 255
    x = preprocess(Image.fromarray(img))[None]
    assert torch.allclose(x, miniclip_image_tensor(img[None]), atol=1e-5)
    t = tokenizer(["a bar", "a ring"])
    with torch.no_grad():
        assert torch.allclose(model.encode_image(x), m2.encode_image(x), atol=1e-5)
        assert torch.allclose(model.encode_text(t), m2.encode_text(t), atol=1e-5)
    assert exported["miniclip"].stat().st_size < 200_000  # trained parts only, not MiniLM


def test_open_clip_models_load_by_name_offline_and_misspelt_names_are_unknown():
    from tiny_clip import register

    register()
    model, preprocess, tokenizer = models.load_clip("synthrec-tiny-RN", None)
    with torch.no_grad():
        f = model.encode_image(preprocess(__import__("PIL.Image").Image.new("RGB", (40, 40))).unsqueeze(0))
    assert f.shape == (1, 32) and tokenizer(["a photo"]).shape == (1, 16)
    with pytest.raises(models.ConfigError, match="Did you mean 'RN50'"):
        models.load_clip("RN5O", "openai")
    with pytest.raises(models.ConfigError, match="pretrained tag"):
        models.load_clip("RN50", "opneai")


def test_missing_models_fail_fast_with_instructions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.time()
    with pytest.raises(models.ModelUnavailable, match="RN50.*openai"):
        models.load_clip("RN50", "openai")
    with pytest.raises(models.ModelUnavailable, match="hf download CompVis/stable-diffusion-v1-4"):
        models.load_generator("CompVis/stable-diffusion-v1-4", img2img=True)
    assert time.time() - t0 < 30
    with pytest.raises(models.ModelUnavailable):
        models.load_clip("MiniCLIP-CNN", "/nonexistent/weights.safetensors")


from synthrec_core.mini.minigen import SHIPPED_MINIGEN  # noqa: E402

SHIPPED = SHIPPED_MINIGEN.parent


@pytest.mark.skipif(not (SHIPPED / "minigen" / "model_index.json").exists(), reason="MiniGen weights not shipped yet")
def test_shipped_minigen_loads_and_generates():
    p = models.load_generator("minigen")
    out = p(["a handwritten digit 7"], num_inference_steps=4, output_type="np", generator=_seeds(0)).images
    assert out.shape == (1, 32, 32, 1) and np.isfinite(out).all()


@pytest.mark.skipif(not (SHIPPED / "miniclip" / "miniclip.safetensors").exists(), reason="MiniCLIP not shipped yet")
def test_shipped_miniclip_loads():
    model, preprocess, tokenizer = models.load_clip("MiniCLIP-CNN", "mini")
    with torch.no_grad():
        f = model.encode_text(tokenizer(["a handwritten digit 7"]))
    assert f.shape[-1] == 128


def test_shipped_weights_are_small():
    total = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) if SHIPPED.exists() else 0
    assert total < 30e6


def test_minigen_progress_argument_overrides_config_for_one_call(pipe):
    pipe.set_progress_bar_config(disable=True)
    pipe("a bar", num_inference_steps=2, generator=_seeds(0), output_type="np", progress=True)
    assert pipe._progress_bar_config == {"disable": True}
    pipe.set_progress_bar_config(disable=False, leave=False)
    pipe("a bar", num_inference_steps=2, generator=_seeds(0), output_type="np", progress=False)
    assert pipe._progress_bar_config == {"disable": False, "leave": False}
    pipe.set_progress_bar_config(disable=True)


def test_shipped_minigen_scheduler_does_not_clip():
    from synthrec_core.models import load_generator

    assert load_generator("minigen").scheduler.config.clip_sample is False


