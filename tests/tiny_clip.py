"""Tiny open_clip CLIPs with random weights for tests (no network, built in well under a second).

:func:`tiny_clip` registers two small model configs with ``open_clip.add_model_config`` and
builds them with ``pretrained=None``: ``synthrec-tiny-RN`` (a ModifiedResNet image tower, like
RN50's, with attention pooling) and ``synthrec-tiny-ViT`` (a VisionTransformer image tower).
Both use open_clip's native causal text transformer with the real CLIP BPE tokenizer and a
16-token context.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path

import torch

_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}
CONFIGS = {
    "synthrec-tiny-RN": {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16, "head_width": 16},
                         "text_cfg": _TEXT},
    "synthrec-tiny-ViT": {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16,
                                                          "patch_size": 8}, "text_cfg": _TEXT},
}


@lru_cache(maxsize=1)
def register() -> Path:
    """Write the configs to a temporary folder once and register them with open_clip."""
    import open_clip

    folder = Path(tempfile.mkdtemp(prefix="tiny_clip_"))
    for name, cfg in CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    return folder


def tiny_clip(name: str = "synthrec-tiny-RN", seed: int = 0):
    """``(model, tokenizer)`` of a tiny random open_clip model, in eval mode."""
    import open_clip

    register()
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None)
    return model.eval(), open_clip.get_tokenizer(name)
