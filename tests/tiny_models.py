"""Builders of tiny, randomly initialised models for tests and benchmarks (no network).

- :func:`tiny_sd_dir` saves a tiny :class:`~diffusers.StableDiffusionPipeline` (tiny
  ``UNet2DConditionModel``, ``AutoencoderKL``, ``CLIPTextModel`` and a byte-level
  ``CLIPTokenizer`` whose vocabulary is written here) with ``save_pretrained``;
- :func:`tiny_sd` / :func:`tiny_sd_img2img` load it back with ``from_pretrained``: the same
  classes and code path a paper-profile user gets from the hub;
- :func:`tiny_rn` is a small open_clip ModifiedResNet CLIP (RN50's classes) with random weights.

The pipelines are random, so their images are noise; they exercise the engine, not quality.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

SEED = 0


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_tokenizer(path: str | os.PathLike) -> Path:
    """Write a byte-level CLIP tokenizer (514 tokens, no merges) that CLIPTokenizer loads."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    tok.save_pretrained(str(path))
    return path


def _components() -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    torch.manual_seed(SEED)
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
    )
    torch.manual_seed(SEED)
    text_config = CLIPTextConfig(
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        vocab_size=514,
        max_position_embeddings=77,
        projection_dim=16,
    )
    text_encoder = CLIPTextModel(text_config)
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    return dict(unet=unet, vae=vae, text_encoder=text_encoder, scheduler=scheduler)


@lru_cache(maxsize=None)
def tiny_sd_dir(root: str | None = None) -> Path:
    """Save the tiny SD pipeline once per process (default: a fresh temp dir) and return it."""
    import tempfile

    from diffusers import StableDiffusionPipeline

    out = Path(root) if root else Path(tempfile.mkdtemp(prefix="tiny_sd_"))
    if (out / "model_index.json").exists():
        return out
    tok_dir = write_tiny_tokenizer(out / "_tok")
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    pipe = StableDiffusionPipeline(
        **_components(), tokenizer=tokenizer, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.save_pretrained(str(out))
    return out


def tiny_sd(root: str | None = None):
    """The tiny text-to-image pipeline, loaded with ``from_pretrained`` (float32, CPU)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny_sd_dir(root)), safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sd_img2img(root: str | None = None):
    """The img2img sibling over the same saved components."""
    from diffusers import StableDiffusionImg2ImgPipeline

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
        str(tiny_sd_dir(root)), safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_rn():
    """A small RN-style open_clip CLIP with random weights (``tiny_clip``'s ModifiedResNet config):
    ``(model, preprocess, tokenizer)``; the same classes as RN50 at a fraction of its size."""
    import open_clip
    from tiny_clip import register

    register()
    torch.manual_seed(SEED)
    model, _, preprocess = open_clip.create_model_and_transforms("synthrec-tiny-RN", pretrained=None)
    return model.eval(), preprocess, open_clip.get_tokenizer("synthrec-tiny-RN")
