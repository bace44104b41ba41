"""Prompt embeddings for the generation engine: each distinct prompt encoded once per run, at a fixed shape.

:class:`PromptCache` encodes a run's distinct prompts :data:`PROMPT_CHUNK` at a time (padded with
the empty prompt), so an embedding never depends on which prompts it was encoded with, and hands
each pipeline call its rows (``prompt_embeds`` / ``negative_prompt_embeds``). Two pipeline
families are served: diffusers' Stable-Diffusion-style pipelines and pipelines whose
``encode_prompt(list)`` returns a tuple of batch-first tensors (MiniGen); others get text.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

__all__ = ["PromptCache", "PROMPT_CHUNK"]

#: distinct prompts are encoded this many at a time (padded), so an embedding never depends on its neighbours
PROMPT_CHUNK = 16


def _sd_style(pipe: Any) -> bool:
    enc = getattr(pipe, "encode_prompt", None)
    return enc is not None and "do_classifier_free_guidance" in inspect.signature(enc).parameters


def _accepts_embeds(pipe: Any) -> bool:
    try:
        return "prompt_embeds" in inspect.signature(type(pipe).__call__).parameters and hasattr(pipe, "encode_prompt")
    except (TypeError, ValueError):
        return False


class PromptCache:
    """Each distinct prompt (and the negative prompt) encoded once, :data:`PROMPT_CHUNK` at a time.

    Two pipeline families are served: diffusers' Stable-Diffusion-style pipelines
    (``encode_prompt(..., do_classifier_free_guidance=...)`` returning a tensor pair) and
    pipelines whose ``encode_prompt(list_of_prompts)`` returns a tuple of batch-first tensors
    and whose call accepts ``prompt_embeds`` (MiniGen). Others get their prompts as text.
    """

    def __init__(self, pipe: Any, prompts: Sequence[str], job: Any, device: str | None = None) -> None:
        import torch

        self.kind = "sd" if _sd_style(pipe) else ("tuple" if _accepts_embeds(pipe) else None)
        self.rows: dict[str, Any] = {}
        self.neg: Any = None
        if self.kind is None:
            return
        neg = job.negative_prompt or ""
        distinct = list(dict.fromkeys(prompts))
        with torch.inference_mode():
            for i in range(0, len(distinct), PROMPT_CHUNK):
                part = distinct[i : i + PROMPT_CHUNK]
                padded = part + [""] * (PROMPT_CHUNK - len(part))
                emb = self._encode(pipe, padded, device or str(job.device))
                for j, p in enumerate(part):
                    self.rows[p] = self._row(emb, j)
            self.neg = self._row(self._encode(pipe, [neg] + [""] * (PROMPT_CHUNK - 1), device or str(job.device)), 0)

    def _encode(self, pipe: Any, prompts: list[str], device: str) -> Any:
        if self.kind == "sd":
            return pipe.encode_prompt(prompts, device, 1, False)[0]
        return pipe.encode_prompt(prompts)

    @staticmethod
    def _row(emb: Any, j: int) -> Any:
        return tuple(t[j : j + 1] for t in emb) if isinstance(emb, tuple) else emb[j : j + 1]

    def kwargs(self, prompts: Sequence[str], guided: bool) -> dict[str, Any]:
        """Pipeline keyword arguments for a batch with these prompts."""
        import torch

        if self.kind is None:
            return {"prompt": list(prompts)}

        def stack(rows: list) -> Any:
            if isinstance(rows[0], tuple):
                return tuple(torch.cat(parts) for parts in zip(*rows))
            return torch.cat(rows)

        out = {"prompt": None, "prompt_embeds": stack([self.rows[p] for p in prompts])}
        if guided:
            out["negative_prompt_embeds"] = stack([self.neg] * len(prompts))
        return out
