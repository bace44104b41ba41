"""Few-shot baselines of paper §2 on cached features, and a registry that runs them by name.

The paper's few-shot plots compare its synthetic-data CT with three baselines: CT from the text
initialisation on the real shots only, CoOp and Tip-Adapter. This module holds those (plus the
zero-shot head, the linear probe and Tip-Adapter-F) behind one interface:

- :func:`tip_adapter` (training-free) and :func:`tip_adapter_f` (trainable cache keys), with
  :class:`TipAdapterHead` as their predictor. Formula (Zhang et al., "Tip-Adapter:
  Training-free Adaption of CLIP for Few-shot Classification", ECCV 2022, Eq. 5-6)::

      logits(f) = head(f) + alpha * exp(-beta * (1 - normalize(f) @ K.T)) @ V

  ``head(f) = exp(logit_scale) * normalize(f) @ W.T + b`` is the zero-shot head with its own
  scale (the original writes ``100 * f W_c^T``), K ``[NK, D]`` the cache keys (the L2-normalised
  few-shot features; trainable in Tip-Adapter-F), V ``[NK, C]`` their one-hot labels.
- :func:`run_coop`: CoOp (:mod:`synthrec_core.coop`) over a grid of context lengths and lrs.
- :data:`METHODS` / :func:`run_methods`: ``"zero_shot"``, ``"ct_real"`` (``classifier.tune_head``
  from the text head, real shots, CE), ``"linear_probe"`` (``classifier.linear_probe``),
  ``"tip_adapter"``, ``"tip_adapter_f"``, ``"coop"``. Every method gets the same inputs and
  returns a :class:`MethodResult`: a predictor (features -> logits, usable with
  ``classifier.accuracy``) and the hyperparameters it chose **on validation only**.

Not here: the synthetic-data methods (``classifier.mix_train`` / ``phase_train``), RF
(``filtering.real_filter``) and real guidance.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .classifier import HeadConfig, ZeroShotHead, _as_xy, accuracy, linear_probe, lr_schedule, tune_head
from .config import Config, check, check_choice
from .coop import CoOpConfig, train_coop

__all__ = [
    "TipConfig",
    "TipFConfig",
    "ProbeConfig",
    "CoOpGrid",
    "TipAdapterHead",
    "tip_adapter",
    "tip_adapter_f",
    "run_coop",
    "ClassText",
    "MethodResult",
    "METHODS",
    "run_methods",
]

Split = tuple[Any, Any]

# The original's search ranges (ImageNet config): beta in [0.1, 7), alpha in [0.1, 3).
_BETA_GRID = tuple(round(0.1 + i * (7.0 - 0.1) / 35, 4) for i in range(35))
_ALPHA_GRID = tuple(round(0.1 + i * (3.0 - 0.1) / 20, 4) for i in range(20))


def _grid(name: str, values: Sequence[float]) -> None:
    check(isinstance(values, tuple) and len(values) > 0, f"{name} must be a non-empty tuple")
    check(all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 and math.isfinite(v) for v in values),
          f"{name}={values} must hold finite numbers >= 0")


@dataclass(frozen=True)
class TipConfig(Config):
    """Tip-Adapter: the (alpha, beta) grid searched on validation (defaults span the original's ranges)."""

    alpha_grid: tuple[float, ...] = _ALPHA_GRID  # weight of the cache logits
    beta_grid: tuple[float, ...] = _BETA_GRID  # sharpness of the affinity

    def validate(self) -> None:
        _grid("alpha_grid", self.alpha_grid)
        _grid("beta_grid", self.beta_grid)

    @classmethod
    def wide(cls, n_alpha: int = 41, n_beta: int = 25) -> "TipConfig":
        """Geometric grids, alpha in [0.1, 1000] and beta in [0.1, 30]: for CLIPs whose zero-shot
        head is weak or whose logit scale is far below 100 (MiniCLIP's is ~16), where the
        original's ranges put the choice on the grid's edge."""
        return cls(alpha_grid=tuple(float(v) for v in np.round(np.geomspace(0.1, 1000, n_alpha), 4)),
                   beta_grid=tuple(float(v) for v in np.round(np.geomspace(0.1, 30, n_beta), 4)))


@dataclass(frozen=True)
class TipFConfig(Config):
    """Tip-Adapter-F: train the cache keys (AdamW + per-step cosine, CE), pick the epoch on
    validation, then search (alpha, beta) on validation for the kept keys. Optimiser defaults
    are the original's (lr 1e-3, eps 1e-4, 20 epochs, batch 256)."""

    lr: float = 1e-3
    eps: float = 1e-4
    weight_decay: float = 0.01  # AdamW's default, which the original keeps
    epochs: int = 20
    batch_size: int = 256
    seed: int = 0
    # The original trains on augmented views, so a shot never meets its own key exactly. With one
    # cached view per shot its own key would explain its label trivially (affinity 1), so by
    # default each training shot's own cache entry is masked out of its cache logits.
    leave_one_out: bool = True
    grid: TipConfig = field(default_factory=TipConfig)

    def validate(self) -> None:
        check(self.lr > 0 and self.eps > 0 and self.weight_decay >= 0, f"lr={self.lr}, eps={self.eps} must be > 0 and weight_decay >= 0")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an int >= 1")
        check(isinstance(self.grid, TipConfig), f"grid must be a TipConfig, got {type(self.grid).__name__}")


@dataclass(frozen=True)
class ProbeConfig(Config):
    """Linear probe: the grid of inverse regularisation strengths C searched on validation."""

    C_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
    max_iter: int = 1000

    def validate(self) -> None:
        _grid("C_grid", self.C_grid)
        check(all(c > 0 for c in self.C_grid), f"C_grid={self.C_grid} must be > 0")
        check(isinstance(self.max_iter, int) and self.max_iter >= 1, f"max_iter={self.max_iter!r} must be >= 1")


@dataclass(frozen=True)
class CoOpGrid(Config):
    """CoOp runs tried, all with ``base`` except ``n_ctx`` and ``lr``; best validation wins
    (its epoch chosen on validation inside the run)."""

    n_ctx_grid: tuple[int, ...] = (4, 16)
    lr_grid: tuple[float, ...] = (2e-3,)
    base: CoOpConfig = field(default_factory=CoOpConfig)

    def validate(self) -> None:
        check(isinstance(self.base, CoOpConfig), f"base must be a CoOpConfig, got {type(self.base).__name__}")
        check(isinstance(self.n_ctx_grid, tuple) and len(self.n_ctx_grid) > 0, "n_ctx_grid must be a non-empty tuple")
        _grid("lr_grid", self.lr_grid)
        for n in self.n_ctx_grid:
            self.base.replace(n_ctx=n)  # validates each value
        for lr in self.lr_grid:
            self.base.replace(lr=lr)


# --------------------------------------------------------------------------- Tip-Adapter


class TipAdapterHead(nn.Module):
    """``head(f) + alpha * exp(-beta * (1 - normalize(f) @ keys.T)) @ values`` (see module doc).

    ``head`` is copied and frozen; ``keys`` ``[NK, D]`` is a parameter (trained only by
    Tip-Adapter-F); ``values`` ``[NK, C]`` a buffer. ``exclude`` (training only) gives, per
    row of ``f``, the index of a cache entry to leave out (-1: none).
    """

    def __init__(self, head: ZeroShotHead, keys: torch.Tensor, values: torch.Tensor, alpha: float, beta: float) -> None:
        super().__init__()
        self.head = copy.deepcopy(head).eval()
        for p in self.head.parameters():
            p.requires_grad_(False)
        self.keys = nn.Parameter(keys.detach().float().clone())
        self.register_buffer("values", values.detach().float().clone())
        self.alpha, self.beta = float(alpha), float(beta)

    def cache_logits(self, features: torch.Tensor, beta: float | None = None, exclude: torch.Tensor | None = None) -> torch.Tensor:
        beta = self.beta if beta is None else beta
        a = torch.exp(-beta * (1.0 - F.normalize(features.float(), dim=-1) @ self.keys.T))
        if exclude is not None:
            keep = exclude >= 0
            a = a.clone()
            a[keep.nonzero().flatten(), exclude[keep]] = 0.0
        return a @ self.values

    def forward(self, features: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(features) + self.alpha * self.cache_logits(features, exclude=exclude)

    def extra_repr(self) -> str:
        return f"cache={tuple(self.keys.shape)}, alpha={self.alpha:.4g}, beta={self.beta:.4g}"


def _cache(train: Split, head: ZeroShotHead) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_xy(train, "train", head)
    return F.normalize(x, dim=-1), F.one_hot(y, head.num_classes).float()


@torch.no_grad()
def _search(adapter: TipAdapterHead, val: Split, grid: TipConfig) -> tuple[float, float, float, dict[str, float]]:
    """Best (alpha, beta) on val (ties: the smaller alpha, then the smaller beta); also every score."""
    vx, vy = _as_xy(val, "val", adapter.head)
    zs = adapter.head(vx)
    best, scores = None, {}
    for beta in grid.beta_grid:
        cache = adapter.cache_logits(vx, beta=beta)
        for alpha in grid.alpha_grid:
            acc = float(((zs + alpha * cache).argmax(1) == vy).float().mean())
            scores[f"{alpha:g},{beta:g}"] = acc
            if best is None or acc > best[2] or (acc == best[2] and (alpha, beta) < best[:2]):
                best = (float(alpha), float(beta), acc)
    return best[0], best[1], best[2], scores


def _edges(alpha: float, beta: float, grid: TipConfig) -> list[str]:
    """Which choices lie on the largest value of their grid (a sign the grid is too narrow)."""
    out = [n for n, v, g in (("alpha", alpha, grid.alpha_grid), ("beta", beta, grid.beta_grid)) if len(g) > 1 and v == max(g)]
    return out


def tip_adapter(head: ZeroShotHead, train: Split, val: Split, cfg: TipConfig = TipConfig()) -> tuple[TipAdapterHead, dict[str, Any]]:
    """Training-free Tip-Adapter: cache = the normalised ``train`` features and their one-hot
    labels; ``(alpha, beta)`` picked on ``val`` from ``cfg``'s grids (ties: smaller alpha, then
    smaller beta). Returns the adapter and ``{"alpha", "beta", "val_acc", "at_grid_max", "grid"}``
    (``at_grid_max`` names the choices on their grid's largest value: widen it, e.g.
    :meth:`TipConfig.wide`; ``grid`` maps ``"alpha,beta"`` to val accuracy)."""
    keys, values = _cache(train, head)
    adapter = TipAdapterHead(head, keys, values, 1.0, 1.0)
    alpha, beta, acc, scores = _search(adapter, val, cfg)
    adapter.alpha, adapter.beta = alpha, beta
    return adapter.eval(), {"alpha": alpha, "beta": beta, "val_acc": acc, "at_grid_max": _edges(alpha, beta, cfg), "grid": scores}


def tip_adapter_f(head: ZeroShotHead, train: Split, val: Split, cfg: TipFConfig = TipFConfig()) -> tuple[TipAdapterHead, dict[str, Any], list[dict]]:
    """Tip-Adapter-F: start from :func:`tip_adapter` (its val-chosen alpha, beta), train the
    keys with CE for ``cfg.epochs`` (AdamW, cosine), keep the best-validation epoch (epoch 0 =
    the training-free cache), then search (alpha, beta) again on val for those keys.
    Returns ``(adapter, chosen, history)``."""
    start, chosen0 = tip_adapter(head, train, val, cfg.grid)
    x, y = _as_xy(train, "train", head)
    vx, vy = _as_xy(val, "val", head)
    adapter = copy.deepcopy(start).train()
    opt = torch.optim.AdamW([adapter.keys], lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    total = cfg.epochs * math.ceil(len(y) / cfg.batch_size)
    sched = lr_schedule(opt, total, "cosine")
    gen = torch.Generator().manual_seed(cfg.seed)
    own = torch.arange(len(y)) if cfg.leave_one_out else torch.full((len(y),), -1)

    def val_acc() -> float:
        with torch.no_grad():
            return float((adapter(vx).argmax(1) == vy).float().mean())

    history = [{"epoch": 0, "loss": None, "val_acc": val_acc(), "selected": False}]
    best_acc, best_keys, best_row = history[0]["val_acc"], adapter.keys.detach().clone(), history[0]
    for epoch in range(1, cfg.epochs + 1):
        losses = []
        for idx in torch.randperm(len(y), generator=gen).split(cfg.batch_size):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(adapter(x[idx], exclude=own[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "val_acc": val_acc(), "selected": False}
        if row["val_acc"] > best_acc:  # strict: ties keep the earlier epoch (0 = training-free)
            best_acc, best_keys, best_row = row["val_acc"], adapter.keys.detach().clone(), row
        history.append(row)
    best_row["selected"] = True
    with torch.no_grad():
        adapter.keys.copy_(best_keys)
    alpha, beta, acc, scores = _search(adapter, val, cfg.grid)
    adapter.alpha, adapter.beta = alpha, beta
    chosen = {"epoch": best_row["epoch"], "alpha": alpha, "beta": beta, "val_acc": acc, "train_alpha": chosen0["alpha"],
              "train_beta": chosen0["beta"], "at_grid_max": _edges(alpha, beta, cfg.grid), "grid": scores}
    return adapter.eval(), chosen, history


# --------------------------------------------------------------------------- CoOp over a grid


def run_coop(model: Any, tokenizer: Callable, classnames: Sequence[str], train: Split, val: Split,
             grid: CoOpGrid = CoOpGrid(), logit_scale: float | None = None) -> tuple[ZeroShotHead, dict[str, Any], list[dict]]:
    """CoOp for every (n_ctx, lr) of ``grid``; the run with the best validation accuracy wins
    (ties: the first in grid order). Returns ``(head, chosen, history)``; history rows carry
    their run's ``n_ctx`` and ``lr``."""
    best, history = None, []
    for n_ctx in grid.n_ctx_grid:
        for lr in grid.lr_grid:
            head, _, hist = train_coop(model, tokenizer, classnames, train, val, grid.base.replace(n_ctx=n_ctx, lr=lr), logit_scale)
            row = next(r for r in hist if r["selected"])
            history += [{"n_ctx": n_ctx, "lr": lr, **r} for r in hist]
            if best is None or row["val_acc"] > best[1]["val_acc"]:
                best = (head, {"n_ctx": n_ctx, "lr": lr, "epoch": row["epoch"], "val_acc": row["val_acc"]})
    return best[0], best[1], history


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ClassText:
    """What text-side methods (CoOp) need: the CLIP, its tokenizer and the class names
    (in label order; prompts are built by the method)."""

    model: Any
    tokenizer: Callable
    classnames: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "classnames", tuple(self.classnames))


@dataclass
class MethodResult:
    """A fitted few-shot method: ``predictor`` maps features ``[N, D]`` to logits ``[N, C]``
    (pass it to ``classifier.accuracy``); ``chosen`` holds what it picked on validation and
    its ``val_acc``; ``history`` its training curve (empty for training-free methods)."""

    name: str
    predictor: nn.Module
    chosen: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """``{"method", "chosen"}`` without the bulky per-grid-point scores (JSON-able)."""
        return {"method": self.name, "chosen": {k: v for k, v in self.chosen.items() if k != "grid"}}


def _zero_shot(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: None) -> MethodResult:
    return MethodResult("zero_shot", copy.deepcopy(head).eval(), {"val_acc": accuracy(head, *val)})


def _ct_real(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: HeadConfig) -> MethodResult:
    tuned, hist = tune_head(head, *train, cfg=cfg, val=val)
    row = next(r for r in hist if r["selected"])
    return MethodResult("ct_real", tuned, {"epoch": row["epoch"], "val_acc": row["val_acc"], "lr": cfg.lr, "loss": cfg.loss}, hist)


def _linear_probe(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: ProbeConfig) -> MethodResult:
    probe, info = linear_probe(*train, val=val, C_grid=cfg.C_grid, num_classes=head.num_classes, max_iter=cfg.max_iter)
    return MethodResult("linear_probe", probe, {"C": info["C"], "val_acc": info["val_acc"], "grid": info["grid"]})


def _tip(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: TipConfig) -> MethodResult:
    adapter, chosen = tip_adapter(head, train, val, cfg)
    return MethodResult("tip_adapter", adapter, chosen)


def _tip_f(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: TipFConfig) -> MethodResult:
    adapter, chosen, hist = tip_adapter_f(head, train, val, cfg)
    return MethodResult("tip_adapter_f", adapter, chosen, hist)


def _coop(train: Split, val: Split, head: ZeroShotHead, text: ClassText | None, cfg: CoOpGrid) -> MethodResult:
    h, chosen, hist = run_coop(text.model, text.tokenizer, text.classnames, train, val, cfg, logit_scale=float(head.logit_scale))
    return MethodResult("coop", h, chosen, hist)


#: name -> (function, config type, default config). Every function takes
#: ``(train, val, head, text, cfg)`` and returns a :class:`MethodResult`.
METHODS: dict[str, tuple[Callable[..., MethodResult], type | None, Any]] = {
    "zero_shot": (_zero_shot, None, None),
    # CT on the real shots only: the paper's CT recipe with CE and the mix-training real batch
    "ct_real": (_ct_real, HeadConfig, HeadConfig(loss="ce", batch_size=32)),
    "linear_probe": (_linear_probe, ProbeConfig, ProbeConfig()),
    "tip_adapter": (_tip, TipConfig, TipConfig()),
    "tip_adapter_f": (_tip_f, TipFConfig, TipFConfig()),
    "coop": (_coop, CoOpGrid, CoOpGrid()),
}
_TEXT_METHODS = ("coop",)


def run_methods(names: Sequence[str], train: Split, val: Split, head: ZeroShotHead, text: ClassText | None = None,
                options: Mapping[str, Any] | None = None) -> dict[str, MethodResult]:
    """Run few-shot methods by name on cached features, in the order given.

    ``train``: the real shots ``(features, labels)``; ``val``: the validation split (all
    selection happens there); ``head``: the zero-shot :class:`ZeroShotHead`; ``text``: a
    :class:`ClassText` (needed by ``"coop"``); ``options``: method name -> its config
    (:data:`METHODS` gives each method's type and default). Everything is checked before any
    method runs: unknown or repeated names (with close matches), wrong config types, feature
    dims and label ranges against ``head``, and ``text`` for the text-side methods.
    """
    names = [names] if isinstance(names, str) else list(names)
    check(len(names) > 0, "no method names given")
    for n in names:
        check_choice("method", n, list(METHODS))
    dup = sorted({n for n in names if names.count(n) > 1})
    check(not dup, f"methods {dup} are listed twice")
    options = dict(options or {})
    for n, cfg in options.items():
        check_choice("options key (a method name)", n, list(METHODS))
        typ = METHODS[n][1]
        check(typ is not None and isinstance(cfg, typ), f"options[{n!r}] must be a {typ.__name__ if typ else 'None'}, got {type(cfg).__name__}")
    check(isinstance(head, ZeroShotHead), f"head must be a ZeroShotHead, got {type(head).__name__}")
    _as_xy(train, "train", head)
    _as_xy(val, "val", head)
    if any(n in _TEXT_METHODS for n in names):
        check(isinstance(text, ClassText), f"methods {[n for n in names if n in _TEXT_METHODS]} need text=ClassText(model, tokenizer, classnames)")
        check(len(text.classnames) == head.num_classes, f"{len(text.classnames)} class names for a head of {head.num_classes} classes")
        from .coop import prompt_encoder

        grid = options.get("coop", METHODS["coop"][2])
        for n_ctx in grid.n_ctx_grid:  # tokenise now: a prompt that does not fit fails before any work
            prompt_encoder(text.model, text.tokenizer, text.classnames, n_ctx, grid.base.class_template)
    out = {}
    for n in names:
        fn, _, default = METHODS[n]
        out[n] = fn(train, val, head, text, options.get(n, default))
    return out
