"""The mini world's three gates, measured with the same core recipe and engine as the paper profile.

- gate 1 (:func:`minigen_gate`): MiniGen's samples for each class prompt, made by the engine
  (rows of a grid share their starting noise), judged by an independent small CNN trained on the
  *corpus* images of those concepts, plus same-seed/different-prompt and different-seed/same-prompt
  pixel distances;
- gate 2 (:func:`miniclip_gate`): MiniCLIP zero-shot with the template chosen on validation
  (:func:`synthrec_core.zero_shot.zero_shot_head`), below a 16-shot linear probe;
- gate 3 (:func:`synthetic_gain`): the zero-shot recipe (:func:`synthrec_core.zero_shot.run_recipe`)
  with the gate-3 recipe's prompts, no CF, the paper's CT, minus zero-shot, per seed; beside the
  same tuning on corpus images (the ceiling a perfect generator could reach).

Thresholds, prompts and recipes are data (``profiles/mini.yaml``, section ``world``). Gates 2
and 3 can report on held-out *train* images instead of test (:data:`REPORT_SPLITS`), for
choosing between foundation-model variants without looking at test.
"""

from __future__ import annotations

import functools
import io
from typing import Any, Callable, Sequence

import numpy as np

from ..config import check, check_choice
from ..paths import cache_dir
from ..utils import atomic_write_bytes, stable_hash

__all__ = ["DATASETS", "REPORT_SPLITS", "HOLDOUT_SIZE", "HOLDOUT2_SIZE", "world", "mini_splits", "gate3_recipe",
           "recipe_prompts", "set_images", "class_grid", "stored_set", "prompt_grid", "train_judge", "miniclip_gate",
           "minigen_gate", "synthetic_gain", "run_gates"]

DATASETS = ("mnist", "digits", "animal_mnist", "fashion_mnist")
#: where gates 2 and 3 report: ``test``; ``holdout`` — a fixed draw of at most HOLDOUT_SIZE real
#: *train* images that no model or head trains on; ``holdout2`` — the next draw of the same
#: permutation (at most HOLDOUT2_SIZE, disjoint from the first)
REPORT_SPLITS = ("test", "holdout", "holdout2")
HOLDOUT_SIZE = 2000
HOLDOUT2_SIZE = 5000


@functools.lru_cache(maxsize=1)
def _world() -> dict[str, Any]:
    from ..profiles import section

    return section("mini", "world")


def world() -> dict[str, Any]:
    """The ``world`` section of the mini profile (thresholds, prompts, recipes), a fresh copy."""
    import copy

    return copy.deepcopy(_world())


def mini_splits(toolkit: Any, name: str, seed: int = 0, report_on: str = "test") -> Any:
    """The dataset at the mini framing. With ``report_on="holdout"`` ``test`` is replaced by a
    fixed draw of train images and ``train`` keeps the rest (so few-shot probes never see it);
    ``"holdout2"`` takes the next draw of the same permutation."""
    check_choice("report_on", report_on, REPORT_SPLITS)
    splits = toolkit.splits(name, seed=seed)
    if report_on == "test":
        return splits
    perm = np.random.default_rng(20230).permutation(len(splits.train))
    n = min(HOLDOUT_SIZE, len(perm) // 2)
    held = perm[:n] if report_on == "holdout" else perm[n : n + min(HOLDOUT2_SIZE, len(perm) - n)]
    rest = np.setdiff1d(perm, held)  # sorted
    return splits.replace(train=splits.train.subset(rest), test=splits.train.subset(np.sort(held), split=report_on))


def _entry(e: Any) -> tuple[str, str]:
    return (e, "class") if isinstance(e, str) else (e["template"], e.get("names", "class"))


def gate3_recipe(name: str) -> dict[str, Any]:
    """A gate-3 recipe by name: ``{"prompts": {dataset: (template, names)}, "styles", "head"}``,
    every dataset filled from the gate-1 prompts and styles where the recipe says nothing."""
    w = _world()
    check_choice("gate-3 recipe", name, w["gate3_recipes"])
    r = w["gate3_recipes"][name]
    unknown = sorted(set(r) - {"prompts", "styles", "head"})
    check(not unknown, f"gate-3 recipe {name!r} has unknown field(s) {unknown}")
    return {"prompts": {d: _entry(r.get("prompts", {}).get(d, w["gate1_prompts"][d])) for d in w["gate1_prompts"]},
            "styles": {**w["styles"], **r.get("styles", {})}, "head": dict(r.get("head", {}))}


def recipe_prompts(name: str) -> dict[str, tuple[str, str]]:
    """MiniGen's ``(template, names)`` per dataset under a gate-3 recipe."""
    return gate3_recipe(name)["prompts"]


# ------------------------------------------------------------------------------ sets as arrays
def set_images(s: Any) -> np.ndarray:
    """A set's images as uint8 ``[N, H, W]`` (grayscale) in manifest order."""
    from PIL import Image

    out = []
    for p in s.manifest()["path"]:
        with Image.open(s.root / p) as im:
            out.append(np.asarray(im.convert("L"), dtype=np.uint8))
    return np.stack(out)


def class_grid(s: Any) -> np.ndarray:
    """A set with the same number of images per class as uint8 ``[C, n, H, W]``."""
    m = s.manifest()
    x = set_images(s)
    c = int(m["class_index"].max()) + 1
    return x.reshape(c, -1, *x.shape[1:])


def stored_set(key: str) -> Any:
    """The engine's set with ``key`` (in the cache)."""
    from ..sets import SyntheticSet

    return SyntheticSet(cache_dir() / "sets" / key).require_complete()


def prompt_grid(toolkit: Any, labels: Sequence[str], prompts: Sequence[str], n: int, seed: int = 0, progress: bool = True) -> Any:
    """``n`` images per prompt (one "class" per label), image i of every prompt from the same noise."""
    return _gate_set(toolkit, labels, prompts, n, seed, progress)


def _gate_set(toolkit: Any, classnames: Sequence[str], prompts: Sequence[str], n: int, seed: int, progress: bool) -> Any:
    """``n`` engine images per prompt, image i of every prompt from the same noise."""
    from ..generation import GenerationJob, generate

    job = GenerationJob(classnames=tuple(classnames), sentences=tuple((p,) for p in prompts), images_per_prompt=n, seed=seed,
                        shared_noise=True, **toolkit.gen)
    return generate(job, toolkit.pipeline, progress=progress)


# ------------------------------------------------------------------------------ gate 2
def _real_features(toolkit: Any, splits: Any, parts: Sequence[str] = ("val", "test")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from ..features import encode_images

    return {p: (encode_images(toolkit.encoder, splits[p].images, progress=False), splits[p].labels) for p in parts}


def _zero_shot(toolkit: Any, name: str, splits: Any, real: dict) -> tuple[Any, dict[str, Any]]:
    from ..classifier import accuracy
    from ..zero_shot import zero_shot_head

    head, info = zero_shot_head(toolkit.model, toolkit.tokenizer, splits, toolkit.prompt_spec(name), real["val"])
    return head, {"test": accuracy(head, *real["test"]), "val": info["val_by_template"][info["template"]], **info}


def miniclip_gate(toolkit: Any, datasets: Sequence[str] = DATASETS, shots: int = 16, seeds: Sequence[int] = (0, 1, 2),
                  report_on: str = "test") -> dict[str, Any]:
    """Gate 2: zero-shot (template chosen on val) and a ``shots``-shot linear probe per dataset."""
    from ..classifier import accuracy, linear_probe
    from ..data import kshot_indices

    out: dict[str, Any] = {"miniclip_zero_shot": {}, "linear_probe_16shot": {}, "zero_shot_detail": {}, "chance": {}}
    from ..features import encode_images

    for name in datasets:
        splits = mini_splits(toolkit, name, report_on=report_on)
        real = _real_features(toolkit, splits)
        _, zs = _zero_shot(toolkit, name, splits, real)
        probes = []
        for seed in seeds:
            idx = kshot_indices(splits.train.labels, shots, seed)
            x = encode_images(toolkit.encoder, splits.train.images[idx], progress=False)
            probe, _ = linear_probe(x, splits.train.labels[idx], real["val"])
            probes.append(accuracy(probe, *real["test"]))
        out["miniclip_zero_shot"][name] = zs["test"]
        out["linear_probe_16shot"][name] = float(np.mean(probes))
        out["zero_shot_detail"][name] = {k: zs[k] for k in ("template", "val", "val_by_template")} | {"probe_by_seed": probes}
        out["chance"][name] = 1.0 / splits.num_classes
    return out


# ------------------------------------------------------------------------------ gate 1
def _pairwise_distances(samples: np.ndarray) -> dict[str, float]:
    """Mean absolute pixel difference (0-255) between same-seed/different-prompt and
    different-seed/same-prompt images of samples [C, n, H, W]."""
    x = samples.astype(np.float32)
    c, n = x.shape[:2]
    same_seed = [np.abs(x[a, j] - x[b, j]).mean() for j in range(n) for a in range(c) for b in range(a + 1, c)]
    same_prompt = [np.abs(x[k, i] - x[k, j]).mean() for k in range(c) for i in range(n) for j in range(i + 1, n)]
    return {"same_seed_different_prompt": float(np.mean(same_seed)), "different_seed_same_prompt": float(np.mean(same_prompt))}


def _lowres_size(template: str) -> int | None:
    """The side MiniGen's low-resolution look was made at, if ``template`` asks for it."""
    from .train_captions import LOWRES_PHRASE, LOWRES_SIZE

    return LOWRES_SIZE if LOWRES_PHRASE in template else None


def train_judge(corpus: Any, classes: Sequence[str], max_per_class: int = 400, epochs: int = 4, seed: int = 0,
                lowres_size: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A small CNN (:func:`~.corpus_transfer.small_cnn`) trained on at most ``max_per_class``
    corpus images of each class concept (made low-resolution first with ``lowres_size``, as
    MiniGen saw them under "in low resolution"); returns a predict function. The weights are
    cached by the training images' content and the recipe."""
    import torch

    from ..features import data_key
    from .corpus_transfer import _to_tensor, fit_small_cnn, small_cnn
    from .train_captions import lowres

    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(corpus.concept == c))[:max_per_class] for c in classes])
    y = torch.as_tensor(np.array([list(classes).index(c) for c in corpus.concept[idx]]))
    images = corpus.images[idx] if lowres_size is None else lowres(corpus.images[idx], lowres_size)
    key = stable_hash({"images": data_key(images), "labels": y.tolist(), "epochs": epochs, "seed": seed,
                       "recipe": "small_cnn/adamw2e-3/onecycle/bs128/ls0.05"})
    path = cache_dir() / "mini" / "judges" / f"{key}.pt"
    torch.manual_seed(seed)
    model = small_cnn(len(classes))
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    else:
        fit_small_cnn(model, _to_tensor(images), y, epochs, seed=seed)
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        atomic_write_bytes(path, buf.getvalue())
    model.eval()

    @torch.no_grad()
    def predict(images: np.ndarray) -> np.ndarray:
        xt = _to_tensor(images)
        return torch.cat([model(xt[i : i + 512]).argmax(1) for i in range(0, len(xt), 512)]).numpy()

    return predict


def minigen_gate(toolkit: Any, corpus: Any, datasets: Sequence[str] = DATASETS, n_per_class: int = 24, seed: int = 0,
                 judge_epochs: int = 4, judge_max_per_class: int = 400, progress: bool = True,
                 prompts: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Gate 1: share of MiniGen samples a corpus-trained CNN assigns to the prompted class.

    Prompts: the profile's gate-1 prompts, or ``prompts`` (dataset -> (template, names)). When a
    prompt asks for low resolution, the judge trains (and the real images it is scored on are
    made) low-resolution the way MiniGen's training images were, so it judges the digit, not
    the blur. Datasets with the same classes and prompts (MNIST, digits) share judge and samples."""
    from ..zero_shot import class_names, fill_template
    from .train_captions import lowres

    prompts = prompts or {d: _entry(e) for d, e in _world()["gate1_prompts"].items()}
    out: dict[str, Any] = {"minigen_class_accuracy": {}, "minigen_detail": {}}
    judges: dict[tuple, Callable] = {}
    for name in datasets:
        splits = mini_splits(toolkit, name)
        classes = list(splits.classnames)
        counts = {c: int((corpus.concept == c).sum()) for c in classes}
        if any(v == 0 for v in counts.values()):
            out["minigen_detail"][name] = {"skipped": "corpus lacks concepts", "corpus_counts": counts}
            continue
        template, names = prompts[name]
        texts = [fill_template(template, n) for n in class_names(splits, names)]
        s = _gate_set(toolkit, classes, texts, n_per_class, seed, progress)
        samples = class_grid(s)
        gen_y = np.repeat(np.arange(len(classes)), n_per_class)
        low = _lowres_size(template)
        if (tuple(classes), low) not in judges:
            judges[tuple(classes), low] = train_judge(corpus, classes, judge_max_per_class, judge_epochs, seed, low)
        judge = judges[tuple(classes), low]
        pred = judge(samples.reshape(-1, *samples.shape[2:]))
        real = splits.test.images if low is None else lowres(splits.test.images, low)
        out["minigen_class_accuracy"][name] = float((pred == gen_y).mean())
        out["minigen_detail"][name] = {"per_class": {c: float((pred[gen_y == k] == k).mean()) for k, c in enumerate(classes)},
                                       "judge_real_test_accuracy": float((judge(real) == splits.test.labels).mean()),
                                       "judge_lowres_size": low, "prompts": texts, "set_key": s.key,
                                       "corpus_counts": counts, **_pairwise_distances(samples)}
    return out


# ------------------------------------------------------------------------------ gate 3
def _ceiling_images(corpus: Any, classes: Sequence[str], style: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` corpus images per class in ``style`` (any style for a concept the style lacks)."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in classes:
        pool = np.flatnonzero((corpus.concept == c) & (corpus.style == style))
        pool = pool if len(pool) else np.flatnonzero(corpus.concept == c)
        parts.append(rng.permutation(pool)[:n])
    idx = np.concatenate(parts)
    return corpus.images[idx], np.array([list(classes).index(c) for c in corpus.concept[idx]])


def synthetic_gain(toolkit: Any, datasets: Sequence[str] = DATASETS, seeds: Sequence[int] = (0, 1, 2), n_per_class: int = 32,
                   corpus: Any = None, recipe: str = "paper CT", report_on: str = "test", progress: bool = True) -> dict[str, Any]:
    """Gate 3: test accuracy of the zero-shot head tuned on MiniGen images minus zero-shot, per seed.

    Each seed is one cell of the zero-shot recipe (:func:`~synthrec_core.zero_shot.run_recipe`):
    ``n_per_class`` engine images per class with the recipe's prompt (B, no CF), the paper's CT
    with the recipe's head fields, epoch chosen on validation, test once. With ``corpus``, the
    same tuning on ``n_per_class`` corpus images per class in the recipe's style (made
    low-resolution when the prompt asks for it) gives ``synthetic_ceiling``.
    ``synthetic_detail[dataset]["gain_eval_se"]`` is, per seed, the standard error of the gain from
    the report split's finite size (paired over its images)."""
    from ..classifier import HeadConfig, paired_accuracy_se, predict, tune_head
    from ..features import encode_images
    from ..stats import mean_std
    from ..zero_shot import PromptSpec, ZeroShotConfig, run_recipe
    from .train_captions import lowres

    r = gate3_recipe(recipe)
    head_cfg = HeadConfig(**r["head"])
    cfg = ZeroShotConfig(prompts="basic", cf=False, train_per_class=n_per_class, pool_per_class=n_per_class, head=head_cfg)
    summary = lambda v: {**{k: mean_std(v)[k] for k in ("mean", "std")}, "seeds": list(seeds), "by_seed": [float(g) for g in v]}
    out: dict[str, Any] = {"synthetic_gain": {}, "synthetic_detail": {}, **({"synthetic_ceiling": {}} if corpus is not None else {})}
    for name in datasets:
        splits = mini_splits(toolkit, name, report_on=report_on)
        real = _real_features(toolkit, splits)
        head, zs = _zero_shot(toolkit, name, splits, real)
        template, names = r["prompts"][name]
        spec = PromptSpec.from_dict({**toolkit.prompt_spec(name).to_dict(), "basic": template, "names": names})
        zs_pred = predict(head, real["test"][0])
        cells = [run_recipe(splits, spec, cfg, seed, encoder=toolkit.encoder, tokenizer=toolkit.tokenizer, head=head,
                            real=real, gen=toolkit.gen, pipeline=toolkit.pipeline, progress=progress) for seed in seeds]
        gains = [c["test_acc"] - zs["test"] for c in cells]
        ses = [paired_accuracy_se(zs_pred, np.asarray(c["test_pred"]), real["test"][1]) for c in cells]
        out["synthetic_gain"][name] = summary(gains)
        out["synthetic_detail"][name] = {
            "zero_shot": zs["test"], "tuned": [c["test_acc"] for c in cells], "best_epoch": [c["epoch"] for c in cells],
            "template": zs["template"], "prompt": template, "style": r["styles"][name], "set_keys": [c["set_key"] for c in cells],
            "miniclip_agrees_with_prompt": [c["agrees_with_head"] for c in cells], "head_config": head_cfg.to_dict(),
            "gain_eval_se": ses, "report_size": int(len(real["test"][1]))}
        if corpus is not None:
            ceil = []
            for seed in seeds:
                cx, cy = _ceiling_images(corpus, list(splits.classnames), r["styles"][name], n_per_class, seed)
                low = _lowres_size(template)
                cx = lowres(cx, low) if low else cx  # the corpus images MiniGen learnt that phrase from
                hc = head_cfg.replace(seed=seed, batch_size=min(head_cfg.batch_size, len(cy)))
                h, _ = tune_head(head, encode_images(toolkit.encoder, cx, progress=False), cy, hc, val=real["val"])
                ceil.append(float((predict(h, real["test"][0]) == real["test"][1]).mean()) - zs["test"])
            out["synthetic_ceiling"][name] = summary(ceil)
    return out


def run_gates(toolkit: Any, corpus: Any, datasets: Sequence[str] = DATASETS, seeds: Sequence[int] = (0, 1, 2),
              n_per_class: int = 32, recipe: str = "paper CT", progress: bool = True) -> dict[str, Any]:
    """All three gates: gate 1 with the default prompts, gate 3 with the gate-3 recipe ``recipe``."""
    out = miniclip_gate(toolkit, datasets, seeds=seeds)
    out.update(minigen_gate(toolkit, corpus, datasets, n_per_class, seed=seeds[0], progress=progress))
    out.update(synthetic_gain(toolkit, datasets, seeds, n_per_class, corpus=corpus, recipe=recipe, progress=progress))
    return out
