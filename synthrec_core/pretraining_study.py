"""The pre-training section's experiments (paper §3) at any profile's scale, on a Grid.

A backbone is pre-trained on images of a *source* label space, then transferred to downstream
datasets it never saw:

- ``synthetic``: LE images of the source's classes made by the engine (no CF, as in the paper),
  at several sizes (images per class);
- ``real``: the same number of real training images of the source (ImageNet's role);
- ``scratch``: no pre-training (random init, seeded like the others).

Pre-training is :func:`synthrec_core.pretraining.pretrain` (supervised CE or MoCo v2; its own
cache keys finished runs); each transfer (:func:`synthrec_core.transfer.transfer`, finetune or
linear, selection on val, test once) is one :class:`~synthrec_core.grid.Grid` cell keyed by the
pre-training run key, the downstream data and the transfer recipe, so a warm re-run reads it
back. :func:`run` returns one tidy row per (init, method, size, downstream, seed); the findings
F12-F13 are computed from it by :mod:`synthrec_core.pretraining_findings`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .config import Config, check, check_choice
from .grid import Grid
from .pretrain_config import PretrainConfig
from .pretrain_data import array_key
from .transfer import TransferConfig

__all__ = ["StudyConfig", "Downstream", "load_downstream", "source_set", "run", "INITS"]

INITS = ("scratch", "real", "synthetic")
CELL_FIELDS = ("test_acc", "val_acc", "test_pred", "selected")  # what a transfer cell keeps
#: (recipe, method) -> the pretrain_config preset it starts from
PRESET_OF = {("mini", "supervised"): "mini-supervised", ("mini", "moco"): "mini-moco",
             ("paper", "supervised"): "paper-agnostic-resnet50", ("paper", "moco"): "paper-moco-resnet50"}


@dataclasses.dataclass(frozen=True)
class StudyConfig(Config):
    """What :func:`run` measures. ``sizes``: synthetic images per class (the largest is also the
    real set's size); ``methods``: pre-training methods, each run at the largest size for
    ``real`` and at every size for ``synthetic``."""

    recipe: str = "mini"  # which presets (PRESET_OF) pre-training starts from
    source: str = "animal_mnist"
    downstream: tuple[str, ...] = ("digits", "fashion_mnist")
    sizes: tuple[int, ...] = (2, 4)
    methods: tuple[str, ...] = ("supervised",)
    seeds: tuple[int, ...] = (0, 1)
    le_sentences: int = 4
    backbone: str = "resnet-mini"
    # GroupNorm: a random BatchNorm net in eval mode (unit running statistics) gives near-constant
    # features on these images (std ~1e-7 across digits), which would make the scratch baseline a strawman
    norm: str = "group"
    pretrain_epochs: int = 1
    global_batch: int = 16
    transfer_mode: str = "linear"
    transfer_epochs: int = 3
    downstream_per_class: int = 10  # real training images per downstream class
    eval_limit: int = 300  # first images of each downstream val / test split

    def __post_init__(self) -> None:
        for name in ("downstream", "methods"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        for name in ("sizes", "seeds"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        super().__post_init__()

    def validate(self) -> None:
        check(len(self.downstream) >= 1 and self.source not in self.downstream,
              f"downstream={self.downstream!r} must be non-empty and exclude the source {self.source!r}")
        check(len(self.sizes) >= 1 and all(s >= 1 for s in self.sizes) and list(self.sizes) == sorted(set(self.sizes)),
              f"sizes={self.sizes!r} must be increasing images per class >= 1")
        check(len(self.methods) >= 1, "methods is empty")
        for m in self.methods:
            check_choice("method", m, ("supervised", "moco"))
        check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), f"seeds={self.seeds!r} must be distinct")
        check_choice("recipe", self.recipe, ("mini", "paper"))
        check_choice("transfer_mode", self.transfer_mode, ("linear", "finetune"))
        for name in ("le_sentences", "pretrain_epochs", "global_batch", "transfer_epochs", "downstream_per_class", "eval_limit"):
            v = getattr(self, name)
            check(isinstance(v, int) and v >= 1, f"{name}={v!r} must be an int >= 1")
        self.pretrain_config("supervised", 0)  # an unknown backbone fails here, before any work

    def pretrain_config(self, method: str, seed: int) -> PretrainConfig:
        """The recipe's preset of ``method`` with this study's backbone, norm, epochs, batch and seed
        (mini: no warm-up and a MoCo queue of 4 batches, for runs of a few epochs on small sets)."""
        small = {"warmup_epochs": 0, **({"moco_queue": self.global_batch * 4} if method == "moco" else {})}
        return PretrainConfig.preset(PRESET_OF[(self.recipe, method)], backbone=self.backbone, norm=self.norm,
                                     epochs=self.pretrain_epochs, global_batch=self.global_batch, seed=seed,
                                     **(small if self.recipe == "mini" else {}))

    def transfer_config(self, seed: int) -> TransferConfig:
        # large C too: L2-normalised features of a random or briefly trained net differ by little
        return TransferConfig(mode=self.transfer_mode, epochs=self.transfer_epochs, seed=seed, C_grid=(1.0, 10.0, 100.0, 1e3, 1e4, 1e5))

    def check_sizes(self, classes: int) -> None:
        """A set smaller than the global batch cannot make one step: refuse before any work."""
        check(classes >= 2, f"source {self.source!r} has {classes} class; pre-training needs two or more")
        check(min(self.sizes) * classes >= self.global_batch,
              f"the smallest set ({min(self.sizes)} per class x {classes} classes) is smaller than global_batch={self.global_batch}")


@dataclasses.dataclass
class Downstream:
    """A downstream task: (images, labels) for train / val / test, and the data key of all three."""

    name: str
    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    key: str

    @property
    def test_labels(self) -> np.ndarray:
        return self.splits[2][1]


def load_downstream(tk: Any, name: str, cfg: StudyConfig) -> Downstream:
    """``downstream_per_class`` train images per class (seed 0) and the first ``eval_limit`` of val / test."""
    from .data import kshot_indices

    sp = tk.splits(name)
    idx = kshot_indices(sp.train.labels, cfg.downstream_per_class, 0)
    parts = [(sp.train.images[idx], np.asarray(sp.train.labels)[idx])]
    for part in (sp.val, sp.test):
        parts.append((part.images[: cfg.eval_limit], np.asarray(part.labels)[: cfg.eval_limit]))
    return Downstream(name, tuple(parts), array_key(*[a for p in parts for a in p]))


def source_set(tk: Any, cfg: StudyConfig, init: str, per_class: int, seed: int, progress: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """The pre-training images of ``init``: real train images of the source (``per_class`` per
    class, drawn with ``seed``) or an LE set of its classes through the engine (generation seed
    ``seed``), decoded to uint8 ``[N, H, W]``."""
    check_choice("init", init, ("real", "synthetic"))
    sp = tk.splits(cfg.source)
    if init == "real":
        from .data import kshot_indices

        idx = kshot_indices(sp.train.labels, per_class, seed)
        return sp.train.images[idx], np.asarray(sp.train.labels)[idx]
    from .generation import generate
    from .pretrain_data import decode_set
    from .zero_shot import le_prompts, pool_job

    prompts = le_prompts(sp, tk.prompt_spec(cfg.source), cfg.le_sentences, seed, tk.enhancer)
    s = generate(pool_job(list(sp.classnames), prompts, per_class, tk.gen, seed), tk.pipeline, progress=progress)
    x, y = decode_set(s)
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])  # exactly per_class each
    return x[keep], y[keep]


def _plan(cfg: StudyConfig) -> list[tuple[str, str, int]]:
    """(init, method, images per class) of every backbone the study transfers."""
    big = max(cfg.sizes)
    plan = [("scratch", "none", 0)]
    for m in cfg.methods:
        plan += [("real", m, big)] + [("synthetic", m, n) for n in cfg.sizes]
    return plan


def run(tk: Any, cfg: StudyConfig, grid: Grid, log: Callable[[str], None] | None = None,
        pretrain_fn: Callable[..., Any] | None = None) -> tuple[pd.DataFrame, dict[str, Downstream], list[dict[str, Any]]]:
    """Every (init, method, size) x downstream x seed transfer: ``(rows, downstream, histories)``.

    ``histories`` are the pre-training runs' per-epoch rows (loss, images/s, data share)."""
    from .pretraining import pretrain as _pretrain
    from .transfer import transfer

    pretrain_fn = pretrain_fn or _pretrain
    cfg.check_sizes(len(tk.splits(cfg.source).classnames))
    down = {d: load_downstream(tk, d, cfg) for d in cfg.downstream}
    rows, histories = [], []
    for init, method, n in _plan(cfg):
        for seed in cfg.seeds:
            model: Any = cfg.backbone
            run_key = f"scratch-{cfg.backbone}-{cfg.norm}"
            if init != "scratch":
                x, y = source_set(tk, cfg, init, n, seed)
                res = pretrain_fn(cfg.pretrain_config(method, seed), x, y, log=False)
                model, run_key = res, res.run_key
                histories += [{"init": init, "method": method, "images_per_class": n, "seed": seed, **h} for h in res.history]
            tc = cfg.transfer_config(seed)
            for d in down.values():
                key = {"pretrain": run_key, "downstream": d.key, "transfer": tc.cache_key(), "seed": seed}

                def compute(d: Downstream = d) -> dict[str, Any]:
                    m, _ = transfer(model, d.splits, tc, norm=cfg.norm)
                    return {k: m[k] for k in CELL_FIELDS}

                out = grid.cell(key, compute)
                rows.append({"init": init, "method": method, "images_per_class": n, "downstream": d.name, "seed": seed,
                             **{k: out[k] for k in CELL_FIELDS}})  # fixed order: a read-back cell has sorted keys
                if log:
                    log(f"{init:9s} {method:10s} n={n:3d} -> {d.name}: {100 * out['test_acc']:.1f}% (seed {seed})")
    return pd.DataFrame(rows), down, histories


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std test accuracy (%) over seeds, per (init, method, size) and downstream dataset."""
    g = df.groupby(["init", "method", "images_per_class", "downstream"])["test_acc"]
    out = (g.agg(["mean", "std", "count"]) * [100, 100, 1]).reset_index()
    return out.rename(columns={"mean": "test_acc_mean", "std": "test_acc_std", "count": "seeds"})


def study_config(params: dict[str, Any]) -> StudyConfig:
    """A :class:`StudyConfig` from the notebook's parameters (the fields it names)."""
    names = {f.name for f in dataclasses.fields(StudyConfig)}
    return StudyConfig(**{k: v for k, v in params.items() if k in names})


def throughput(histories: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Pre-training images/s and the data-loading share of step time, per (init, method)."""
    h = pd.DataFrame(list(histories))
    if not len(h):
        return h
    return h.groupby(["init", "method"])[["images_per_s", "data_share"]].mean().reset_index()


def plot(df: pd.DataFrame, profile: str) -> Any:
    """Transfer accuracy against synthetic images per class, one panel per downstream dataset;
    scratch and real pre-training as horizontal lines (mean ± std over seeds)."""
    import matplotlib.pyplot as plt

    from .report import stamp

    s = summary(df)
    names = sorted(s["downstream"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), squeeze=False)
    for ax, d in zip(axes[0], names):
        g = s[s["downstream"] == d]
        for m, gm in g[g["init"] == "synthetic"].groupby("method"):
            ax.errorbar(gm["images_per_class"], gm["test_acc_mean"], gm["test_acc_std"], marker="o", capsize=3, label=f"synthetic, {m}")
        for (init, m), gm in g[g["init"] != "synthetic"].groupby(["init", "method"]):
            ax.axhline(gm["test_acc_mean"].iloc[0], ls="--" if init == "real" else ":", color="gray" if init == "scratch" else None,
                       label=f"{init}" + ("" if init == "scratch" else f", {m}"))
        ax.set(title=d, xlabel="synthetic images per class (pre-training)", ylabel="test accuracy (%)")
        ax.legend(fontsize=7)
    stamp(fig, profile)
    fig.tight_layout()
    return fig
