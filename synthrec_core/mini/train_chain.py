"""MiniGen stage chains: several training stages run in order, each continuing the one before.

A chain is data (``minigen_chains`` in ``synthrec_core/profiles/mini/training.yaml``): a base
preset and a list of stages, each with its corpus preset, the stage it continues from and the
config fields it changes from the stage before. :func:`minigen_chain` resolves a chain into full
:class:`~.train_configs.MiniGenConfig` per stage (validated before anything trains);
:func:`train_minigen_chain` runs the stages in order. A stage that continues another starts
from that stage's *hand-over* checkpoint: a portable fp16 copy of its final state
(:func:`~.train_gen.slim_checkpoint`, in ``<run>/handover/``), the form in which the shipped stages
were handed on. Every run lives in the cache, keyed by its config and by the content of the
checkpoint it starts from, so a finished stage is never trained twice and a changed stage
invalidates every stage after it.

The ``shipped`` chain is the recipe of the shipped MiniGen; a rebuild gives a model of the same
recipe, not the same weights (see the YAML's comments and the model card).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

from ..config import ConfigError, check, check_choice
from .presets import coerce_fields, training_data
from .train_checkpoints import is_portable_checkpoint
from .train_configs import MiniGenConfig, minigen_preset

__all__ = ["ChainStage", "chain_names", "minigen_chain", "stage_config", "handover_dir", "train_minigen_chain"]

_STAGE_KEYS = ("name", "corpus", "continues", "config", "recorded")
#: config fields a stage may not set: the corpus is the stage's own entry, the rest are run settings
_NOT_STAGE_FIELDS = ("corpus", "init_from", "out_dir", "threads", "progress", "max_minutes")


@dataclasses.dataclass(frozen=True)
class ChainStage:
    """One resolved stage of a chain."""

    name: str
    corpus: str  # a corpus preset name
    continues: str | None  # the stage whose hand-over checkpoint this one starts from (None: a fresh UNet)
    config: MiniGenConfig  # the full recipe (``init_from`` is filled in when the chain runs)
    changes: dict[str, Any]  # the fields this stage changes from the stage before, as the data gives them
    recorded: dict[str, Any]  # what the shipped run of this stage recorded (loss log, threads, note)


def chain_names() -> list[str]:
    """The chains defined in ``training.yaml``."""
    return sorted(training_data("minigen_chains"))


def minigen_chain(name: str, path: str | Path | None = None) -> tuple[ChainStage, ...]:
    """The stages of chain ``name`` (from ``training.yaml``, or the YAML file ``path``), resolved
    and validated: a ConfigError names a bad entry before anything trains."""
    from .corpus import CORPUS_PRESETS

    chains = training_data("minigen_chains", path)
    check_choice("MiniGen chain", name, chains)
    spec = chains[name]
    check(isinstance(spec, dict) and isinstance(spec.get("stages"), list) and spec["stages"],
          f"chain {name!r} needs a non-empty list 'stages'")
    cfg = minigen_preset(spec.get("preset", "mini"))
    stages: list[ChainStage] = []
    for i, st in enumerate(spec["stages"]):
        where = f"chain {name!r} stage {i}"
        check(isinstance(st, dict) and "name" in st, f"{where} needs a 'name'")
        where = f"chain {name!r} stage {st['name']!r}"
        unknown = sorted(set(st) - set(_STAGE_KEYS))
        check(not unknown, f"{where} has unknown entries {unknown}; known: {list(_STAGE_KEYS)}")
        check(st["name"] not in [s.name for s in stages], f"{where}: the name is used twice")
        check_choice(f"{where} corpus", st.get("corpus"), CORPUS_PRESETS)
        cont = st.get("continues")
        check(cont is None or cont in [s.name for s in stages],
              f"{where} continues {cont!r}, which is not an earlier stage of the chain")
        changes = coerce_fields(MiniGenConfig, st.get("config") or {}, where)
        bad = sorted(set(changes) & set(_NOT_STAGE_FIELDS))
        check(not bad, f"{where} sets {bad} in its config; the corpus is the stage's own entry and "
                       "run settings are arguments of train_minigen_chain")
        try:
            cfg = cfg.replace(**changes, corpus=st["corpus"])
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        stages.append(ChainStage(st["name"], st["corpus"], cont, cfg, changes, dict(st.get("recorded") or {})))
    return tuple(stages)


def handover_dir(run: str | Path) -> Path:
    """Where a finished stage's hand-over checkpoint lives: ``<run>/handover/``."""
    return Path(run) / "handover"


def train_minigen_chain(chain: str = "shipped", *, up_to: str | None = None, threads: int = 1,
                        progress: bool = True, max_minutes: float = 0.0) -> dict[str, Path]:
    """Run the stages of ``chain`` in order (through stage ``up_to``, if given); returns
    ``{stage name: run folder}``.

    Each stage trains with :func:`~.train_gen.train_minigen` (resuming its own checkpoint if it
    was interrupted; returning at once if it is done). A stage that continues another starts
    from that stage's hand-over checkpoint, written when the stage finishes. ``threads`` and
    ``progress`` do not change any result; ``max_minutes`` (0 = none) is each stage's time budget:
    a stage that runs out of it is checkpointed, the chain stops there with a warning (the
    returned dict ends with that unfinished stage) and a later call carries on.
    """
    from .train_gen import slim_checkpoint, train_minigen

    stages = minigen_chain(chain)
    names = [s.name for s in stages]
    if up_to is not None:
        check_choice("up_to", up_to, names)
        stages = stages[: names.index(up_to) + 1]
    folders: dict[str, Path] = {}
    for st in stages:
        init = str(handover_dir(folders[st.continues])) if st.continues else ""
        cfg = st.config.replace(init_from=init, threads=threads, progress=progress, max_minutes=max_minutes)
        run = train_minigen(cfg)
        folders[st.name] = run
        if not (run / "done.json").exists():
            warnings.warn(f"chain {chain!r}: stage {st.name!r} stopped at its time budget before its last step; "
                          "call train_minigen_chain again to carry on", stacklevel=2)
            break
        if not is_portable_checkpoint(handover_dir(run)):
            slim_checkpoint(run, handover_dir(run), chain=chain, stage=st.name, continues=st.continues)
    return folders


def stage_config(chain: str, stage: str) -> MiniGenConfig:
    """The resolved config of one stage (``init_from`` empty); a ConfigError names a missing stage."""
    stages = {s.name: s for s in minigen_chain(chain)}
    if stage not in stages:
        raise ConfigError(f"chain {chain!r} has no stage {stage!r}; it has {list(stages)}")
    return stages[stage].config
