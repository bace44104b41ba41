"""Classifier heads on cached, frozen image features: zero-shot head, CT, SCE, mix/phase-wise, probe.

This is the one place where the paper's linear heads live (paper §1 and §2). Nothing here runs
an image encoder: features are extracted once, in eval mode, by :mod:`synthrec_core.features`,
and every function below works on those ``[N, D]`` arrays.

- :func:`zero_shot_weights` / :class:`ZeroShotHead`: CLIP's zero-shot head. Row c is the mean
  over templates of the L2-normalised text embeddings of class c, renormalised; logits are
  ``exp(logit_scale) * normalize(f) @ W.T + b`` with the (log) scale frozen.
- :class:`HeadConfig`: the classifier-tuning (CT) recipe: AdamW, cosine, grad clip, SCE.
- :func:`soft_target_ce`: SCE, ``(1-l) CE(z, y) + l * sum_c -softmax(z0/T)_c log softmax(z)_c``.
- :func:`tune_head` (CT), :func:`mix_train` (one synthetic + one real batch per step) and
  :func:`phase_train` (synthetic then real, or the reverse) share one training loop
  (:func:`_fit`); they differ only in the batch plan it is given.
- :func:`linear_probe`: the few-shot logistic-regression baseline, C picked on validation.
- :func:`accuracy`, :func:`evaluate_seeds`: top-1 (a fraction in [0, 1]) and mean ± std over seeds.

Model selection only ever looks at a validation split (the official code picked the best
*test* epoch); no function here takes test data except :func:`accuracy`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import Config, check, check_choice
from .heads import ZeroShotHead, model_logit_scale, zero_shot_weights  # noqa: F401  (re-exported: the head and its training live together for callers)
from .stats import evaluate_seeds, paired_accuracy_se  # noqa: F401  (re-exported)

__all__ = [
    "zero_shot_weights",
    "ZeroShotHead",
    "HeadConfig",
    "soft_target_ce",
    "lr_schedule",
    "tune_head",
    "mix_train",
    "phase_train",
    "linear_probe",
    "accuracy",
    "predict",
    "paired_accuracy_se",
    "evaluate_seeds",
]

Split = tuple[Any, Any]  # (features [N, D], labels [N])


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class HeadConfig(Config):
    """How a linear head is trained on cached features (CT, mix, phase-wise).

    Defaults are the paper's CT recipe (§1): AdamW lr 2e-3, wd 0.1, cosine, clip 1.0,
    30 epochs, batch 512, SCE with l=0.5, T=2. Mix training (§2) uses lr 1e-3: see
    :meth:`paper_mix`.
    """

    loss: str = "sce"  # loss on the (synthetic) training set: "ce" or "sce"
    sce_lambda: float = 0.5  # weight l of the soft term
    sce_T: float = 2.0  # temperature on the teacher's logits only
    lr: float = 2e-3
    weight_decay: float = 0.1  # AdamW, on W and b
    epochs: int = 30
    batch_size: int = 512  # synthetic (or only) batch
    real_batch_size: int = 32  # real batch per step in mix training; real-phase batch in phase_train
    grad_clip: float | None = 1.0  # max global grad norm; None = no clipping
    schedule: str = "cosine"  # per-step cosine from lr to 0, or "constant"
    seed: int = 0  # data order (heads start from a given init, so nothing else is random)
    select: str = "val"  # "val": keep the best-validation epoch; "last": keep the last epoch
    eval_every: int = 1  # evaluate on val every k epochs, and always after the last epoch
    device: str = "cpu"

    _not_in_key: ClassVar[tuple[str, ...]] = ("device",)

    def validate(self) -> None:
        check_choice("loss", self.loss, ("ce", "sce"))
        check_choice("schedule", self.schedule, ("cosine", "constant"))
        check_choice("select", self.select, ("val", "last"))
        check(0.0 <= self.sce_lambda <= 1.0, f"sce_lambda={self.sce_lambda!r} must be in [0, 1]")
        check(self.sce_T > 0, f"sce_T={self.sce_T!r} must be > 0")
        check(self.lr > 0, f"lr={self.lr!r} must be > 0")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        for name in ("epochs", "batch_size", "real_batch_size", "eval_every"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an int >= 1")
        check(isinstance(self.seed, int) and not isinstance(self.seed, bool), f"seed={self.seed!r} must be an int")
        check(self.grad_clip is None or self.grad_clip > 0, f"grad_clip={self.grad_clip!r} must be > 0 or None")
        check(isinstance(self.device, str) and self.device, f"device={self.device!r} must be a device string")

    @classmethod
    def paper_ct(cls, **changes: Any) -> "HeadConfig":
        """Paper §1 CT recipe (the defaults)."""
        return cls(**changes)

    @classmethod
    def paper_mix(cls, **changes: Any) -> "HeadConfig":
        """Paper §2 mix training: lr 1e-3, synthetic batch 512 + real batch 32, SCE on synthetic."""
        return cls(**{"lr": 1e-3, **changes})


# --------------------------------------------------------------------------- schedule and losses


def lr_schedule(opt: torch.optim.Optimizer, total_steps: int, kind: str = "cosine") -> Any:
    """Per-step learning-rate schedule: ``"cosine"`` from the optimiser's lr to 0 over
    ``total_steps`` (held at 0 after), or ``"constant"``. The one schedule every head, adapter,
    prompt and tower tuner here uses."""
    check_choice("schedule", kind, ("cosine", "constant"))
    total = max(1, int(total_steps))
    if kind == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


# --------------------------------------------------------------------------- losses


def soft_target_ce(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor, lam: float, T: float) -> torch.Tensor:
    """SCE: ``(1-lam) * CE(z, y) + lam * mean_i sum_c -softmax(z0_i/T)_c log softmax(z_i)_c``.

    ``teacher_logits`` z0 come from a frozen copy of the initial zero-shot head on the same
    features; only the teacher is tempered (as in the official code).
    """
    check(0.0 <= lam <= 1.0, f"lam={lam!r} must be in [0, 1]")
    check(T > 0, f"T={T!r} must be > 0")
    check(teacher_logits.shape == logits.shape, f"teacher logits {tuple(teacher_logits.shape)} != logits {tuple(logits.shape)}")
    logp = F.log_softmax(logits, dim=-1)
    hard = F.nll_loss(logp, labels)
    soft = -(F.softmax(teacher_logits.detach() / T, dim=-1) * logp).sum(-1).mean()
    return (1.0 - lam) * hard + lam * soft


# --------------------------------------------------------------------------- data helpers


def _as_xy(split: Split, what: str, head: ZeroShotHead | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    check(isinstance(split, (tuple, list)) and len(split) == 2, f"{what} must be a (features, labels) pair")
    f, y = split
    x = torch.as_tensor(np.asarray(f) if not torch.is_tensor(f) else f).detach().float()
    t = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).detach()
    check(x.ndim == 2, f"{what} features must be [N, D], got shape {tuple(x.shape)}")
    check(t.ndim == 1 and t.shape[0] == x.shape[0], f"{what}: {tuple(t.shape)} labels for {x.shape[0]} features")
    check(x.shape[0] > 0, f"{what} is empty")
    check(not t.is_floating_point() or bool((t == t.round()).all()), f"{what} labels must be integers")
    t = t.long()
    check(bool(torch.isfinite(x).all()), f"{what} features contain NaN or inf")
    if head is not None:
        check(x.shape[1] == head.dim, f"{what} features have dim {x.shape[1]}, head expects {head.dim}")
        check(int(t.min()) >= 0 and int(t.max()) < head.num_classes, f"{what} labels must be in [0, {head.num_classes}), got [{int(t.min())}, {int(t.max())}]")
    return x, t


@torch.no_grad()
def _logits(head: nn.Module, x: torch.Tensor, device: str, chunk: int = 8192) -> torch.Tensor:
    was = head.training
    head.eval()
    try:
        return torch.cat([head(x[i : i + chunk].to(device)).cpu() for i in range(0, len(x), chunk)])
    finally:
        head.train(was)


def _head_from(head_or_weights: Any) -> nn.Module:
    if isinstance(head_or_weights, nn.Module):
        return head_or_weights
    return ZeroShotHead(head_or_weights, logit_scale=0.0)  # argmax is scale-free


def accuracy(head_or_weights: Any, feats: Any, labels: Any, device: str = "cpu") -> float:
    """Top-1 accuracy (fraction in [0, 1]) of a head, or of weights ``[C, D]`` used as
    ``argmax normalize(f) @ W.T``, on features ``[N, D]``."""
    x, y = _as_xy((feats, labels), "accuracy data")
    return float((predict(head_or_weights, x, device) == y.cpu().numpy()).mean())


def predict(head_or_weights: Any, feats: Any, device: str = "cpu") -> np.ndarray:
    """Predicted class per row of ``feats`` (as :func:`accuracy` scores them)."""
    head = _head_from(head_or_weights).to(device)
    x = torch.as_tensor(np.asarray(feats) if not torch.is_tensor(feats) else feats, dtype=torch.float32)
    return _logits(head, x, device).argmax(1).cpu().numpy()


# --------------------------------------------------------------------------- the training loop


@dataclass
class _Source:
    """One training set inside a step: its features, labels, loss and (for SCE) teacher logits."""

    x: torch.Tensor
    y: torch.Tensor
    loss: str
    batch_size: int
    teacher: torch.Tensor | None = None
    lam: float = 0.0
    T: float = 1.0
    _stream: list[int] = dataclasses.field(default_factory=list)

    def loss_on(self, head: nn.Module, idx: torch.Tensor, device: str) -> torch.Tensor:
        z = head(self.x[idx].to(device))
        y = self.y[idx].to(device)
        if self.loss == "ce":
            return F.cross_entropy(z, y)
        return soft_target_ce(z, y, self.teacher[idx].to(device), self.lam, self.T)

    def epoch_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        """A shuffled pass over the set, in batches (the last one may be smaller)."""
        return list(torch.randperm(len(self.y), generator=gen).split(self.batch_size))

    def next_cycled(self, gen: torch.Generator) -> torch.Tensor:
        """The next ``batch_size`` indices of an endless stream of shuffled passes."""
        n = min(self.batch_size, len(self.y))
        while len(self._stream) < n:
            self._stream.extend(torch.randperm(len(self.y), generator=gen).tolist())
        out, self._stream[:] = self._stream[:n], self._stream[n:]
        return torch.tensor(out)


Plan = Callable[[torch.Generator], list[list[tuple[_Source, torch.Tensor]]]]


def _plan_single(src: _Source) -> Plan:
    """Each step: one batch of ``src``; an epoch is one pass over it."""
    return lambda gen: [[(src, idx)] for idx in src.epoch_batches(gen)]


def _plan_mix(lead: _Source, other: _Source) -> Plan:
    """Each step: one batch of ``lead`` (an epoch is one pass over it) and one of ``other``
    (cycled, reshuffled after each pass)."""
    return lambda gen: [[(lead, idx), (other, other.next_cycled(gen))] for idx in lead.epoch_batches(gen)]


def _steps_per_epoch(sources: Iterable[_Source]) -> int:
    return max(math.ceil(len(s.y) / s.batch_size) for s in sources)


def _source(x: torch.Tensor, y: torch.Tensor, loss: str, batch_size: int, cfg: HeadConfig, teacher: nn.Module | None) -> _Source:
    t = None
    if loss == "sce":
        t = _logits(teacher, x, cfg.device)  # frozen features, so the teacher's logits are fixed
    return _Source(x, y, loss, batch_size, t, cfg.sce_lambda, cfg.sce_T)


def _train_step(head: ZeroShotHead, parts: list[tuple[_Source, torch.Tensor]], opt, sched, cfg: HeadConfig) -> float:
    """One optimiser step on the summed losses of ``parts``; returns the loss."""
    opt.zero_grad(set_to_none=True)
    loss = sum(src.loss_on(head, idx, cfg.device) for src, idx in parts)
    loss.backward()
    if cfg.grad_clip is not None:
        nn.utils.clip_grad_norm_([head.weight, head.bias], cfg.grad_clip)
    opt.step()
    sched.step()
    return float(loss.detach())


def _fit(
    head_init: ZeroShotHead, plan: Plan, steps_per_epoch: int, cfg: HeadConfig, val: Split | None, tag: dict[str, Any] | None = None
) -> tuple[ZeroShotHead, list[dict[str, Any]]]:
    """The one training loop: AdamW on W and b, per-step cosine, grad clip, val selection."""
    check(cfg.select != "val" or val is not None, "select='val' needs a validation split: pass val=(features, labels) or use select='last'")
    head = copy.deepcopy(head_init).to(cfg.device).train()
    head.logit_scale.requires_grad_(False)
    vx = vy = None
    if val is not None:
        vx, vy = _as_xy(val, "val", head)
    opt = torch.optim.AdamW([head.weight, head.bias], lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = lr_schedule(opt, cfg.epochs * steps_per_epoch, cfg.schedule)
    gen = torch.Generator().manual_seed(cfg.seed)
    tag = tag or {}

    def val_acc() -> float | None:
        return None if vx is None else float((_logits(head, vx, cfg.device).argmax(1) == vy).float().mean())

    history: list[dict[str, Any]] = [{**tag, "epoch": 0, "loss": None, "lr": cfg.lr, "val_acc": val_acc(), "selected": False}]
    best_acc, best_state, best_row = -1.0, None, None
    for epoch in range(1, cfg.epochs + 1):
        losses = [_train_step(head, parts, opt, sched, cfg) for parts in plan(gen)]
        row = {**tag, "epoch": epoch, "loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"], "val_acc": None, "selected": False}
        if vx is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            row["val_acc"] = val_acc()
            if cfg.select == "val" and row["val_acc"] > best_acc:  # strict: ties keep the earlier epoch
                best_acc, best_row = row["val_acc"], row
                best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        history.append(row)
    if cfg.select == "val":
        head.load_state_dict(best_state)
    else:
        best_row = history[-1]
    best_row["selected"] = True
    return head.eval(), history


def _check_head(head_init: Any) -> ZeroShotHead:
    check(isinstance(head_init, ZeroShotHead), f"head_init must be a ZeroShotHead, got {type(head_init).__name__}")
    return head_init


def _teacher(head_init: ZeroShotHead, teacher: nn.Module | None) -> nn.Module:
    t = copy.deepcopy(head_init if teacher is None else teacher)
    for p in t.parameters():
        p.requires_grad_(False)
    return t.eval()


# --------------------------------------------------------------------------- public trainers


def tune_head(
    head_init: ZeroShotHead,
    train_feats: Any,
    train_labels: Any,
    cfg: HeadConfig = HeadConfig(),
    val: Split | None = None,
    teacher: nn.Module | None = None,
) -> tuple[ZeroShotHead, list[dict[str, Any]]]:
    """Classifier tuning (CT): train W and b of a copy of ``head_init`` on cached features.

    Loss ``cfg.loss`` ("sce" uses ``teacher``, default a frozen copy of ``head_init``).
    Returns the head of the best-validation epoch (``select="val"``) or of the last epoch,
    and the history: one dict per epoch (``epoch`` 0 is the init; ``loss`` is the epoch's
    mean training loss; ``val_acc`` is None on epochs not evaluated; ``selected`` marks the
    kept epoch). ``head_init`` is not modified. Deterministic given ``cfg.seed``.
    """
    head_init = _check_head(head_init)
    x, y = _as_xy((train_feats, train_labels), "train", head_init)
    src = _source(x, y, cfg.loss, cfg.batch_size, cfg, _teacher(head_init, teacher))
    return _fit(head_init, _plan_single(src), _steps_per_epoch([src]), cfg, val)


def mix_train(
    head_init: ZeroShotHead,
    syn: Split,
    real: Split,
    cfg: HeadConfig = HeadConfig.paper_mix(),
    val: Split | None = None,
    teacher: nn.Module | None = None,
) -> tuple[ZeroShotHead, list[dict[str, Any]]]:
    """Mix training (paper §2): each step one synthetic batch (``cfg.batch_size``, loss
    ``cfg.loss``) and one real batch (``cfg.real_batch_size``, CE); loss = CE_real + L_syn.

    An epoch is one pass over the synthetic set; real batches are drawn from an endless
    stream of reshuffled passes over the (small) real set. Otherwise as :func:`tune_head`.
    """
    head_init = _check_head(head_init)
    sx, sy = _as_xy(syn, "syn", head_init)
    rx, ry = _as_xy(real, "real", head_init)
    s = _source(sx, sy, cfg.loss, cfg.batch_size, cfg, _teacher(head_init, teacher))
    r = _source(rx, ry, "ce", cfg.real_batch_size, cfg, None)
    return _fit(head_init, _plan_mix(s, r), _steps_per_epoch([s]), cfg, val)


def phase_train(
    head_init: ZeroShotHead,
    syn: Split,
    real: Split,
    cfg: HeadConfig = HeadConfig(),
    val: Split | None = None,
    order: str = "syn_real",
    real_cfg: HeadConfig | None = None,
    teacher: nn.Module | None = None,
) -> tuple[ZeroShotHead, list[dict[str, Any]]]:
    """Phase-wise training (paper §2): ``cfg.epochs`` on synthetic, then ``real_cfg.epochs``
    on real (``order="syn_real"``), or the reverse (``"real_syn"``).

    The synthetic phase uses ``cfg`` (its loss, SCE with the *initial* head as teacher in
    both orders); the real phase uses ``real_cfg``, by default ``cfg`` with CE and batch
    ``cfg.real_batch_size`` (the paper gives no real-phase batch size). Each phase selects its
    epoch as :func:`tune_head` does and the next phase starts from it. History rows carry
    ``phase`` ("syn" or "real").
    """
    check_choice("order", order, ("syn_real", "real_syn"))
    head_init = _check_head(head_init)
    real_cfg = real_cfg if real_cfg is not None else cfg.replace(loss="ce", batch_size=cfg.real_batch_size)
    check(isinstance(real_cfg, HeadConfig), f"real_cfg must be a HeadConfig, got {type(real_cfg).__name__}")
    sx, sy = _as_xy(syn, "syn", head_init)
    rx, ry = _as_xy(real, "real", head_init)
    phases = {
        "syn": (_source(sx, sy, cfg.loss, cfg.batch_size, cfg, _teacher(head_init, teacher)), cfg),
        "real": (_source(rx, ry, real_cfg.loss, real_cfg.batch_size, real_cfg, _teacher(head_init, teacher)), real_cfg),
    }
    head, history = head_init, []
    for name in order.split("_"):
        src, c = phases[name]
        head, h = _fit(head, _plan_single(src), _steps_per_epoch([src]), c, val, tag={"phase": name})
        history += h
    return head, history


# --------------------------------------------------------------------------- baselines and seeds


def linear_probe(
    train_feats: Any,
    train_labels: Any,
    val: Split | None = None,
    C_grid: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0),
    num_classes: int | None = None,
    max_iter: int = 1000,
) -> tuple[ZeroShotHead, dict[str, Any]]:
    """Few-shot linear-probe baseline: logistic regression (lbfgs, multinomial) on
    L2-normalised features, its inverse regularisation ``C`` picked on ``val`` (ties: the
    smaller C). Returns the fitted probe as a :class:`ZeroShotHead` (scale 1, W = coef,
    b = intercept; classes absent from training get bias -1e4) and
    ``{"C", "val_acc", "grid": {C: val_acc}}``. Without ``val`` the grid must hold one C.
    """
    from sklearn.linear_model import LogisticRegression

    x, y = _as_xy((train_feats, train_labels), "train")
    C_grid = [float(c) for c in C_grid]
    check(len(C_grid) > 0 and all(c > 0 for c in C_grid), f"C_grid={C_grid} must be non-empty and positive")
    check(val is not None or len(C_grid) == 1, f"picking C from C_grid={C_grid} needs val=(features, labels)")
    n_cls = int(y.max()) + 1 if num_classes is None else int(num_classes)
    check(int(y.min()) >= 0 and int(y.max()) < n_cls, f"labels must be in [0, {n_cls})")
    present = np.unique(y.numpy())
    check(len(present) >= 2, "linear_probe needs at least two classes in train")
    xn = F.normalize(x, dim=-1).double().numpy()

    def fit(c: float) -> ZeroShotHead:
        lr = LogisticRegression(C=c, max_iter=max_iter)
        lr.fit(xn, y.numpy())
        w = np.zeros((n_cls, x.shape[1]), np.float32)
        b = np.full(n_cls, -1e4, np.float32)
        w[lr.classes_], b[lr.classes_] = lr.coef_, lr.intercept_
        return ZeroShotHead(w, logit_scale=0.0, bias=b)

    grid: dict[float, float] = {}
    best = None
    for c in C_grid:
        probe = fit(c)
        if val is None:
            return probe, {"C": c, "val_acc": None, "grid": {}}
        grid[c] = accuracy(probe, *val)
        if best is None or grid[c] > grid[best[0]] or (grid[c] == grid[best[0]] and c < best[0]):
            best = (c, probe)
    return best[1], {"C": best[0], "val_acc": grid[best[0]], "grid": grid}
