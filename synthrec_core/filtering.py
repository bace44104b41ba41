"""Filters of synthetic images: CLIP filter (CF) and real filter (RF), pure functions over features.

- :func:`clip_filter` (paper §1, official code): softmax over the N class prompts of
  ``logit_scale * cosine``; an image passes if p(its own class) > 1/N; then per class a seeded
  random ``keep_per_class`` among the passers, or, if fewer pass, the top ``keep_per_class``
  of the class by p(own) (so some non-passers are kept, as in the official code).
- :func:`real_filter` (paper §2, no official code): drop a synthetic image of class c whose
  feature is more similar to the real shots of another class than to those of c. Similarity
  is cosine; ``distance="mean"`` compares with each class's prototype (normalised mean of its
  normalised shot features), ``distance="nearest"`` with each class's most similar shot.
  Ties keep the image.

Both return a decisions table (one row per image, column ``kept``) that
:func:`save_decisions` stores beside a set, keyed by the filter's parameters, without
touching the generation manifest. The filters run no model: features come from ``features``.
:func:`clip_filter_set` / :func:`real_filter_set` are the one-call versions for a set on
disk (encode through the feature cache, filter, save the table).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .config import ConfigError, check, check_choice
from .utils import stable_hash

__all__ = [
    "l2_normalize",
    "class_embeddings",
    "clip_probs",
    "clip_filter",
    "real_filter",
    "save_decisions",
    "clip_filter_set",
    "real_filter_set",
]


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x`` divided by its L2 norm along ``axis`` (float64; zero vectors stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.where(n == 0, 1.0, n)


def class_embeddings(text_feats: np.ndarray) -> np.ndarray:
    """``[N, D]`` class embeddings from ``[N, D]`` or a template ensemble ``[N, T, D]``.

    An ensemble is averaged after normalising each prompt, then renormalised (CLIP's recipe).
    """
    t = np.asarray(text_feats, dtype=np.float64)
    if t.ndim == 3:
        t = l2_normalize(t).mean(axis=1)
    check(t.ndim == 2, f"text features must be [N, D] or [N, T, D], got shape {t.shape}")
    return l2_normalize(t)


def clip_probs(image_feats: np.ndarray, text_feats: np.ndarray, logit_scale: float = 100.0) -> np.ndarray:
    """``[M, N]`` softmax over classes of ``logit_scale * cosine(image, class prompt)``."""
    img = l2_normalize(image_feats)
    txt = class_embeddings(text_feats)
    check(img.shape[1] == txt.shape[1], f"image dim {img.shape[1]} != text dim {txt.shape[1]}")
    z = logit_scale * img @ txt.T
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _ids(ids: Sequence[Any] | None, m: int) -> list:
    if ids is None:
        return list(range(m))
    ids = list(ids)
    check(len(ids) == m, f"{len(ids)} ids for {m} images")
    return ids


def clip_filter(
    image_feats: np.ndarray,
    labels: Sequence[int],
    text_feats: np.ndarray,
    *,
    keep_per_class: int | None = None,
    logit_scale: float = 100.0,
    seed: int = 0,
    ids: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """CLIP filter. Returns one row per image: ``id, label, pred, p_own, passed, kept, selection``.

    ``keep_per_class=None`` keeps every passer. ``selection`` says how the image's class was
    chosen: ``"passers"`` (all passers), ``"random"`` (random K among passers) or
    ``"top"`` (top K by p_own because fewer than K passed).
    """
    labels = np.asarray(labels, dtype=np.int64)
    m = len(labels)
    check(np.asarray(image_feats).shape[0] == m, f"{np.asarray(image_feats).shape[0]} features for {m} labels")
    probs = clip_probs(image_feats, text_feats, logit_scale)
    n = probs.shape[1]
    check(m == 0 or (labels.min() >= 0 and labels.max() < n), f"labels must lie in [0, {n}) for {n} class prompts")
    if keep_per_class is not None:
        check(isinstance(keep_per_class, int) and keep_per_class >= 1, f"keep_per_class={keep_per_class!r} must be >= 1")
    p_own = probs[np.arange(m), labels]
    passed = p_own > 1.0 / n
    kept = np.zeros(m, dtype=bool)
    selection = np.empty(m, dtype=object)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        ok = idx[passed[idx]]
        if keep_per_class is None:
            kept[ok] = True
            selection[idx] = "passers"
        elif len(ok) >= keep_per_class:
            rng = np.random.default_rng([seed, int(c)])
            kept[rng.choice(ok, size=keep_per_class, replace=False)] = True
            selection[idx] = "random"
        else:
            order = idx[np.argsort(-p_own[idx], kind="stable")]
            kept[order[:keep_per_class]] = True
            selection[idx] = "top"
    return pd.DataFrame(
        {
            "id": _ids(ids, m),
            "label": labels,
            "pred": probs.argmax(axis=1),
            "p_own": p_own,
            "passed": passed,
            "kept": kept,
            "selection": selection,
        }
    )


def real_filter(
    syn_feats: np.ndarray,
    syn_labels: Sequence[int],
    real_feats: np.ndarray,
    real_labels: Sequence[int],
    *,
    distance: str = "mean",
    ids: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Real filter. Returns ``id, label, nearest_class, sim_own, sim_other, kept`` per image.

    ``sim_own`` is the cosine similarity to class ``label``'s real shots, ``sim_other`` the
    highest one to any other class; ``kept`` is ``sim_own >= sim_other``.
    """
    check_choice("distance", distance, ("mean", "nearest"))
    syn_labels = np.asarray(syn_labels, dtype=np.int64)
    real_labels = np.asarray(real_labels, dtype=np.int64)
    syn = l2_normalize(syn_feats)
    real = l2_normalize(real_feats)
    check(syn.shape[0] == len(syn_labels), f"{syn.shape[0]} synthetic features for {len(syn_labels)} labels")
    check(real.shape[0] == len(real_labels), f"{real.shape[0]} real features for {len(real_labels)} labels")
    check(syn.shape[1] == real.shape[1], f"synthetic dim {syn.shape[1]} != real dim {real.shape[1]}")
    classes = np.unique(real_labels)
    missing = sorted(set(np.unique(syn_labels).tolist()) - set(classes.tolist()))
    if missing:
        raise ConfigError(f"no real shots for synthetic classes {missing}")
    n = int(max(classes.max(), syn_labels.max() if len(syn_labels) else 0)) + 1
    sims = np.full((syn.shape[0], n), -np.inf)
    for c in classes:
        shots = real[real_labels == c]
        if distance == "mean":
            sims[:, c] = syn @ l2_normalize(shots.mean(axis=0))
        else:
            sims[:, c] = (syn @ shots.T).max(axis=1)
    rows = np.arange(syn.shape[0])
    sim_own = sims[rows, syn_labels]
    other = sims.copy()
    other[rows, syn_labels] = -np.inf
    sim_other = other.max(axis=1) if n > 1 else np.full(len(rows), -np.inf)
    return pd.DataFrame(
        {
            "id": _ids(ids, len(rows)),
            "label": syn_labels,
            "nearest_class": sims.argmax(axis=1),
            "sim_own": sim_own,
            "sim_other": sim_other,
            "kept": sim_own >= sim_other,
        }
    )


def save_decisions(synthetic_set: Any, decisions: pd.DataFrame, kind: str, params: dict[str, Any]) -> str:
    """Store a decisions table beside a set as ``tables/<kind>-<hash(params)>.parquet``; returns its name.

    ``params`` should hold everything that changed the decisions (encoder key, K, seed,
    logit scale, real-shot data key ...), so two filters never overwrite each other.
    """
    name = f"{kind}-{stable_hash(params, length=12)}"
    synthetic_set.write_table(name, decisions, meta={"kind": kind, "params": params})
    return name


def clip_filter_set(
    synthetic_set: Any,
    encoder: Any,
    text_feats: np.ndarray,
    *,
    keep_per_class: int | None = None,
    logit_scale: float = 100.0,
    seed: int = 0,
    cache_root: Any = None,
) -> tuple[str, pd.DataFrame]:
    """CF on a complete set: features via the cache, decisions saved as a keyed table.

    Returns ``(table name, decisions)``; the name hashes the encoder key, the text features,
    ``keep_per_class``, ``logit_scale`` and ``seed``.
    """
    from .features import as_encoder, encode_images

    enc = as_encoder(encoder)
    feats = encode_images(enc, synthetic_set, cache_root=cache_root)
    m = synthetic_set.manifest()
    d = clip_filter(feats, m["class_index"], text_feats, keep_per_class=keep_per_class, logit_scale=logit_scale, seed=seed, ids=m["id"])
    params = {
        "encoder": enc.key(),
        "text": stable_hash(np.asarray(text_feats, dtype=np.float32).round(6).tolist()),
        "keep_per_class": keep_per_class,
        "logit_scale": float(logit_scale),
        "seed": seed,
    }
    return save_decisions(synthetic_set, d, "cf", params), d


def real_filter_set(
    synthetic_set: Any,
    encoder: Any,
    real_images: Any,
    real_labels: Sequence[int],
    *,
    distance: str = "mean",
    cache_root: Any = None,
) -> tuple[str, pd.DataFrame]:
    """RF on a complete set against real shots (paths, PIL images or a uint8 array), saved as a keyed table."""
    from .features import as_encoder, data_key, encode_images

    enc = as_encoder(encoder)
    syn = encode_images(enc, synthetic_set, cache_root=cache_root)
    real = encode_images(enc, real_images, cache_root=cache_root)
    m = synthetic_set.manifest()
    d = real_filter(syn, m["class_index"], real, real_labels, distance=distance, ids=m["id"])
    params = {"encoder": enc.key(), "real": data_key(real_images), "real_labels": [int(x) for x in real_labels], "distance": distance}
    return save_decisions(synthetic_set, d, "rf", params), d
