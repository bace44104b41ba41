"""The pre-training section's findings F12-F13 (``../shared/paper.md`` §5), from its saved table.

Each statistic is, per seed, a mean over downstream datasets of a difference of transfer
accuracies, with a paired bootstrap interval over test images and seeds
(:mod:`synthrec_core.stats`), in the findings contract the scorecard reads:

- **F12** synthetic pre-training (largest size) minus training from scratch (supervised; MoCo in the note);
  the gap to real pre-training of the same size is in the note (paper: 83.90 vs 78.83 vs 84.50);
- **F13** synthetic pre-training at the largest size minus the smallest (paper: 87.98 → 88.39 → 88.91).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .stats import Bootstrap, correct_by_seed, finding

__all__ = ["all_findings"]


def _cells(df: pd.DataFrame, labels: dict[str, np.ndarray]) -> dict[tuple, tuple[str, np.ndarray]]:
    return {(i, m, int(n), d): (d, correct_by_seed(g, labels[d]))
            for (i, m, n, d), g in df.groupby(["init", "method", "images_per_class", "downstream"])}


def _diff(a: tuple, b: tuple, datasets: list[str]) -> Any:
    """Statistic: mean over datasets of acc(a) - acc(b); ``a``/``b`` are (init, method, size)."""
    return lambda acc: np.mean([acc[(*a, d)] - acc[(*b, d)] for d in datasets], axis=0)


def _mean(accs: dict, a: tuple, b: tuple, datasets: list[str]) -> float:
    """Mean over seeds of :func:`_diff`, in points."""
    return float(np.mean(_diff(a, b, datasets)(accs)) * 100)


def all_findings(df: pd.DataFrame, labels: dict[str, np.ndarray], n_boot: int = 1000) -> dict[str, Any]:
    """F12 (synthetic - scratch; supervised if run, other methods in its note) and F13 (largest - smallest synthetic size)."""
    missing = set(df["downstream"]) - set(labels)
    if missing:
        raise KeyError(f"downstream datasets {sorted(missing)} have no test labels")
    bs = Bootstrap(_cells(df, labels), n_boot=n_boot)
    datasets = sorted(df["downstream"].unique().tolist())
    seeds = sorted(df["seed"].unique().tolist())
    syn = df[df["init"] == "synthetic"]
    big, small = int(syn["images_per_class"].max()), int(syn["images_per_class"].min())
    accs = bs.accuracies()
    out: dict[str, Any] = {}
    methods = sorted(syn["method"].unique(), key=lambda m: m != "supervised")  # supervised first: the headline
    main = methods[0]
    others = "; ".join(f"{m}: synthetic minus scratch {_mean(accs, ('synthetic', m, big), ('scratch', 'none', 0), datasets):+.2f}, "
                       f"minus real {_mean(accs, ('synthetic', m, big), ('real', m, big), datasets):+.2f} points" for m in methods[1:])
    out["F12"] = finding("F12", f"synthetic pre-training ({main}) beats training from scratch", "83.90 vs 78.83 (scratch), real 84.50",
                         bs.evaluate(_diff(("synthetic", main, big), ("scratch", "none", 0), datasets)), +1, seeds=seeds,
                         note=f"{big} synthetic images per class; mean over {', '.join(datasets)}; synthetic minus real pre-training "
                              f"of the same size: {_mean(accs, ('synthetic', main, big), ('real', main, big), datasets):+.2f} points "
                              f"(paper: -0.60)" + (f". Other methods: {others}" if others else ""))
    if big > small:
        out["F13"] = finding("F13", "more synthetic pre-training data improves transfer", "87.98 → 88.39 → 88.91",
                             bs.evaluate(_diff(("synthetic", main, big), ("synthetic", main, small), datasets)), +1, seeds=seeds,
                             note=f"{main}: {big} vs {small} synthetic images per class; the label-space size was not varied here")
    for f in out.values():
        f["section"] = "pre-training"
    return out
