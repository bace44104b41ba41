"""The mini world's foundation models for a chapter: retrain tiny ones (CI) or load the shipped ones.

:func:`foundation_models` either trains (or resumes, cached by config) MiniCLIP and MiniGen
from corpus presets, or loads the weights shipped in ``synthrec_core/mini/weights``;
:func:`training_curves` reads their loss logs and :func:`concept_counts` tabulates the corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..config import check_choice

__all__ = ["foundation_models", "training_curves", "concept_counts"]

WEIGHTS = Path(__file__).resolve().parent / "weights"


def _shipped_arch() -> str:
    f = WEIGHTS / "miniclip" / "arch.txt"
    return f.read_text().strip() if f.exists() else "MiniCLIP-CNN"


def foundation_models(source: str, corpus: str = "tiny", miniclip_preset: str = "tiny",
                      minigen_preset: str = "tiny") -> dict[str, Any]:
    """``{"clip": (model, preprocess, tokenizer), "gen": pipeline, "runs": {name: folder}, "gen_id", "clip_id"}``.

    ``source="train"`` trains (or resumes, cached by config) the named presets on ``corpus``;
    ``source="shipped"`` loads the shipped weights (``gen_id`` is then ``"minigen"``, the
    registered name whose folder the engine hashes into set keys).
    """
    check_choice("models", source, ("train", "shipped"))
    if source == "shipped":
        from ..models import load_clip, load_generator

        runs = {p.parent.name: p.parent for p in sorted(WEIGHTS.glob("*/loss*.csv"))}
        return {"clip": load_clip(_shipped_arch(), "mini"), "gen": load_generator("minigen"), "runs": runs,
                "gen_id": "minigen", "clip_id": f"{_shipped_arch()}/mini"}
    from .train import MINICLIP_PRESETS, MINIGEN_PRESETS, load_miniclip_run, minigen_from_checkpoint, train_miniclip, train_minigen

    check_choice("miniclip_preset", miniclip_preset, MINICLIP_PRESETS)
    check_choice("minigen_preset", minigen_preset, MINIGEN_PRESETS)
    clip_run = train_miniclip(MINICLIP_PRESETS[miniclip_preset].replace(corpus=corpus))
    gen_run = train_minigen(MINIGEN_PRESETS[minigen_preset].replace(corpus=corpus))
    return {"clip": load_miniclip_run(clip_run), "gen": minigen_from_checkpoint(gen_run),
            "runs": {"miniclip": Path(clip_run), "minigen": Path(gen_run)},
            "gen_id": f"minigen-run/{Path(gen_run).name}", "clip_id": f"miniclip-run/{Path(clip_run).name}"}


def training_curves(runs: dict[str, Path]) -> pd.DataFrame:
    """Loss per step of each run folder (``loss.csv`` or ``loss*.csv``), long format."""
    frames = []
    for name, folder in runs.items():
        for f in sorted(Path(folder).glob("loss*.csv")):
            df = pd.read_csv(f)
            df.insert(0, "model", name if f.stem == "loss" else f"{name} ({f.stem})")
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "step", "loss"])


def concept_counts(corpus: Any, concepts: Sequence[str]) -> pd.DataFrame:
    """Corpus images per (concept, style) for the given concepts (0 where none)."""
    df = pd.DataFrame({"concept": corpus.concept, "style": corpus.style})
    df = df[df.concept.isin(list(concepts))]
    table = df.value_counts().unstack(fill_value=0).reindex(list(concepts), fill_value=0)
    table["total"] = table.sum(axis=1)
    return table
