"""Training recipes for MiniCLIP and MiniGen on the foundation corpus: the one import for users.

A thin facade: every name here is re-exported from the module that owns it, so
``from synthrec_core.mini.train import train_minigen`` keeps working while each part stays
short enough to read at once. Where things live:

- :mod:`.train_configs`: ``MiniCLIPConfig``, ``MiniGenConfig`` (frozen, validated, keyed by
  content) and the presets ``MINICLIP_PRESETS`` / ``MINIGEN_PRESETS``, ``miniclip_preset``,
  ``minigen_preset``; the preset values are data in ``synthrec_core/profiles/mini/training.yaml``,
  read by :mod:`.presets`;
- :mod:`.train_runs`: run plumbing: ``run_dir``, ``read_loss``, the loss log, resume, the
  learning-rate schedule ``lr_at``, the step loop, training data (``caption_embeddings``);
- :mod:`.train_checkpoints`: the checkpoint formats (``checkpoint.pt`` read with
  ``weights_only=True``; portable safetensors + JSON folders) and ``checkpoint_identity``;
- :mod:`.train_captions`: caption engineering: ``ALT_TEXTS``, ``alt_text_captions``,
  ``STROKE_WORDS``, ``stroke_word_captions``, ``LOWRES_PHRASE``, ``LOWRES_SIZE``, ``lowres``,
  ``lowres_copies``;
- :mod:`.train_clip`: MiniCLIP: ``augment_batch``, ``train_miniclip``, ``load_miniclip_run``,
  ``export_miniclip``;
- :mod:`.train_gen`: MiniGen: ``train_minigen``, ``minigen_from_checkpoint``, ``export_minigen``,
  ``slim_checkpoint``;
- :mod:`.train_chain`: stage chains: ``minigen_chain``, ``train_minigen_chain``;
- :mod:`.train_cards`: model cards generated from data: ``write_model_card``.

Each ``train_*`` call writes a resumable run folder (``cfg.out_dir`` or
``cache_dir()/mini/runs/<model>-<cfg.cache_key()>``) with ``config.json``, ``checkpoint.pt``,
``loss.csv`` and, when finished, ``done.json``. The tiny presets train in well under a minute.
"""

from __future__ import annotations

from .train_captions import (
    ALT_TEXTS,
    LOWRES_PHRASE,
    LOWRES_SIZE,
    STROKE_WORDS,
    TYPOGRAPHY_GROUPS,
    alt_text_captions,
    lowres,
    lowres_copies,
    stroke_word_captions,
)
from .train_cards import CardStage, write_model_card
from .train_chain import ChainStage, minigen_chain, train_minigen_chain
from .train_checkpoints import checkpoint_identity, load_checkpoint, save_portable_checkpoint
from .train_clip import augment_batch, export_miniclip, load_miniclip_run, train_miniclip
from .train_configs import (
    MINICLIP_PRESETS,
    MINIGEN_PRESETS,
    MiniCLIPConfig,
    MiniGenConfig,
    TrainConfig,
    _TrainBase,
    miniclip_preset,
    minigen_preset,
)
from .train_gen import (
    SHIPPED_MINIGEN_CHECKPOINT,
    _fold_text_norm,
    _text_norm,
    export_minigen,
    fold_text_norm,
    minigen_from_checkpoint,
    slim_checkpoint,
    text_norm,
    train_minigen,
)
from .train_runs import caption_embeddings, lr_at, read_loss, run_dir

__all__ = [
    "MiniCLIPConfig",
    "MiniGenConfig",
    "TrainConfig",
    "MINICLIP_PRESETS",
    "MINIGEN_PRESETS",
    "miniclip_preset",
    "minigen_preset",
    "train_miniclip",
    "train_minigen",
    "train_minigen_chain",
    "minigen_chain",
    "ChainStage",
    "export_miniclip",
    "export_minigen",
    "run_dir",
    "read_loss",
    "lr_at",
    "augment_batch",
    "caption_embeddings",
    "ALT_TEXTS",
    "alt_text_captions",
    "stroke_word_captions",
    "STROKE_WORDS",
    "TYPOGRAPHY_GROUPS",
    "LOWRES_PHRASE",
    "LOWRES_SIZE",
    "lowres",
    "lowres_copies",
    "load_miniclip_run",
    "minigen_from_checkpoint",
    "text_norm",
    "fold_text_norm",
    "write_model_card",
    "CardStage",
    "slim_checkpoint",
    "SHIPPED_MINIGEN_CHECKPOINT",
    "load_checkpoint",
    "save_portable_checkpoint",
    "checkpoint_identity",
]
