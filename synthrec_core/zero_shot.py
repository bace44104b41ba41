"""The paper's zero-shot recipe (§1) as one pipeline of core calls, for any CLIP and generator.

prompts (B: the dataset's basic prompt; LE: language-enhanced sentences) → a
:class:`~synthrec_core.jobs.GenerationJob` through the engine → image features through the
content-keyed cache → CLIP filter (CF) or the first K images → classifier tuning (CT) of the
zero-shot head with CE or SCE, its epoch chosen on validation → test, once.

- :class:`PromptSpec` (per dataset, from a profile): basic template(s), which names fill them,
  the LE style and the template an LE sentence is put in; :class:`ZeroShotConfig`: B or LE,
  CF or not, images per class, the head recipe.
- :func:`zero_shot_head`: CLIP's zero-shot head, its template chosen on validation among the
  candidates (and their ensemble).
- :func:`pool_job` / :func:`pool_order`: a set holds ``pool_per_class`` images per class; the
  first ``n`` of a class in :func:`pool_order` are the set a smaller request would have made
  (per-image seeds do not depend on the set), so a larger set contains every smaller one.
- :func:`select_images`: CF (``filtering.clip_filter``) or the first K; the decisions, with each
  image's CLIP score, are saved beside the set, so every image behind a number has a record:
  :func:`provenance` joins them with the generation manifest.
- :func:`run_recipe`: one (dataset, recipe, seed) cell end to end; returns plain data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .classifier import HeadConfig, ZeroShotHead, accuracy, predict, tune_head
from .config import Config, check, check_choice
from .features import Encoder, encode_images
from .filtering import clip_filter, save_decisions
from .jobs import GenerationJob
from .prompts import NAMES, PromptSpec, _template_entry, class_names, fill_template  # noqa: F401  (re-exported)
from .utils import stable_hash

__all__ = ["PromptSpec", "ZeroShotConfig", "fill_template", "class_names", "zero_shot_head", "basic_prompts", "le_prompts",
           "recipe_prompts", "pool_job", "pool_order", "select_images", "provenance", "run_recipe", "NAMES"]

@dataclass(frozen=True)
class ZeroShotConfig(Config):
    """One zero-shot recipe. Defaults are the paper's: LE + CF + SCE, 2000 generated → 800 kept."""

    prompts: str = "le"  # "basic" (B) or "le"
    cf: bool = True  # CLIP filter; without it the first train_per_class images of the pool are used
    train_per_class: int = 800  # images per class the head is tuned on
    pool_per_class: int = 2000  # images generated per class (CF chooses among them)
    le_sentences: int = 200  # LE sentences per class (the paper keeps 200 of 250)
    head: HeadConfig = HeadConfig()  # CT: AdamW 2e-3, wd 0.1, cosine, 30 epochs, batch 512, SCE l=0.5 T=2

    def __post_init__(self) -> None:
        if isinstance(self.head, dict):
            object.__setattr__(self, "head", HeadConfig.from_dict(self.head))
        super().__post_init__()

    def validate(self) -> None:
        check_choice("prompts", self.prompts, ("basic", "le"))
        check(isinstance(self.cf, bool), f"cf={self.cf!r} must be true or false")
        for name in ("train_per_class", "pool_per_class", "le_sentences"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an integer >= 1")
        check(self.pool_per_class >= self.train_per_class,
              f"pool_per_class={self.pool_per_class} must be >= train_per_class={self.train_per_class} (K larger than generated)")
        check(isinstance(self.head, HeadConfig), f"head must be a HeadConfig, got {type(self.head).__name__}")

    @property
    def label(self) -> str:
        """The paper's column name: B-CE, LE-SCE, LE+CF-SCE ..."""
        return f"{'LE' if self.prompts == 'le' else 'B'}{'+CF' if self.cf else ''}-{self.head.loss.upper()}"


# ------------------------------------------------------------------------------ the head
def zero_shot_head(model: Any, tokenizer: Callable, splits: Any, spec: PromptSpec, val: tuple[np.ndarray, np.ndarray],
                   ensemble: bool = True, only: str | None = None) -> tuple[ZeroShotHead, dict[str, Any]]:
    """CLIP's zero-shot head over ``splits``' classes, its template chosen on ``val`` features.

    Candidates: each of ``spec.templates`` and (``ensemble``) the ensemble of all of them;
    ``only`` forces one candidate (a template string or ``"<ensemble>"``). Ties prefer the
    ensemble, then the earlier template. Returns the head and ``{"template", "val_by_template"}``.
    """
    import torch

    from .features import encode_texts
    from .filtering import class_embeddings

    prompts_by = {}
    for t in spec.templates:
        tpl, nm = _template_entry(t)
        prompts_by[tpl] = [fill_template(tpl, n) for n in class_names(splits, nm)]
    texts = [p for ps in prompts_by.values() for p in ps]
    emb = encode_texts(model, tokenizer, texts).reshape(len(prompts_by), len(splits.classnames), -1)  # [T, C, D]
    cands: dict[str, Any] = {tpl: torch.from_numpy(class_embeddings(e).astype(np.float32)) for tpl, e in zip(prompts_by, emb)}
    if ensemble and len(prompts_by) > 1:
        cands["<ensemble>"] = torch.from_numpy(class_embeddings(emb.transpose(1, 0, 2)).astype(np.float32))
    if only is not None:
        check_choice("zero-shot template", only, list(cands))
        cands = {only: cands[only]}
    scores = {t: accuracy(w, *val) for t, w in cands.items()}
    best = max(scores, key=lambda t: (scores[t], t == "<ensemble>", -list(scores).index(t)))
    return ZeroShotHead.from_weights(cands[best], model), {"template": best, "val_by_template": scores}


# ------------------------------------------------------------------------------ prompts and sets
def basic_prompts(splits: Any, spec: PromptSpec) -> list[tuple[str, ...]]:
    """B: the basic prompt per class (one prompt each)."""
    return [(fill_template(spec.basic, n),) for n in class_names(splits, spec.names)]


def le_prompts(splits: Any, spec: PromptSpec, n: int, seed: int = 0, enhancer: Callable | None = None) -> list[tuple[str, ...]]:
    """LE: up to ``n`` distinct prompts per class, ``spec.le_template`` filled with enhanced sentences.

    ``enhancer(classname, n, seed)`` returns sentences (default: the offline
    :func:`~synthrec_core.prompts.language_enhance` with ``spec.le_style``; the paper profile
    passes :class:`~synthrec_core.prompts.T5LanguageEnhancer`). A class that gets no sentence is
    an error; fewer than ``n`` is fine (the pool then repeats sentences with new seeds)."""
    if enhancer is None:
        from .prompts import language_enhance

        def enhancer(name: str, k: int, s: int) -> list[str]:
            return language_enhance(name, n=k, seed=s, style=spec.le_style)

    out = []
    for name in class_names(splits, "class"):
        sents = [fill_template(spec.le_template, s) for s in enhancer(name, n, seed)]
        sents = list(dict.fromkeys(sents))
        check(len(sents) > 0, f"language enhancement gave no sentence for class {name!r}")
        out.append(tuple(sents[:n]))
    return out


def pool_job(classnames: Sequence[str], prompts: Sequence[Sequence[str]], pool_per_class: int, gen: dict[str, Any],
             seed: int) -> GenerationJob:
    """The job that makes at least ``pool_per_class`` images per class from ``prompts``.

    ``gen`` holds the generator's job fields (``pipeline_id``, ``revision``, ``scheduler``,
    ``steps``, ``guidance_scale``, ``height``, ``width``, ``micro_batch``, ``dtype``, ...)."""
    fewest = min(len(p) for p in prompts)
    return GenerationJob(classnames=tuple(classnames), sentences=tuple(tuple(p) for p in prompts),
                         images_per_prompt=math.ceil(pool_per_class / fewest), seed=seed, **gen)


def pool_order(manifest: Any) -> np.ndarray:
    """Row order of a set's manifest in which, per class, the first n images are the images a
    set of n per class would hold: image index first, then prompt (one image of every prompt
    before the second of any)."""
    m = manifest.reset_index(drop=True)
    return m.sort_values(["class_index", "image_index", "prompt_index"], kind="stable").index.to_numpy()


def _first_per_class(labels: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    keep = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        keep[[i for i in order if labels[i] == c][:n]] = True
    return keep


def select_images(synthetic_set: Any, feats: np.ndarray, head: ZeroShotHead, cfg: ZeroShotConfig, seed: int,
                  encoder_key: str) -> tuple[np.ndarray, Any, str]:
    """Which pool images the head is tuned on: CF (paper §1) or the first ``train_per_class``.

    Only the first ``pool_per_class`` images per class (in :func:`pool_order`) are candidates.
    Returns ``(kept rows of the manifest, decisions table, table name)``; the decisions (CLIP
    score ``p_own``, ``passed``, ``kept``, ``selection``) are saved beside the set."""
    m = synthetic_set.manifest()
    labels = m["class_index"].to_numpy()
    order = pool_order(m)
    pool = _first_per_class(labels, order, cfg.pool_per_class)
    w = head.weight.detach().numpy()
    scale = float(head.logit_scale.exp())
    idx = np.flatnonzero(pool)
    short = [int(c) for c in np.unique(labels) if (labels[idx] == c).sum() < cfg.train_per_class]
    check(not short, f"classes {short} have fewer than train_per_class={cfg.train_per_class} images in the set")
    if cfg.cf:
        d = clip_filter(feats[idx], labels[idx], w, keep_per_class=cfg.train_per_class, logit_scale=scale, seed=seed,
                        ids=m["id"].to_numpy()[idx])
    else:
        d = clip_filter(feats[idx], labels[idx], w, keep_per_class=None, logit_scale=scale, ids=m["id"].to_numpy()[idx])
        first = _first_per_class(labels, order, cfg.train_per_class)
        d["kept"], d["selection"] = first[idx], "first"
    params = {"encoder": encoder_key, "head": stable_hash(np.round(w, 6).tolist()), "cf": cfg.cf, "K": cfg.train_per_class,
              "pool": cfg.pool_per_class, "seed": seed}
    name = save_decisions(synthetic_set, d, "cf" if cfg.cf else "first", params)
    kept_ids = set(d.loc[d["kept"], "id"])
    return np.flatnonzero(m["id"].isin(kept_ids).to_numpy()), d, name


def provenance(synthetic_set: Any, table: str) -> Any:
    """One row per image: the generation manifest (prompt, seed, generator, weights, settings)
    joined with the selection table (CLIP score ``p_own``, ``passed``, ``kept``)."""
    return synthetic_set.joined(table)


# ------------------------------------------------------------------------------ one cell
def recipe_prompts(splits: Any, spec: PromptSpec, cfg: ZeroShotConfig, seed: int,
                   enhancer: Callable | None = None) -> list[tuple[str, ...]]:
    """The prompts per class ``cfg`` asks for: LE sentences (seeded) or the basic prompt."""
    if cfg.prompts == "le":
        return le_prompts(splits, spec, cfg.le_sentences, seed, enhancer)
    return basic_prompts(splits, spec)


def run_recipe(splits: Any, spec: PromptSpec, cfg: ZeroShotConfig, seed: int, *, encoder: Encoder, tokenizer: Callable,
               head: ZeroShotHead, real: dict[str, tuple[np.ndarray, np.ndarray]], gen: dict[str, Any], pipeline: Any = None,
               enhancer: Callable | None = None, progress: bool = True, set_per_class: int | None = None,
               ct_seed: int | None = None, prompts: Sequence[Sequence[str]] | None = None) -> dict[str, Any]:
    """One (dataset, recipe, seed) cell: generate (or reuse) the pool, encode, select, tune, test.

    ``head`` is the zero-shot head (from :func:`zero_shot_head`); ``real`` holds the cached
    ``val`` and ``test`` features and labels; ``gen`` the generator's job fields. ``seed`` is
    the generation seed and, unless ``ct_seed`` is given, the CT seed. ``set_per_class``
    generates a larger set than the pool (its first ``pool_per_class`` images per class are the
    pool: a saturation curve cuts every size from one set). Returns plain data: accuracies, test
    predictions, the selected epoch, CF pass rate, the set key and decisions table."""
    if prompts is None:
        prompts = recipe_prompts(splits, spec, cfg, seed, enhancer)
    job = pool_job(list(splits.classnames), prompts, max(cfg.pool_per_class, set_per_class or 0), gen, seed)
    from .generation import generate

    s = generate(job, pipeline, progress=progress)
    feats = encode_images(encoder, s, progress=progress)
    rows, decisions, table = select_images(s, feats, head, cfg, seed, encoder.key())
    labels = s.manifest()["class_index"].to_numpy()
    x, y = feats[rows], labels[rows]
    hcfg = cfg.head.replace(seed=seed if ct_seed is None else ct_seed, batch_size=min(cfg.head.batch_size, len(y)))
    tuned, history = tune_head(head, x, y, hcfg, val=real["val"])
    pred = predict(tuned, real["test"][0])
    return {"test_acc": float((pred == real["test"][1]).mean()), "test_pred": pred.astype(int).tolist(),
            "val_acc": float(next(r["val_acc"] for r in history if r["selected"])),
            "epoch": int(next(r["epoch"] for r in history if r["selected"])), "set_key": s.key, "table": table,
            "train_images": int(len(y)), "cf_pass_rate": float(decisions["passed"].mean()),
            "kept_pass_rate": float(decisions.loc[decisions["kept"], "passed"].mean()),
            "agrees_with_head": float((decisions["pred"] == decisions["label"]).mean()),
            "fallback_classes": sorted({int(c) for c in decisions.loc[decisions["selection"] == "top", "label"]}),
            "prompts_per_class": [len(p) for p in prompts], "prompt_examples": list(prompts[0][:3]),
            "history": [{k: r[k] for k in ("epoch", "loss", "val_acc")} for r in history]}


def config_key(cfg: ZeroShotConfig) -> dict[str, Any]:
    """The part of a cell key that says which recipe ran (everything in ``cfg``)."""
    return {"recipe": dataclasses.asdict(cfg) | {"head": cfg.head.cache_key()}}
