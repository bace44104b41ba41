"""Results and presentation: save the numbers behind tables and figures, style the figures.

Convention: every notebook writes ``results/<profile>/<notebook-stem>.json`` (numbers behind
its tables and figures, plus a ``_meta`` block saying which profile and parameters made them)
and ``results/<profile>/<notebook-stem>__<table>.csv`` for each table. Figures are drawn from
these saved results, and every figure and table carries the profile that produced it.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any, Mapping

from .paths import results_dir
from .utils import atomic_write_json, atomic_write_text

__all__ = [
    "PROFILE_NOTES",
    "Results",
    "load_results",
    "read_table",
    "setup_figures",
    "profile_banner",
    "stamp",
]

#: one sentence per profile, shown in banners so a reader always knows what produced a number
PROFILE_NOTES = {
    "ci": "CI defaults: tiny sizes to test the code path; numbers are not results.",
    "mini": "mini profile: offline, on the small MiniCLIP/MiniGen models this project trains from packaged assets.",
    "paper": "paper profile: real hub models (diffusers text-to-image, open_clip CLIP) and the paper's datasets.",
}


class Results:
    """Collects a notebook's numbers and tables and writes them atomically under ``results/``."""

    def __init__(self, profile: str, stem: str, parameters: Mapping[str, Any] | None = None):
        self.profile = profile
        self.stem = stem
        self.dir = results_dir(profile)
        self.path = self.dir / f"{stem}.json"
        self.data: dict[str, Any] = {}
        self.meta = {
            "profile": profile,
            "notebook": stem,
            "parameters": dict(parameters or {}),
            "python": platform.python_version(),
        }

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def update(self, values: Mapping[str, Any]) -> None:
        self.data.update(values)
        self.save()

    def table(self, name: str, df) -> Path:
        """Save a pandas DataFrame as ``<stem>__<name>.csv`` and record it in the JSON."""
        path = self.dir / f"{self.stem}__{name}.csv"
        atomic_write_text(path, df.to_csv(index=True))
        self.data.setdefault("_tables", {})[name] = path.name
        self.save()
        return path

    def save(self) -> Path:
        meta = dict(self.meta, written=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        return atomic_write_json(self.path, {**self.data, "_meta": meta})


def load_results(profile: str, stem: str) -> dict[str, Any]:
    """Read ``results/<profile>/<stem>.json``; a clear error if that notebook has not run."""
    path = results_dir(profile) / f"{stem}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `synthrec run {stem} --profile {profile}` first")
    return json.loads(path.read_text())


def read_table(profile: str, stem: str, name: str):
    """Read a table that :meth:`Results.table` saved, as a pandas DataFrame."""
    import pandas as pd

    path = results_dir(profile) / f"{stem}__{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `synthrec run {stem} --profile {profile}` first")
    df = pd.read_csv(path, index_col=0)
    return df


def setup_figures() -> None:
    """One figure style for the whole book (seaborn, readable on screen)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.autolayout": True, "axes.titleweight": "bold"})


def stamp(fig, profile: str) -> None:
    """Write the profile into the bottom-right corner of a figure."""
    fig.text(0.995, 0.005, f"profile: {profile}", ha="right", va="bottom", fontsize=8, color="0.4")


def profile_banner(profile: str):
    """A Markdown banner naming the profile that produced every number on the page."""
    from IPython.display import Markdown

    note = PROFILE_NOTES.get(profile, profile)
    return Markdown(f"> **Profile: `{profile}`** — {note}")
