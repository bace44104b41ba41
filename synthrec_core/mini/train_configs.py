"""The frozen configs of the MiniCLIP and MiniGen training recipes, and their presets.

:class:`MiniCLIPConfig` and :class:`MiniGenConfig` (both on :class:`TrainConfig`) describe one
training run; they validate themselves and hash into the run folder's cache key. A run that
starts from another checkpoint (``init_from``) is keyed by that checkpoint's *content*, not by
its path, so the key does not depend on where the cache is and a changed checkpoint never
serves a stale run. The named presets (``MINICLIP_PRESETS``, ``MINIGEN_PRESETS``) are data, in
``synthrec_core/profiles/mini/training.yaml``; they are loaded here, read-only.

This module trains nothing (see :mod:`.train_clip`, :mod:`.train_gen`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Mapping

from ..config import Config, check, check_choice
from ..utils import stable_hash
from .presets import load_presets
from .train_checkpoints import checkpoint_identity
from .train_captions import LOWRES_SIZE

__all__ = [
    "TrainConfig",
    "MiniCLIPConfig",
    "MiniGenConfig",
    "MINICLIP_PRESETS",
    "MINIGEN_PRESETS",
    "miniclip_preset",
    "minigen_preset",
]


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Fields shared by the MiniCLIP and MiniGen recipes (run plumbing, optimiser, seed)."""

    corpus: str = "tiny"  # corpus preset name (see mini.corpus.CORPUS_PRESETS) or a corpus.npz path
    steps: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 5
    seed: int = 0
    threads: int = 1  # torch threads; does not change the result (up to float rounding)
    checkpoint_minutes: float = 5.0
    max_minutes: float = 0.0  # stop (checkpointed, resumable) after this wall time; 0 = no limit
    init_from: str = ""  # a checkpoint to start from (fine-tuning); keyed by its content
    out_dir: str = ""  # run folder; default cache_dir()/mini/runs/<model>-<key>
    progress: bool = True

    _not_in_key: ClassVar[tuple[str, ...]] = ("threads", "checkpoint_minutes", "max_minutes", "out_dir", "progress")

    def validate(self) -> None:
        for name in ("steps", "batch_size", "threads"):
            check(getattr(self, name) >= 1, f"{name}={getattr(self, name)} must be >= 1")
        check(self.lr > 0, f"lr={self.lr} must be > 0")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay} must be >= 0")
        check(0 <= self.warmup_steps < self.steps or self.steps == 1,
              f"warmup_steps={self.warmup_steps} must be in [0, steps={self.steps})")
        check(self.checkpoint_minutes > 0, f"checkpoint_minutes={self.checkpoint_minutes} must be > 0")
        check(self.max_minutes >= 0, f"max_minutes={self.max_minutes} must be >= 0")

    def last_step(self) -> int:
        """The step count at which the run is done."""
        return self.steps

    def cache_key(self, length: int = 16) -> str:
        """As :meth:`Config.cache_key`, with ``init_from`` replaced by the checkpoint's content
        identity (:func:`checkpoint_identity`; a missing checkpoint is a ConfigError)."""
        if not self.init_from:
            return super().cache_key(length)
        payload = {k: v for k, v in self.to_dict().items() if k not in self._not_in_key}
        payload["init_from"] = checkpoint_identity(self.init_from)
        payload["__class__"] = type(self).__name__
        return stable_hash(payload, length=length)


#: the old private name of :class:`TrainConfig`
_TrainBase = TrainConfig


@dataclasses.dataclass(frozen=True)
class MiniCLIPConfig(TrainConfig):
    """MiniCLIP recipe: image tower trained contrastively against the frozen MiniLM (LiT reversed)."""

    arch: str = "MiniCLIP-CNN-tiny"  # an open_clip name registered by mini.miniclip
    steps: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    targets: str = "concept"  # "concept": all same-concept pairs in a batch are positives; "caption"; "index"
    augment: float = 1.0  # strength of affine/elastic/erase augmentation (0 = off)
    train_text_proj: bool = True  # the text projection trains; MiniLM itself never does
    init_logit_scale: float = 10.0
    alt_text_noise: float = 0.0  # share of images whose caption is replaced, once, by a web-like alt text that does not name the concept

    def validate(self) -> None:
        super().validate()
        from .miniclip import MINICLIP_ARCHS

        check_choice("arch", self.arch, MINICLIP_ARCHS)
        check_choice("targets", self.targets, ("concept", "caption", "index"))
        check(0 <= self.augment <= 2, f"augment={self.augment} must be in [0, 2]")
        check(self.init_logit_scale > 0, f"init_logit_scale={self.init_logit_scale} must be > 0")
        check(0 <= self.alt_text_noise < 1, f"alt_text_noise={self.alt_text_noise} must be in [0, 1)")
        check(self.alt_text_noise == 0 or self.targets != "concept",
              "alt_text_noise needs targets='caption' or 'index' (concept targets would use the clean labels)")


@dataclasses.dataclass(frozen=True)
class MiniGenConfig(TrainConfig):
    """MiniGen recipe: v-prediction diffusion with min-SNR weighting, caption dropout, EMA."""

    arch: str = "tiny"  # see mini.minigen.MINIGEN_ARCHS
    steps: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    caption_dropout: float = 0.15  # share of captions replaced by "" (enables classifier-free guidance)
    min_snr_gamma: float = 5.0  # 0 = plain MSE on v
    ema_decay: float = 0.999
    max_length: int = 24  # MiniLM tokens attended to
    final_lr_ratio: float = 0.1  # cosine decay ends at lr * this
    stroke_words: bool = False  # name each typography image's measured stroke weight in its caption (STROKE_WORDS)
    lowres_share: float = 0.0  # add low-resolution copies of this share of typography images, captioned LOWRES_PHRASE
    lowres_size: int = LOWRES_SIZE  # the side those copies are box-downsampled to (then bilinear back)
    # done at this step although the learning-rate schedule runs towards `steps` (0 = at `steps`);
    # how the shipped chain records the two stages that a time budget stopped
    stop_step: int = 0

    def validate(self) -> None:
        super().validate()
        from .minigen import MINIGEN_ARCHS

        check_choice("arch", self.arch, MINIGEN_ARCHS)
        check(0 <= self.caption_dropout < 1, f"caption_dropout={self.caption_dropout} must be in [0, 1)")
        check(self.min_snr_gamma >= 0, f"min_snr_gamma={self.min_snr_gamma} must be >= 0")
        check(0 <= self.ema_decay < 1, f"ema_decay={self.ema_decay} must be in [0, 1)")
        check(4 <= self.max_length <= 64, f"max_length={self.max_length} must be in [4, 64]")
        check(0 <= self.final_lr_ratio <= 1, f"final_lr_ratio={self.final_lr_ratio} must be in [0, 1]")
        check(0 <= self.lowres_share <= 1, f"lowres_share={self.lowres_share} must be in [0, 1]")
        check(isinstance(self.lowres_size, int) and 2 <= self.lowres_size <= 32,
              f"lowres_size={self.lowres_size!r} must be an int in [2, 32]")
        check(isinstance(self.stop_step, int) and 0 <= self.stop_step <= self.steps,
              f"stop_step={self.stop_step!r} must be an int in [0, steps={self.steps}]")

    def last_step(self) -> int:
        return self.stop_step or self.steps


#: the named MiniCLIP recipes (``training.yaml`` section ``miniclip``; read-only)
MINICLIP_PRESETS: Mapping[str, MiniCLIPConfig] = load_presets("miniclip", MiniCLIPConfig)
#: the named MiniGen recipes (``training.yaml`` section ``minigen``; read-only)
MINIGEN_PRESETS: Mapping[str, MiniGenConfig] = load_presets("minigen", MiniGenConfig)


def miniclip_preset(name: str) -> MiniCLIPConfig:
    """The MiniCLIP preset called ``name`` (``tiny`` or ``mini``)."""
    check_choice("MiniCLIP preset", name, MINICLIP_PRESETS)
    return MINICLIP_PRESETS[name]


def minigen_preset(name: str) -> MiniGenConfig:
    """The MiniGen preset called ``name`` (``tiny`` or ``mini``)."""
    check_choice("MiniGen preset", name, MINIGEN_PRESETS)
    return MINIGEN_PRESETS[name]
