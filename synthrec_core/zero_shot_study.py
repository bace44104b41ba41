"""The zero-shot section's experiments (paper §1), each a function over the one recipe.

Every function runs cells of :func:`synthrec_core.zero_shot.run_recipe` (or of CT on cached
features) through a :class:`~synthrec_core.grid.Grid`, so finished cells are written as they
complete and a warm re-run reads them back, and returns a tidy ``DataFrame`` the notebook
saves under ``results/``:

- :func:`prepare`: a dataset's splits, cached real features and zero-shot head;
- :func:`variants` / :func:`ablation`: the paper's Table 2 columns (B / LE / LE+CF x CE / SCE)
  per dataset and seed; its LE+CF-SCE column is Table 1 (generation seed and CT seed vary);
- :func:`saturation`: accuracy against images per class, every size of a seed cut from one set
  of the largest size (nested: per-image seeds do not depend on the set);
- :func:`prompt_style`: the head initialised from the best single template vs the ensemble;
- :func:`tower_grid`: head only vs the last block vs the whole image tower (Table 3);
- :func:`from_scratch`: a small network trained from scratch on real vs synthetic images;
- :func:`audit`: nearest real *test* images of each kept synthetic set.

The findings F1-F8 are computed from these tables by :mod:`synthrec_core.zero_shot_findings`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .features import data_key, encode_images
from .grid import Grid
from .utils import stable_hash
from .zero_shot import ZeroShotConfig, config_key, recipe_prompts, run_recipe, zero_shot_head

__all__ = ["Prepared", "prepare", "variants", "ablation", "saturation", "prompt_style", "tuned_share", "tower_grid", "audit",
           "audit_examples", "first_cell", "cell_set", "from_scratch", "VARIANTS"]

#: the paper's Table 2 columns: (prompts, cf, loss)
VARIANTS = {"B-CE": ("basic", False, "ce"), "B-SCE": ("basic", False, "sce"), "LE-CE": ("le", False, "ce"),
            "LE-SCE": ("le", False, "sce"), "LE+CF-CE": ("le", True, "ce"), "LE+CF-SCE": ("le", True, "sce")}


@dataclasses.dataclass
class Prepared:
    """One dataset, ready for the recipe: splits, cached real features, the zero-shot head."""

    name: str
    splits: Any
    spec: Any
    real: dict[str, tuple[np.ndarray, np.ndarray]]
    head: Any
    zero_shot: dict[str, Any]
    key: dict[str, Any]


def prepare(tk: Any, name: str, seed: int = 0, template: str | None = None) -> Prepared:
    """Load ``name`` (registered or a folder), encode val/test once (cached), choose the zero-shot
    template on val (``template`` forces one, e.g. ``"<ensemble>"``) and score it on test."""
    from .classifier import accuracy, predict

    splits = tk.splits(name, seed=seed)
    spec = tk.prompt_spec(name)
    real = {}
    for part in ("val", "test"):
        imgs = _split_images(splits[part])
        real[part] = (encode_images(tk.encoder, imgs, progress=False), splits[part].labels)
    head, info = zero_shot_head(tk.model, tk.tokenizer, splits, spec, real["val"], only=template)
    pred = predict(head, real["test"][0])
    zs = {"test_acc": accuracy(head, *real["test"]), "test_pred": pred.astype(int).tolist(), **info}
    key = {"dataset": name, "split_seed": seed, "val": data_key(_split_images(splits.val)), "test": data_key(_split_images(splits.test)),
           "labels": data_key(np.concatenate([splits.val.labels, splits.test.labels]).astype(np.int64)),
           "encoder": tk.encoder.key(), "head": zs["template"], "spec": spec.cache_key(), "gen": _gen_key(tk)}
    return Prepared(name, splits, spec, real, head, zs, key)


def _split_images(ds: Any) -> Any:
    """What the feature cache can key: the array, the file paths, or decoded PIL images."""
    if ds.images is not None:
        return ds.images
    if ds.paths is not None:
        return [str(p) for p in ds.paths]
    return [ds.image(i) for i in range(len(ds))]


def _gen_key(tk: Any) -> dict[str, Any]:
    from .models import generator_identity

    g = tk.gen
    return {k: v for k, v in g.items() if k not in ("device",)} | {
        "weights": generator_identity(g["pipeline_id"], g.get("revision"), tk.pipeline)}


def variants(base: ZeroShotConfig, names: Sequence[str] = tuple(VARIANTS)) -> dict[str, ZeroShotConfig]:
    """The Table-2 recipes built from ``base`` (its sizes and head; B has no pool beyond K)."""
    from .config import check_choice

    out = {}
    for n in names:
        check_choice("variant", n, VARIANTS)
        prompts, cf, loss = VARIANTS[n]
        pool = base.pool_per_class if prompts == "le" else base.train_per_class
        out[n] = base.replace(prompts=prompts, cf=cf, pool_per_class=pool, head=base.head.replace(loss=loss))
    return out


def _cell(tk: Any, p: Prepared, cfg: ZeroShotConfig, seed: int, grid: Grid, progress: bool, **kw: Any) -> dict[str, Any]:
    """One recipe cell; its key holds the prompts' hash, so changed LE sentences never reuse a cell."""
    prompts = recipe_prompts(p.splits, p.spec, cfg, seed, tk.enhancer)
    key = {**p.key, **config_key(cfg), "seed": seed, "prompts": stable_hash(prompts), **kw}
    return grid.cell(key, lambda: run_recipe(p.splits, p.spec, cfg, seed, encoder=tk.encoder, tokenizer=tk.tokenizer,
                                             head=p.head, real=p.real, gen=tk.gen, pipeline=tk.pipeline, enhancer=tk.enhancer,
                                             progress=progress, prompts=prompts, **kw))


def _row(p: Prepared, label: str, seed: int, res: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"dataset": p.name, "variant": label, "seed": seed, "test_acc": res["test_acc"], "zero_shot": p.zero_shot["test_acc"],
            "gain": res["test_acc"] - p.zero_shot["test_acc"], "val_acc": res["val_acc"], "epoch": res["epoch"],
            "cf_pass_rate": res["cf_pass_rate"], "set_key": res["set_key"], "table": res["table"],
            "fallback_classes": len(res["fallback_classes"]), "test_pred": res["test_pred"], **extra}


def ablation(tk: Any, prepared: Sequence[Prepared], seeds: Sequence[int], base: ZeroShotConfig, grid: Grid,
             names: Sequence[str] = tuple(VARIANTS), progress: bool = True) -> pd.DataFrame:
    """Every variant on every dataset and seed (generation seed = CT seed = ``seed``)."""
    rows = []
    for p in prepared:
        for label, cfg in variants(base, names).items():
            for s in seeds:
                rows.append(_row(p, label, s, _cell(tk, p, cfg, s, grid, progress)))
    return pd.DataFrame(rows)


def saturation(tk: Any, p: Prepared, sizes: Sequence[int], base: ZeroShotConfig, grid: Grid, seeds: Sequence[int],
               progress: bool = True) -> pd.DataFrame:
    """Accuracy against images per class (LE prompts, SCE; no CF, which would multiply the images
    generated by its pool ratio), per seed (generation seed = CT seed). Every size of a seed is
    cut from that seed's one set of the largest size (per-image seeds do not depend on the set),
    whose first images are also the headline LE pool: the curve costs only its largest sets."""
    biggest = max(sizes)
    rows = [{"dataset": p.name, "images_per_class": 0, "seed": s, "test_acc": p.zero_shot["test_acc"],
             "test_pred": p.zero_shot["test_pred"]} for s in seeds]
    for n in sorted(sizes):
        cfg = base.replace(prompts="le", cf=False, train_per_class=n, pool_per_class=n)
        for s in seeds:
            res = _cell(tk, p, cfg, s, grid, progress, set_per_class=biggest)
            rows.append({"dataset": p.name, "images_per_class": n, "seed": s, "test_acc": res["test_acc"],
                         "test_pred": res["test_pred"], "set_key": res["set_key"]})
    return pd.DataFrame(rows)


def prompt_style(tk: Any, prepared: Sequence[Prepared], seeds: Sequence[int], cfg: ZeroShotConfig, grid: Grid,
                 progress: bool = True) -> pd.DataFrame:
    """The same LE+CF sets tuned from two heads per dataset: the best single template (chosen on
    val) and the ensemble of all templates."""
    rows = []
    for p in prepared:
        scores = p.zero_shot["val_by_template"]
        single = max((t for t in scores if t != "<ensemble>"), key=lambda t: scores[t])
        heads = {"single template": prepare(tk, p.name, template=single)}
        if "<ensemble>" in scores:
            heads["ensemble"] = prepare(tk, p.name, template="<ensemble>")
        for style, q in heads.items():
            for s in seeds:
                rows.append(_row(q, style, s, _cell(tk, q, cfg, s, grid, progress), template=q.zero_shot["template"]))
    return pd.DataFrame(rows)


def _tensors(tk: Any, images: Any) -> Any:
    """Preprocessed image tensors ``[N, C, H, W]`` (the CLIP's own preprocessing)."""
    import torch
    from PIL import Image

    ims = [Image.fromarray(a) for a in images] if isinstance(images, np.ndarray) else list(images)
    return torch.stack([tk.preprocess(im) for im in ims])


def _kept(row: dict[str, Any]) -> tuple[Any, Any]:
    """The set of a cell and the manifest rows it kept."""
    from .paths import cache_dir
    from .sets import SyntheticSet

    s = SyntheticSet(cache_dir() / "sets" / row["set_key"])
    d = s.read_table(row["table"])
    m = s.manifest()
    return s, m[m["id"].isin(set(d.loc[d["kept"], "id"]))]


def tuned_share(tk: Any, p: Prepared, row: dict[str, Any], parts: Sequence[str], ct_seeds: Sequence[int], cfg: ZeroShotConfig,
                grid: Grid, val_images: int = 2000, eval_every: int = 5) -> pd.DataFrame:
    """Head only vs the last block vs the whole image tower, tuned end to end on the images a
    cell kept (paper Table 3); the CT recipe of ``cfg``, BN frozen, CT seed varies. End-to-end
    tuning re-encodes the validation images at every check, so the epoch is chosen every
    ``eval_every`` epochs on a fixed stratified draw of at most ``val_images`` validation images."""
    from .classifier import predict
    from .data import stratified_subsample
    from .tower_tuning import TowerConfig, encode_tower, parameter_share, tune_tower

    s, kept = _kept(row)
    x = _tensors(tk, s.load_images(kept["id"]))
    y = kept["class_index"].to_numpy()
    vidx = np.sort(stratified_subsample(p.splits.val.labels, min(val_images, len(p.splits.val)), seed=0))
    val = p.splits.val.subset(vidx)
    tensors = {}
    rows = []
    for part in parts:
        for seed in ct_seeds:
            tc = TowerConfig(parts=part, freeze_bn=True, train=cfg.head.replace(seed=seed, batch_size=min(cfg.head.batch_size, len(y)),
                                                                               eval_every=eval_every))
            key = {**p.key, "tower": tc.cache_key(), "set": row["set_key"], "table": row["table"], "seed": seed,
                   "val_draw": [int(len(vidx)), 0]}

            def run(tc=tc) -> dict[str, Any]:
                if not tensors:
                    tensors.update({"val": _tensors(tk, _split_images(val)), "test": _tensors(tk, _split_images(p.splits.test))})
                model, head, hist = tune_tower(tk.model, p.head, x, y, tc, val=(tensors["val"], val.labels))
                pred = predict(head, encode_tower(model, tensors["test"]).numpy())
                share = parameter_share(tk.model, p.head, tc.parts, tc.freeze_bn)
                return {"test_acc": float((pred == p.splits.test.labels).mean()), "test_pred": pred.astype(int).tolist(),
                        "epoch": int(next(r["epoch"] for r in hist if r["selected"])), "share": share}

            res = grid.cell(key, run)
            rows.append({"dataset": p.name, "parts": part, "seed": seed, "test_acc": res["test_acc"], "epoch": res["epoch"],
                         "share_tuned": res["share"]["share"],
                         "test_pred": res["test_pred"], "zero_shot": p.zero_shot["test_acc"]})
    return pd.DataFrame(rows)


def audit(tk: Any, p: Prepared, row: dict[str, Any], threshold: float = 0.95, reference: int = 2000) -> dict[str, Any]:
    """Contamination audit of the images a cell kept against the real test split, calibrated by
    ``reference`` real train images (their own nearest-test-image cosines)."""
    from .audit import contamination_audit

    s, kept = _kept(row)
    feats = encode_images(tk.encoder, s, progress=False)[kept.index.to_numpy()]
    imgs = s.load_images(kept["id"])
    test_imgs = p.splits.test.images if p.splits.test.images is not None else [p.splits.test.image(i) for i in range(len(p.splits.test))]
    train = p.splits.train
    pick = np.random.default_rng(0).permutation(len(train))[:reference]
    ref = encode_images(tk.encoder, _split_images(train.subset(np.sort(pick))), progress=False)
    out = contamination_audit(feats, imgs, p.real["test"][0], test_imgs, threshold=threshold, reference_feats=ref)
    out["ids"] = kept["id"].tolist()
    out["set_key"] = row["set_key"]
    return out


def first_cell(df: pd.DataFrame, dataset: str, variant: str, seed: int | None = None) -> dict[str, Any]:
    """The row of ``variant`` on ``dataset`` with ``seed`` (default: the lowest seed)."""
    d = df[(df["dataset"] == dataset) & (df["variant"] == variant) & ((df["seed"] == seed) if seed is not None else True)]
    d = d.sort_values("seed")
    if not len(d):
        from .config import ConfigError

        raise ConfigError(f"no {variant!r} cell for dataset {dataset!r} in the table")
    return d.iloc[0].to_dict()


def cell_set(row: dict[str, Any]) -> tuple[Any, pd.DataFrame]:
    """A cell's synthetic set and its selection table (CLIP scores, kept)."""
    s, _ = _kept(row)
    return s, s.read_table(row["table"])


def tower_grid(tk: Any, prepared: Sequence[Prepared], ablation_df: pd.DataFrame, datasets: Sequence[str], parts: Sequence[str],
               seeds: Sequence[int], cfg: ZeroShotConfig, grid: Grid) -> pd.DataFrame:
    """:func:`tuned_share` on each seed's LE+CF-SCE set of each of ``datasets`` (generation seed =
    CT seed, so the spread includes the images, not only the data order)."""
    by_name = {p.name: p for p in prepared}
    frames = []
    for d in datasets:
        p = by_name[d] if d in by_name else prepare(tk, d)
        for s in seeds:
            frames.append(tuned_share(tk, p, first_cell(ablation_df, d, "LE+CF-SCE", seed=s), parts, [s], cfg, grid))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dataset", "parts", "seed", "test_acc"])


def audit_examples(p: Prepared, result: dict[str, Any], n: int = 8) -> list[tuple[Any, Any, float]]:
    """The ``n`` closest (synthetic image, real test image, cosine) pairs of an audit, as arrays."""
    from .sets import SyntheticSet
    from .paths import cache_dir

    s = SyntheticSet(cache_dir() / "sets" / result["set_key"])
    out = []
    for c in result["closest"][:n]:
        syn = np.asarray(s.load_images([result["ids"][c["synthetic"]]])[0].convert("L"))
        test = np.asarray(p.splits.test.image(c["test"]).convert("L"))
        out.append((syn, test, c["cosine"]))
    return out


def from_scratch(tk: Any, dataset: str, cfg: ZeroShotConfig, real_sizes: Sequence[int], syn_sizes: Sequence[int],
                 seeds: Sequence[int], grid: Grid, epochs: int = 30, backbone: str = "resnet-mini", gen_seed: int = 0,
                 progress: bool = True) -> pd.DataFrame:
    """A small network trained from scratch on n real or n synthetic images per class, same real
    val (epoch and lr chosen there) and test (paper: 500 synthetic images per class ≈ 95 real).

    Synthetic images are the full recipe's (LE + CF) at each size, cut from one set of the largest
    pool; real images are ``n`` per class drawn from train by seed. Training seed = ``seed``.
    """
    from .data import kshot_indices
    from .transfer import TransferConfig, transfer
    from .zero_shot import le_prompts, pool_job, select_images

    p = prepare(tk, dataset)
    ratio = cfg.pool_per_class / cfg.train_per_class
    job = pool_job(list(p.splits.classnames), le_prompts(p.splits, p.spec, cfg.le_sentences, gen_seed, tk.enhancer),
                   int(np.ceil(max(syn_sizes) * ratio)), tk.gen, gen_seed)
    tc = TransferConfig(epochs=epochs)
    val, test = (_split_images(p.splits.val), p.splits.val.labels), (_split_images(p.splits.test), p.splits.test.labels)
    rows = []

    def run(kind: str, n: int, seed: int) -> dict[str, Any]:
        key = {**p.key, "scratch": backbone, "transfer": tc.cache_key(), "data": kind, "n": n, "seed": seed,
               **({"set_job": job.replace(device="cpu").resolved(tk.pipeline).set_key} if kind == "synthetic" else {})}

        def compute() -> dict[str, Any]:
            if kind == "real":
                idx = kshot_indices(p.splits.train.labels, n, seed)
                train = (p.splits.train.images[idx], p.splits.train.labels[idx])
            else:
                from .generation import generate

                s = generate(job, tk.pipeline, progress=progress)
                feats = encode_images(tk.encoder, s, progress=False)
                rows_kept, _, _ = select_images(s, feats, p.head, cfg.replace(train_per_class=n,
                                                pool_per_class=max(n, int(np.ceil(n * ratio)))), gen_seed, tk.encoder.key())
                m = s.manifest().iloc[rows_kept]
                train = (_decode(s, m), m["class_index"].to_numpy())
            metrics, _ = transfer(backbone, (train, val, test), tc.replace(seed=seed))
            return {k: metrics[k] for k in ("test_acc", "val_acc", "test_pred", "selected", "n_train")}

        return grid.cell(key, compute)

    for kind, sizes in (("real", real_sizes), ("synthetic", syn_sizes)):
        for n in sizes:
            for seed in seeds:
                res = run(kind, n, seed)
                rows.append({"dataset": dataset, "data": kind, "images_per_class": n, "seed": seed, "test_acc": res["test_acc"],
                             "val_acc": res["val_acc"], "test_pred": res["test_pred"], "backbone": backbone})
    return pd.DataFrame(rows)


def _decode(s: Any, m: pd.DataFrame) -> np.ndarray:
    """A set's images (manifest rows ``m``) as uint8 ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]``."""
    from PIL import Image

    out = []
    for path in m["path"]:
        with Image.open(s.root / path) as im:
            out.append(np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB")))
    return np.stack(out)
