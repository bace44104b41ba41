"""Statistics behind every reported finding: seed spread, paired bootstrap intervals, the verdict.

A measurement is a correctness matrix ``[seeds, test images]`` (bool) per cell (dataset x
method); a deterministic method (zero-shot) has one row. A finding's statistic maps the
per-seed accuracies of the cells it needs to one value per seed (a difference, a mean of
differences over datasets, a correlation ...). Then

- ``mean`` / ``std`` (ddof=1) are over seeds: the spread the paper's rule uses
  (``../shared/paper.md`` §5: reproduced when the difference has the paper's sign and exceeds
  the spread over seeds);
- the 95% interval is a **paired bootstrap over test images and seeds**: each draw resamples
  the test images of every dataset (the same images for every method, so differences stay
  paired) and the seeds (the same seeds for every cell), and recomputes the statistic;
  ``significant`` when the interval excludes 0 on the paper's side.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from .config import check

__all__ = ["mean_std", "correct_by_seed", "Bootstrap", "finding", "paired_accuracy_se", "evaluate_seeds"]


def correct_by_seed(rows: Any, labels: np.ndarray) -> np.ndarray:
    """The correctness matrix ``[seeds, test images]`` of one cell: ``rows`` (a DataFrame with
    ``seed`` and ``test_pred`` columns, one row per seed) against the test ``labels``."""
    preds = np.array([np.asarray(x) for x in rows.sort_values("seed")["test_pred"]])
    return preds == np.asarray(labels)[None]


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` with the sample std (ddof=1; 0.0 for one value)."""
    v = np.asarray(list(values), dtype=float)
    check(v.size > 0, "mean_std needs at least one value")
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size),
            "values": [float(x) for x in v]}


class Bootstrap:
    """Paired bootstrap draws over test images (per dataset) and seeds, shared by all cells.

    ``cells``: key -> (dataset name, bool correctness ``[S, N]`` or ``[1, N]``). Every cell of
    one dataset must have the same N (the same test images), and every multi-row cell the same S.
    """

    def __init__(self, cells: Mapping[Hashable, tuple[str, np.ndarray]], n_boot: int = 1000, seed: int = 0) -> None:
        check(len(cells) > 0, "Bootstrap needs at least one cell")
        self.cells = {k: (d, np.atleast_2d(np.asarray(c, dtype=bool))) for k, (d, c) in cells.items()}
        sizes: dict[str, int] = {}
        rows = {c.shape[0] for _, c in self.cells.values() if c.shape[0] > 1}
        check(len(rows) <= 1, f"cells disagree on the number of seeds: {sorted(rows)}")
        self.S = rows.pop() if rows else 1
        for k, (d, c) in self.cells.items():
            check(sizes.setdefault(d, c.shape[1]) == c.shape[1], f"cell {k!r}: {c.shape[1]} test images, others of {d!r} have {sizes[d]}")
        rng = np.random.default_rng(seed)
        self.n_boot = n_boot
        self._weights = {d: rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).T.astype(np.float32) / n for d, n in sizes.items()}
        self._seed_idx = rng.integers(0, self.S, size=(n_boot, self.S))

    def accuracies(self) -> dict[Hashable, np.ndarray]:
        """Per-seed accuracies ``[S]`` of every cell (one-row cells repeated)."""
        return {k: np.broadcast_to(c.mean(axis=1), (self.S,)).copy() for k, (_, c) in self.cells.items()}

    def draws(self) -> dict[Hashable, np.ndarray]:
        """Bootstrap accuracies ``[S, n_boot]``: column b is draw b (images resampled, seeds resampled)."""
        out = {}
        cols = np.arange(self.n_boot)
        for k, (d, c) in self.cells.items():
            acc = c.astype(np.float32) @ self._weights[d]  # [rows, B]
            acc = np.broadcast_to(acc, (self.S, self.n_boot)) if acc.shape[0] == 1 else acc
            out[k] = acc[self._seed_idx.T, cols]  # row s of draw b = seed _seed_idx[b, s]
        return out

    def evaluate(self, stat: Callable[[dict[Hashable, np.ndarray]], np.ndarray], level: float = 0.95) -> dict[str, Any]:
        """The statistic per seed (mean, std over seeds) and its bootstrap interval.

        ``stat`` takes per-cell arrays whose first axis is the seed (``[S]`` or ``[S, B]``) and
        returns the statistic per seed, elementwise in the other axes."""
        per_seed = np.asarray(stat(self.accuracies()), dtype=float).reshape(-1)
        boot = np.asarray(stat(self.draws()), dtype=float).mean(axis=0)
        lo, hi = np.nanpercentile(boot, [50 * (1 - level), 50 * (1 + level)])
        return {**mean_std(per_seed), "interval": [float(lo), float(hi)], "level": level, "n_boot": self.n_boot}


def finding(fid: str, claim: str, paper: str, measured: dict[str, Any], direction: int, *, unit: str = "points",
            scale: float = 100.0, seeds: Sequence[int] | None = None, note: str = "", null: float = 0.0) -> dict[str, Any]:
    """One row of the findings contract: the paper's evidence, our mean ± std over seeds, the
    interval, ``reproduced`` (the paper's sign relative to ``null`` and |mean - null| > std) and
    ``significant`` (the interval excludes ``null`` on the paper's side). ``measured`` is
    :meth:`Bootstrap.evaluate`'s output (fractions; ``scale`` turns them into ``unit``); ``null``
    is in the scaled unit (0 for a difference, 1 for a ratio)."""
    check(direction in (1, -1), f"direction={direction!r} must be +1 or -1")
    m, s = measured["mean"] * scale, measured["std"] * scale
    lo, hi = (x * scale for x in measured["interval"])
    reproduced = bool(np.sign(m - null) == direction and abs(m - null) > s)
    significant = bool(lo > null) if direction > 0 else bool(hi < null)
    return {"id": fid, "claim": claim, "paper": paper, "mean": m, "std": s, "seeds": list(seeds) if seeds is not None else None,
            "n_seeds": measured["n"], "interval": [lo, hi], "unit": unit, "direction": "+" if direction > 0 else "-", "null": null,
            "reproduced": reproduced, "significant": significant, "note": note}


def paired_accuracy_se(pred_a: Any, pred_b: Any, labels: Any) -> float:
    """Standard error of ``acc(b) - acc(a)`` measured on the same images: the evaluation-set
    noise of a gain, which a spread over training seeds does not include. From the per-image
    differences d_i = [b right] - [a right]: sqrt(var(d) / n)."""
    y, a, b = np.asarray(labels), np.asarray(pred_a), np.asarray(pred_b)
    check(len(y) > 1 and a.shape == b.shape == y.shape, f"paired_accuracy_se needs two predictions per image and n > 1, "
          f"got shapes {a.shape}, {b.shape} for labels {y.shape}")
    d = (b == y).astype(float) - (a == y).astype(float)
    return float(d.std(ddof=1) / np.sqrt(len(d)))


def evaluate_seeds(fn: Callable[[int], float], seeds: Sequence[int]) -> dict[str, Any]:
    """Run ``fn(seed)`` for each seed: ``{"mean", "std", "values", "seeds"}``.

    ``std`` is the sample standard deviation (ddof=1; 0.0 for one seed).
    """
    seeds = list(seeds)
    check(len(seeds) > 0, "seeds is empty")
    check(len(set(seeds)) == len(seeds), f"duplicate seeds in {seeds}")
    values = [float(fn(s)) for s in seeds]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "values": values, "seeds": seeds}
