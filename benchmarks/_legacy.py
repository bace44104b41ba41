"""The engine's previous batch-invariance mechanism, kept only as the baseline that
``generation_speed.py`` measures against (the engine itself no longer uses it).

Inside :func:`batch_invariant_kernels` the forward of ``Conv1d/Conv2d/ConvTranspose2d/Linear/
GroupNorm/LayerNorm`` and ``scaled_dot_product_attention`` ran on fixed chunks of ``chunk``
samples (the last zero-padded), so each sample saw the same shapes whatever its batch.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator


def _unbatched(module: Any, x: Any) -> bool:
    import torch

    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return True
    if isinstance(module, torch.nn.Conv1d):
        return x.dim() != 3
    if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
        return x.dim() != 4
    if isinstance(module, torch.nn.LayerNorm):
        return x.dim() <= len(module.normalized_shape)
    return False


@contextlib.contextmanager
def batch_invariant_kernels(chunk: int = 4) -> Iterator[None]:
    """Run batched layers on fixed chunks of ``chunk`` samples (process-wide)."""
    import torch
    import torch.nn.functional as F

    def split(x: Any) -> tuple[list, int]:
        b = x.shape[0]
        n = -(-b // chunk) * chunk
        if n != b:
            x = torch.cat([x, x.new_zeros((n - b,) + tuple(x.shape[1:]))])
        return [x[i : i + chunk].contiguous() for i in range(0, n, chunk)], b

    def chunked(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def forward(self: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
            if _unbatched(self, x):
                return orig(self, x, *args, **kwargs)
            parts, b = split(x)
            return torch.cat([orig(self, p, *args, **kwargs) for p in parts])[:b]

        return forward

    orig_sdpa = F.scaled_dot_product_attention

    @functools.wraps(orig_sdpa)
    def sdpa(query: Any, key: Any, value: Any, attn_mask: Any = None, *args: Any, **kwargs: Any) -> Any:
        b = query.shape[0]
        if query.dim() < 3 or key.shape[0] != b or value.shape[0] != b:
            return orig_sdpa(query, key, value, attn_mask, *args, **kwargs)
        (qs, _), (ks, _), (vs, _) = split(query), split(key), split(value)
        if isinstance(attn_mask, torch.Tensor) and attn_mask.dim() == query.dim() and attn_mask.shape[0] == b:
            ms = split(attn_mask)[0]
        else:
            ms = [attn_mask] * len(qs)
        return torch.cat([orig_sdpa(q, k, v, m, *args, **kwargs) for q, k, v, m in zip(qs, ks, vs, ms)])[:b]

    classes = [torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear, torch.nn.GroupNorm, torch.nn.LayerNorm]
    saved = [(cls, cls.__dict__["forward"]) for cls in classes]
    try:
        for cls, fwd in saved:
            cls.forward = chunked(fwd)
        F.scaled_dot_product_attention = sdpa
        yield
    finally:
        for cls, fwd in saved:
            cls.forward = fwd
        F.scaled_dot_product_attention = orig_sdpa
