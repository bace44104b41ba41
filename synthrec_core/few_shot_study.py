"""The few-shot section's experiments (paper §2): k real shots per class, with and without synthetic data.

Every function runs cells through a :class:`~synthrec_core.grid.Grid` (finished cells are written
as they complete; a warm re-run reads them back) and returns a tidy ``DataFrame``:

- :class:`FewShotConfig`: shots, synthetic images per class (equal for every strategy), the
  LE pool, real-guidance strengths per k, the mix-training head recipe;
- :func:`synthetic_set`: one strategy's synthetic features for a (dataset, k, seed):
  **B** (LE prompts + CLIP filter, the zero-shot recipe), **RF** (the same LE pool, real filter
  ``filtering.real_filter``: drop an image nearer to another class's real shots than to its own;
  ties kept; then the first ``syn_per_class`` kept per class in pool order, topped up in pool
  order if too few pass) and **RG** (each real shot through the generator's img2img path at ``strength(k)``);
- :func:`curves`: accuracy vs shots for every baseline of :mod:`synthrec_core.few_shot` and every
  synthetic strategy with mix training (the paper's Fig. 1 and its B / RF / RG comparison);
- :func:`training_modes`: mix vs phase-wise (syn→real, real→syn), Table 7;
- :func:`saturation`: synthetic images per class at the largest k;
- :func:`bn_grid`: end-to-end image-tower tuning with BatchNorm frozen vs not (Table 6);
- :func:`rg_gallery`: real shots beside their RG variants at several strengths.

The k-shot draw seed, the generation seed and the training seed are one ``seed`` per cell.
All choices (epoch, Tip's alpha/beta, CoOp's context, probe C) are made on validation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .classifier import HeadConfig, mix_train, phase_train, predict
from .config import Config, check, check_choice
from .features import encode_images
from .grid import Grid
from .zero_shot_study import Prepared, _tensors

__all__ = ["FewShotConfig", "STRATEGIES", "MODES", "shots", "write_references", "synthetic_set", "curves", "training_modes",
           "saturation", "bn_grid", "rg_set", "rg_gallery", "check_shots"]

STRATEGIES = ("B", "RF", "RG")
MODES = ("mix", "syn_real", "real_syn")
#: the paper's t*/T per k (t* = 50 / 40 / 35 / 20 / 15 of 100 steps for 1 / 2 / 4 / 8 / 16 shots)
PAPER_STRENGTHS = ((1, 0.50), (2, 0.40), (4, 0.35), (8, 0.20), (16, 0.15))


@dataclass(frozen=True)
class FewShotConfig(Config):
    """One few-shot study. Defaults are the paper's (800 synthetic images per class, mix training)."""

    shots: tuple[int, ...] = (1, 2, 4, 8, 16)
    syn_per_class: int = 800  # synthetic images per class, the same for B, RF and RG
    pool_per_class: int = 2000  # LE images generated per class, among which CF (B) or RF (RF) choose
    le_sentences: int = 200
    strengths: tuple[tuple[int, float], ...] = PAPER_STRENGTHS  # RG: (k, t*/T)
    head: HeadConfig = field(default_factory=HeadConfig.paper_mix)  # lr 1e-3, syn batch 512 + real 32, SCE

    def __post_init__(self) -> None:
        object.__setattr__(self, "shots", tuple(self.shots))
        object.__setattr__(self, "strengths", tuple((int(k), float(s)) for k, s in self.strengths))
        if isinstance(self.head, dict):
            object.__setattr__(self, "head", HeadConfig.from_dict(self.head))
        super().__post_init__()

    def validate(self) -> None:
        check(len(self.shots) > 0 and len(set(self.shots)) == len(self.shots), f"shots={self.shots} must be non-empty and unique")
        check(all(isinstance(k, int) and k >= 1 for k in self.shots), f"shots={self.shots} must be integers >= 1")
        for name in ("syn_per_class", "pool_per_class", "le_sentences"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an integer >= 1")
        check(self.pool_per_class >= self.syn_per_class, f"pool_per_class={self.pool_per_class} < syn_per_class={self.syn_per_class}")
        for k, s in self.strengths:
            check(0 < s <= 1, f"strength {s!r} for k={k} must be in (0, 1]")
        missing = [k for k in self.shots if k not in dict(self.strengths)]
        check(not missing, f"no real-guidance strength for shots {missing}; give (k, strength) pairs in strengths")

    def strength(self, k: int) -> float:
        """RG strength t*/T for ``k`` shots."""
        return dict(self.strengths)[k]


def check_shots(prepared: Sequence[Prepared], shots: Sequence[int]) -> None:
    """Raise before any work if some k exceeds the smallest training class of a dataset."""
    for p in prepared:
        fewest = int(np.bincount(p.splits.train.labels, minlength=len(p.splits.classnames)).min())
        check(max(shots) <= fewest, f"k={max(shots)} is larger than the smallest training class of {p.name!r} ({fewest} images)")


def shots(tk: Any, p: Prepared, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k-shot draw from **train only**: ``(train indices, features, labels)`` (features cached)."""
    from .data import kshot_indices

    idx = kshot_indices(p.splits.train, k, seed)
    feats = encode_images(tk.encoder, p.splits.train.images[idx], progress=False)
    return idx, feats, p.splits.train.labels[idx]


def write_references(images: np.ndarray, size: tuple[int, int], root: Path | None = None) -> list[str]:
    """PNG files of the real shots, named by content (so the engine's reference hash is stable).
    A shot of another size than the generator's ``(height, width)`` is an error."""
    from PIL import Image

    from .paths import cache_dir
    from .utils import stable_hash

    root = Path(root) if root is not None else cache_dir() / "references"
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for a in np.asarray(images):
        check(a.shape[:2] == tuple(size), f"reference image of size {a.shape[:2]} != the generator's {tuple(size)}")
        check(a.dtype == np.uint8 and a.ndim in (2, 3), f"reference image must be uint8 grey or RGB, got {a.dtype} {a.shape}")
        path = root / f"{stable_hash(a.tobytes().hex(), length=20)}.png"
        if not path.exists():
            Image.fromarray(a).save(path)
        out.append(str(path))
    return out


def rg_set(tk: Any, p: Prepared, idx: np.ndarray, y: np.ndarray, strength: float, per_ref: int, seed: int) -> Any:
    """The RG set of a draw: each real shot (train rows ``idx``, labels ``y``) noised to
    ``strength`` = t*/T and denoised with its class's basic prompt, ``per_ref`` images each.
    Its manifest names every image's reference (content hash) and strength."""
    from .generation import generate
    from .jobs import GenerationJob
    from .zero_shot import basic_prompts

    refs = write_references(p.splits.train.images[idx], (tk.gen["height"], tk.gen["width"]))
    by_class = tuple(tuple(r for r, c in zip(refs, y) if c == j) for j in range(len(p.splits.classnames)))
    job = GenerationJob(classnames=tuple(p.splits.classnames), sentences=tuple(basic_prompts(p.splits, p.spec)),
                        references=by_class, strength=float(strength), images_per_prompt=per_ref, seed=seed, **tk.gen)
    return generate(job, tk.pipeline, progress=False)


def _first(labels: np.ndarray, order: np.ndarray, keep: np.ndarray, n: int) -> np.ndarray:
    """Rows: per class the first ``n`` of ``order`` with ``keep``, topped up in ``order`` if too few."""
    rows = []
    for c in np.unique(labels):
        mine = [i for i in order if labels[i] == c]
        good = [i for i in mine if keep[i]][:n]
        rows += good + [i for i in mine if not keep[i]][: n - len(good)]
    return np.sort(np.asarray(rows, dtype=np.int64))


def synthetic_set(tk: Any, p: Prepared, strategy: str, k: int, seed: int, cfg: FewShotConfig,
                  real: tuple[np.ndarray, np.ndarray, np.ndarray], n: int | None = None) -> dict[str, Any]:
    """``{"x", "y", "set_key", "kept_share"}``: ``n`` (default ``cfg.syn_per_class``) images per class of ``strategy``."""
    from .filtering import real_filter
    from .generation import generate
    from .zero_shot import ZeroShotConfig, pool_job, pool_order, recipe_prompts, select_images

    check_choice("strategy", strategy, STRATEGIES)
    n = n or cfg.syn_per_class
    if strategy == "RG":
        s = rg_set(tk, p, real[0], real[2], cfg.strength(k), math.ceil(n / k), seed)
        feats = encode_images(tk.encoder, s, progress=False)
        m = s.manifest()
        labels = m["class_index"].to_numpy()
        rows = _first(labels, m.sort_values(["class_index", "image_index", "reference_index"]).index.to_numpy(), np.ones(len(m), bool), n)
        return {"x": feats[rows], "y": labels[rows], "set_key": s.key, "kept_share": 1.0}
    zc = ZeroShotConfig(prompts="le", cf=True, train_per_class=n, pool_per_class=cfg.pool_per_class, le_sentences=cfg.le_sentences)
    prompts = recipe_prompts(p.splits, p.spec, zc, seed, tk.enhancer)
    s = generate(pool_job(list(p.splits.classnames), prompts, cfg.pool_per_class, tk.gen, seed), tk.pipeline, progress=False)
    feats = encode_images(tk.encoder, s, progress=False)
    labels = s.manifest()["class_index"].to_numpy()
    if strategy == "B":
        rows, d, _ = select_images(s, feats, p.head, zc, seed, tk.encoder.key())
        return {"x": feats[rows], "y": labels[rows], "set_key": s.key, "kept_share": float(d["passed"].mean())}
    order = pool_order(s.manifest())
    pool = _first(labels, order, np.ones(len(labels), bool), cfg.pool_per_class)
    d = real_filter(feats[pool], labels[pool], real[1], real[2])
    keep = np.zeros(len(labels), bool)
    keep[pool[d["kept"].to_numpy()]] = True
    in_pool = set(pool.tolist())
    rows = _first(labels, np.asarray([i for i in order if i in in_pool]), keep, n)
    return {"x": feats[rows], "y": labels[rows], "set_key": s.key, "kept_share": float(d["kept"].mean())}


def _train(p: Prepared, syn: dict[str, Any], real: tuple, cfg: FewShotConfig, seed: int, mode: str) -> dict[str, Any]:
    check_choice("mode", mode, MODES)
    hc = cfg.head.replace(seed=seed, batch_size=min(cfg.head.batch_size, len(syn["y"])),
                          real_batch_size=min(cfg.head.real_batch_size, len(real[2])))
    args = (p.head, (syn["x"], syn["y"]), (real[1], real[2]))
    head, hist = mix_train(*args, hc, val=p.real["val"]) if mode == "mix" else phase_train(*args, hc, val=p.real["val"], order=mode)
    pred = predict(head, p.real["test"][0])
    return {"test_acc": float((pred == p.real["test"][1]).mean()), "test_pred": pred.astype(int).tolist(),
            "val_acc": float(max(r["val_acc"] for r in hist if r["selected"])), "set_key": syn["set_key"], "kept_share": syn["kept_share"]}


def _key(p: Prepared, cfg: FewShotConfig, k: int, seed: int, what: dict[str, Any]) -> dict[str, Any]:
    return {**p.key, "few_shot": dataclasses.asdict(cfg) | {"head": cfg.head.cache_key()}, "k": k, "seed": seed, **what}


def _syn_cell(tk: Any, p: Prepared, strategy: str, mode: str, k: int, seed: int, cfg: FewShotConfig, grid: Grid,
              n: int | None = None) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        real = shots(tk, p, k, seed)
        return _train(p, synthetic_set(tk, p, strategy, k, seed, cfg, real, n), real, cfg, seed, mode)
    return grid.cell(_key(p, cfg, k, seed, {"strategy": strategy, "mode": mode, "n": n or cfg.syn_per_class}), run)


def _baseline_cell(tk: Any, p: Prepared, method: str, k: int, seed: int, cfg: FewShotConfig, grid: Grid,
                   options: dict[str, Any]) -> dict[str, Any]:
    from .classifier import accuracy
    from .few_shot import ClassText, run_methods

    def run() -> dict[str, Any]:
        _, x, y = shots(tk, p, k, seed)
        text = ClassText(tk.model, tk.tokenizer, tuple(p.splits.classnames))
        res = run_methods([method], (x, y), p.real["val"], p.head, text, {m: o for m, o in options.items() if m == method})[method]
        pred = predict(res.predictor, p.real["test"][0])
        return {"test_acc": accuracy(res.predictor, *p.real["test"]), "test_pred": pred.astype(int).tolist(),
                "val_acc": float(res.chosen.get("val_acc", np.nan)), "chosen": {a: b for a, b in res.chosen.items() if a != "grid"}}
    return grid.cell(_key(p, cfg, k, seed, {"method": method, "options": repr(options.get(method))}), run)


def curves(tk: Any, prepared: Sequence[Prepared], seeds: Sequence[int], cfg: FewShotConfig, grid: Grid,
           methods: Sequence[str], strategies: Sequence[str] = STRATEGIES, options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Accuracy vs shots: every baseline in ``methods`` and every strategy (mix training), per dataset and seed."""
    from .few_shot import METHODS

    for m in methods:
        check_choice("method", m, list(METHODS))
    for s in strategies:
        check_choice("strategy", s, STRATEGIES)
    check_shots(prepared, cfg.shots)
    rows = []
    for p in prepared:
        for k in cfg.shots:
            for seed in seeds:
                for m in methods:
                    r = _baseline_cell(tk, p, m, k, seed, cfg, grid, dict(options or {}))
                    rows.append({"dataset": p.name, "k": k, "seed": seed, "method": m, **r})
                for s in strategies:
                    r = _syn_cell(tk, p, s, "mix", k, seed, cfg, grid)
                    rows.append({"dataset": p.name, "k": k, "seed": seed, "method": f"syn_{s}", **r})
    return pd.DataFrame(rows)


def training_modes(tk: Any, prepared: Sequence[Prepared], seeds: Sequence[int], cfg: FewShotConfig, grid: Grid,
                   strategy: str = "RG") -> pd.DataFrame:
    """Mix vs phase-wise training per shot count, on the ``strategy`` set (Table 7)."""
    rows = [{"dataset": p.name, "k": k, "seed": s, "mode": mode, **_syn_cell(tk, p, strategy, mode, k, s, cfg, grid)}
            for p in prepared for k in cfg.shots for s in seeds for mode in MODES]
    return pd.DataFrame(rows)


def saturation(tk: Any, p: Prepared, sizes: Sequence[int], seeds: Sequence[int], cfg: FewShotConfig, grid: Grid,
               strategy: str = "RG") -> pd.DataFrame:
    """Synthetic images per class at the largest k (0 = CT on the real shots only)."""
    k = max(cfg.shots)
    rows = [{"dataset": p.name, "images_per_class": 0, "seed": s, **_baseline_cell(tk, p, "ct_real", k, s, cfg, grid, {})} for s in seeds]
    for n in sorted(sizes):
        big = cfg.replace(pool_per_class=max(cfg.pool_per_class, n))
        rows += [{"dataset": p.name, "images_per_class": n, "seed": s, **_syn_cell(tk, p, strategy, "mix", k, s, big, grid, n)}
                 for s in seeds]
    return pd.DataFrame(rows)


def bn_grid(tk: Any, p: Prepared, k: int, seeds: Sequence[int], cfg: FewShotConfig, grid: Grid, epochs: int = 10,
            val_images: int = 300) -> pd.DataFrame:
    """The whole image tower tuned end to end on the k real shots, or on the RG set, with BN frozen
    or not (Table 6). Validation: a fixed stratified draw of at most ``val_images`` images."""
    from .data import stratified_subsample
    from .tower_tuning import TowerConfig, encode_tower, tune_tower

    vidx = np.sort(stratified_subsample(p.splits.val.labels, min(val_images, len(p.splits.val)), seed=0))

    @functools.cache
    def evaluation() -> tuple[Any, Any]:
        """(val images and labels, test images) as tower inputs: made once, and only if a cell computes."""
        return (_tensors(tk, p.splits.val.images[vidx]), p.splits.val.labels[vidx]), _tensors(tk, p.splits.test.images)

    rows = []
    for s in seeds:
        for data in ("real", "synthetic"):
            for freeze in (True, False):
                def run(data: str = data, freeze: bool = freeze, s: int = s) -> dict[str, Any]:
                    idx, _, y = shots(tk, p, k, s)
                    if data == "real":
                        x = _tensors(tk, p.splits.train.images[idx])
                    else:
                        x, y = _rg_images(tk, p, k, s, cfg, idx, y)
                    tc = TowerConfig(parts="all", freeze_bn=freeze, train=cfg.head.replace(
                        loss="ce", epochs=epochs, seed=s, batch_size=min(32, len(y)), lr=cfg.head.lr * 0.1))
                    val, test = evaluation()
                    model, head, _ = tune_tower(tk.model, p.head, x, y, tc, val=val)
                    pred = predict(head, encode_tower(model, test).numpy())
                    return {"test_acc": float((pred == p.real["test"][1]).mean()), "test_pred": pred.astype(int).tolist()}
                r = grid.cell(_key(p, cfg, k, s, {"bn": freeze, "data": data, "epochs": epochs, "val": val_images}), run)
                rows.append({"dataset": p.name, "k": k, "seed": s, "data": data, "bn": "frozen" if freeze else "trained", **r})
    return pd.DataFrame(rows)


def _rg_images(tk: Any, p: Prepared, k: int, seed: int, cfg: FewShotConfig, idx: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """The RG images of a draw as preprocessed tensors (for end-to-end tuning)."""
    s = rg_set(tk, p, idx, y, cfg.strength(k), math.ceil(cfg.syn_per_class / k), seed)
    m = s.manifest()
    return _tensors(tk, s.load_images(m["id"])), m["class_index"].to_numpy()


def rg_gallery(tk: Any, p: Prepared, strengths: Sequence[float], per_class: int = 1, seed: int = 0) -> dict[str, Any]:
    """Real shots (one draw of ``per_class`` per class) and, per strength, one RG image of each:
    ``{"real": [N, H, W(, 3)], "strengths": [...], "rg": {strength: images}, "manifest": rows naming the reference}``."""
    idx, _, y = shots(tk, p, per_class, seed)
    out: dict[str, Any] = {"real": p.splits.train.images[idx], "strengths": list(strengths), "rg": {}, "manifest": []}
    for st in strengths:
        s = rg_set(tk, p, idx, y, st, 1, seed)
        m = s.manifest().sort_values(["class_index", "reference_index"])
        out["rg"][st] = np.stack([np.asarray(im) for im in s.load_images(m["id"])])
        out["manifest"] += m[["id", "reference", "strength"]].to_dict("records")
    return out
