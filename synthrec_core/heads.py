"""CLIP's zero-shot classifier as a linear head over image features (paper §1's starting point).

- :func:`zero_shot_weights`: row c is the mean over templates of the L2-normalised text
  embeddings of class c, renormalised (CLIP's recipe);
- :class:`ZeroShotHead`: logits ``exp(logit_scale) * normalize(f) @ W.T + b`` with the (log)
  scale frozen, so tuning changes only W and b.

Training these heads lives in :mod:`synthrec_core.classifier`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import check

__all__ = ["zero_shot_weights", "ZeroShotHead", "model_logit_scale"]




def _check_templates(templates: Sequence[str]) -> list[str]:
    templates = [templates] if isinstance(templates, str) else list(templates)
    check(len(templates) > 0, "templates is empty; give at least one template containing '{}'")
    for t in templates:
        check(isinstance(t, str) and "{}" in t, f"template {t!r} has no '{{}}' placeholder for the class name")
    return templates


def zero_shot_weights(
    model: Any,
    tokenizer: Callable[[Sequence[str]], Any],
    classnames: Sequence[str],
    templates: Sequence[str],
    device: str = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """CLIP zero-shot classifier weights ``[C, D]`` (float32, unit rows).

    ``model``: open_clip-style (``encode_text``); ``tokenizer``: list of strings -> token tensor.
    Each template's ``{}`` is replaced by the class name; row c is the mean over templates of
    the normalised text embeddings, renormalised. Text is encoded ``batch_size`` prompts at a
    time (the result does not depend on it).
    """
    from .features import encode_texts
    from .filtering import class_embeddings

    templates = _check_templates(templates)
    classnames = list(classnames)
    check(len(classnames) > 0, "classnames is empty")
    check(all(isinstance(c, str) and c.strip() for c in classnames), f"classnames must be non-empty strings: {classnames}")
    dup = sorted({c for c in classnames if classnames.count(c) > 1})
    check(not dup, f"duplicate class names {dup}")
    check(isinstance(batch_size, int) and batch_size > 0, f"batch_size={batch_size!r} must be a positive int")
    texts = [t.replace("{}", c) for c in classnames for t in templates]
    chunks = [encode_texts(model, tokenizer, texts[i : i + batch_size], device=device) for i in range(0, len(texts), batch_size)]
    emb = np.concatenate(chunks).reshape(len(classnames), len(templates), -1)
    return torch.from_numpy(class_embeddings(emb).astype(np.float32))


def model_logit_scale(model: Any) -> float:
    """The model's log logit scale (open_clip stores log(100) ~ 4.605 in ``logit_scale``)."""
    ls = getattr(model, "logit_scale", None)
    if ls is None:
        return math.log(100.0)
    return float(ls.detach().float().reshape(-1)[0]) if torch.is_tensor(ls) else float(ls)


class ZeroShotHead(nn.Module):
    """Linear head ``exp(logit_scale) * normalize(f) @ W.T + b`` on image features.

    ``weights`` ``[C, D]`` initialise W (copied); b starts at 0 unless ``bias`` is given.
    ``logit_scale`` is the *log* scale, as in open_clip (default log 100); it is a frozen
    parameter, so tuning changes only W and b.
    """

    def __init__(self, weights: torch.Tensor | np.ndarray, logit_scale: float = math.log(100.0), bias: Any = None) -> None:
        super().__init__()
        w = torch.as_tensor(np.asarray(weights) if not torch.is_tensor(weights) else weights).detach().float().clone()
        check(w.ndim == 2 and w.shape[0] > 0 and w.shape[1] > 0, f"weights must be [C, D], got shape {tuple(w.shape)}")
        check(torch.isfinite(w).all().item(), "weights contain NaN or inf")
        b = torch.zeros(w.shape[0]) if bias is None else torch.as_tensor(np.asarray(bias) if not torch.is_tensor(bias) else bias).detach().float().clone()
        check(b.shape == (w.shape[0],), f"bias must have shape ({w.shape[0]},), got {tuple(b.shape)}")
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)), requires_grad=False)

    @classmethod
    def from_model(
        cls, model: Any, tokenizer: Callable, classnames: Sequence[str], templates: Sequence[str], device: str = "cpu", batch_size: int = 256
    ) -> "ZeroShotHead":
        """The zero-shot head of an open_clip-style model (its own ``logit_scale``)."""
        w = zero_shot_weights(model, tokenizer, classnames, templates, device=device, batch_size=batch_size)
        return cls(w, logit_scale=model_logit_scale(model))

    @classmethod
    def from_weights(cls, weights: Any, model: Any = None) -> "ZeroShotHead":
        """A head with ``weights`` [C, D] and ``model``'s logit scale (log 100 without a model)."""
        return cls(weights, logit_scale=model_logit_scale(model) if model is not None else math.log(100.0))

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    @property
    def dim(self) -> int:
        return self.weight.shape[1]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        f = F.normalize(features.float(), dim=-1)
        return self.logit_scale.exp() * f @ self.weight.T + self.bias

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, dim={self.dim}, scale={math.exp(self.logit_scale.item()):.1f}"
