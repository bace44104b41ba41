"""CoOp: learned prompt context through a frozen CLIP text encoder (few-shot baseline, paper §2).

CoOp (Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022) replaces the hand
prompt "a photo of a [CLASS]." by ``[V]_1 ... [V]_M [CLASS].``: M context vectors in the text
encoder's *input embedding* space, shared by all classes (the unified-context, end-position
variant the paper uses as its baseline). Only the context vectors are trained; every weight of
the CLIP stays frozen. The class weights are the normalised text features of the C prompts, and
the logits are those of the zero-shot head: ``exp(logit_scale) * normalize(f) @ W.T``, trained
with cross-entropy on cached few-shot image features.

Two open_clip text towers are supported (:func:`prompt_encoder` picks one):

- the native text transformer (``CLIP`` or ``CustomTextCLIP`` with a ``TextTransformer``:
  ``token_embedding``, ``positional_embedding``, causal ``transformer``, ``ln_final``, pooling
  at the end-of-text token, ``text_projection``): the context replaces token embeddings at
  positions 1..M, before the positional embedding is added;
- open_clip's HF text tower (``HFTextEncoder``, as MiniCLIP uses around MiniLM): the context
  replaces BERT *word* embeddings (``inputs_embeds``; BERT then adds its position and type
  embeddings), the attention mask counts the M context positions, and the tower's own pooler
  (MiniCLIP: mean over the mask) and projection follow.

With ``ctx_init`` set to a phrase, the context starts at that phrase's token embeddings, and the
class features at the start equal ``model.encode_text`` of "phrase [CLASS]." exactly (tested).
This module does not select hyperparameters across runs: :func:`synthrec_core.few_shot.run_coop`
does, on validation data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .classifier import ZeroShotHead, _as_xy, lr_schedule, model_logit_scale
from .config import Config, ConfigError, check, check_choice

__all__ = ["CoOpConfig", "PromptEncoder", "prompt_encoder", "train_coop"]


@dataclass(frozen=True)
class CoOpConfig(Config):
    """One CoOp run. Defaults follow CoOp's recipe (SGD, lr 2e-3, momentum 0.9, wd 5e-4,
    cosine, batch 32, random N(0, 0.02) context) except the epoch count, which CoOp sets per
    shot count (50-200) and we select on validation among the first ``epochs``."""

    n_ctx: int = 16  # context vectors M (CoOp's default; the few-shot registry also tries 4)
    ctx_init: str | None = None  # None: N(0, ctx_std); a phrase: its token embeddings (n_ctx must match)
    ctx_std: float = 0.02
    class_template: str = "{}."  # what follows the context: the class name and CoOp's full stop
    optimizer: str = "sgd"
    lr: float = 2e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 5e-4
    epochs: int = 50
    batch_size: int = 32
    schedule: str = "cosine"  # per step, from lr to 0; or "constant"
    seed: int = 0  # context init and data order
    eval_every: int = 1
    device: str = "cpu"

    def validate(self) -> None:
        check(isinstance(self.n_ctx, int) and not isinstance(self.n_ctx, bool) and self.n_ctx >= 1, f"n_ctx={self.n_ctx!r} must be an int >= 1")
        check(self.ctx_init is None or (isinstance(self.ctx_init, str) and self.ctx_init.strip()), f"ctx_init={self.ctx_init!r} must be None or a phrase")
        check(self.ctx_std > 0, f"ctx_std={self.ctx_std!r} must be > 0")
        check(isinstance(self.class_template, str) and self.class_template.count("{}") == 1,
              f"class_template={self.class_template!r} must contain one '{{}}' for the class name")
        check_choice("optimizer", self.optimizer, ("sgd", "adamw"))
        check_choice("schedule", self.schedule, ("cosine", "constant"))
        check(self.lr > 0, f"lr={self.lr!r} must be > 0")
        check(0 <= self.momentum < 1, f"momentum={self.momentum!r} must be in [0, 1)")
        check(self.weight_decay >= 0, f"weight_decay={self.weight_decay!r} must be >= 0")
        for name in ("epochs", "batch_size", "eval_every"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name}={v!r} must be an int >= 1")
        check(isinstance(self.seed, int) and not isinstance(self.seed, bool), f"seed={self.seed!r} must be an int")


# --------------------------------------------------------------------------- text towers


class PromptEncoder:
    """Class features ``[C, D]`` of ``[ctx] class_template(name)`` prompts for a context ``[M, width]``.

    Built by :func:`prompt_encoder`; holds the frozen model's modules (not copies) and the
    tokenised class prompts with M placeholder slots after the start token.
    """

    kind: str = ""

    def __init__(self, model: Any, tokenizer: Callable, classnames: Sequence[str], n_ctx: int, class_template: str) -> None:
        self.n_ctx = n_ctx
        prompts = [class_template.format(c) for c in classnames]
        ids = tokenizer(prompts)
        self.ids, self.mask = self._splice(torch.as_tensor(ids).long(), n_ctx, prompts)
        self.phrase_tokenizer = tokenizer

    # subclasses set: pad_id, embedding (nn.Embedding), width, trim
    pad_id: int = 0
    #: whether trailing all-padding columns may be dropped: exact when no kept position attends
    #: to them (causal mask, or a padding mask) and pooling ignores them; it makes a step on
    #: MiniLM's 32-token context about twice as fast for short prompts
    trim: bool = False

    def _splice(self, ids: torch.Tensor, n_ctx: int, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[start, pad * n_ctx, rest...]`` cut back to the context length; error if text is cut."""
        mask = self._token_mask(ids)
        L = ids.shape[1]
        check(n_ctx < L - 1, f"n_ctx={n_ctx} leaves no room in the text context of {L} tokens")
        dropped = mask[:, L - n_ctx :]
        if bool(dropped.any()):
            bad = [prompts[i] for i in torch.nonzero(dropped.any(1)).flatten().tolist()][:3]
            raise ConfigError(f"with n_ctx={n_ctx} context tokens the prompts {bad} no longer fit the text context of {L} tokens")
        ones = torch.ones(ids.shape[0], n_ctx, dtype=mask.dtype)
        new_ids = torch.cat([ids[:, :1], torch.full((ids.shape[0], n_ctx), self.pad_id, dtype=ids.dtype), ids[:, 1 : L - n_ctx]], 1)
        new_mask = torch.cat([mask[:, :1], ones, mask[:, 1 : L - n_ctx]], 1)
        if self.trim:  # drop the trailing columns that are padding in every prompt (exact: see _trims)
            used = int(torch.nonzero(new_mask.any(0)).max()) + 1
            new_ids, new_mask = new_ids[:, :used], new_mask[:, :used]
        return new_ids, new_mask

    def _token_mask(self, ids: torch.Tensor) -> torch.Tensor:
        return (ids != self.pad_id).long()

    def phrase_embeddings(self, phrase: str) -> torch.Tensor:
        """Token embeddings ``[M, width]`` of ``phrase`` (without start/end tokens)."""
        ids = torch.as_tensor(self.phrase_tokenizer([phrase])).long()[0]
        mask = self._token_mask(ids[None])[0].bool()
        inner = ids[mask][1:-1]  # drop the start and end tokens
        with torch.no_grad():
            return self.embedding(inner.to(self.embedding.weight.device)).detach().float().clone()

    def _embed(self, ctx: torch.Tensor) -> torch.Tensor:
        x = self.embedding(self.ids.to(ctx.device))
        c = ctx.to(x.dtype)[None].expand(x.shape[0], -1, -1)
        return torch.cat([x[:, :1], c, x[:, 1 + self.n_ctx :]], 1)

    def __call__(self, ctx: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class _NativeText(PromptEncoder):
    """open_clip's own text transformer (CLIP, or CustomTextCLIP with a TextTransformer)."""

    kind = "native"

    def __init__(self, model: Any, tower: Any, tokenizer: Callable, classnames: Sequence[str], n_ctx: int, class_template: str) -> None:
        self.t = tower
        self.embedding = tower.token_embedding
        self.width = tower.token_embedding.weight.shape[1]
        self.pad_id = int(getattr(tower, "pad_id", 0))
        self.pool_type = getattr(tower, "pool_type", None) or getattr(model, "text_pool_type", "argmax")
        self.eos_id = getattr(tower, "eos_id", None) if hasattr(tower, "eos_id") else getattr(model, "text_eos_id", None)
        check(getattr(tower, "cls_emb", None) is None, "CoOp: text towers with an appended CLS embedding (CoCa) are not supported")
        check(not getattr(tower, "use_pad_mask", False), "CoOp: bidirectional text towers with a padding mask are not supported")
        check(self.pool_type in ("argmax", "eos", "first", "last"), f"CoOp: text pool type {self.pool_type!r} is not supported")
        check(tower.attn_mask is not None, "CoOp: text towers without a causal mask are not supported")
        self.trim = self.pool_type != "last"  # causal: later positions never change earlier ones
        n_pos = tower.positional_embedding.shape[0]
        check(len(tokenizer(["x"])[0]) == n_pos, f"the tokenizer's context != the text tower's {n_pos} positions")
        super().__init__(model, tokenizer, classnames, n_ctx, class_template)

    def __call__(self, ctx: torch.Tensor) -> torch.Tensor:
        from open_clip.transformer import text_global_pool

        t = self.t
        cast = t.transformer.get_cast_dtype()
        L = self.ids.shape[1]
        x = self._embed(ctx).to(cast) + t.positional_embedding[:L].to(cast)
        x = t.ln_final(t.transformer(x, attn_mask=t.attn_mask[:L, :L]))
        x = text_global_pool(x, self.ids.to(x.device), self.pool_type, eos_token_id=self.eos_id)
        proj = t.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, nn.Linear) else x @ proj
        return x.float()


class _HFText(PromptEncoder):
    """open_clip's HF text tower (``HFTextEncoder``): context as BERT word embeddings."""

    kind = "hf"

    def __init__(self, model: Any, tower: Any, tokenizer: Callable, classnames: Sequence[str], n_ctx: int, class_template: str) -> None:
        self.t = tower
        self.embedding = tower.transformer.get_input_embeddings()
        self.width = self.embedding.weight.shape[1]
        self.pad_id = int(tower.config.pad_token_id)
        self.trim = type(tower.pooler).__name__ in ("MeanPooler", "ClsPooler", "ClsLastHiddenStatePooler")  # padding-masked attention
        super().__init__(model, tokenizer, classnames, n_ctx, class_template)

    def __call__(self, ctx: torch.Tensor) -> torch.Tensor:
        t = self.t
        mask = self.mask.to(ctx.device)
        out = t.transformer(inputs_embeds=self._embed(ctx), attention_mask=mask)
        return t.proj(t.pooler(out, mask)).float()


def prompt_encoder(model: Any, tokenizer: Callable, classnames: Sequence[str], n_ctx: int, class_template: str = "{}.") -> PromptEncoder:
    """The :class:`PromptEncoder` for ``model``'s text tower (native open_clip or HF).

    Raises :class:`ConfigError` for other text towers or prompts that do not fit with ``n_ctx``.
    """
    from open_clip.hf_model import HFTextEncoder
    from open_clip.transformer import TextTransformer

    classnames = list(classnames)
    check(len(classnames) > 0 and all(isinstance(c, str) and c.strip() for c in classnames), "classnames must be non-empty strings")
    text = getattr(model, "text", None)
    if isinstance(text, HFTextEncoder):
        return _HFText(model, text, tokenizer, classnames, n_ctx, class_template)
    if isinstance(text, TextTransformer):
        return _NativeText(model, text, tokenizer, classnames, n_ctx, class_template)
    if text is None and all(hasattr(model, a) for a in ("token_embedding", "positional_embedding", "transformer", "ln_final")):
        return _NativeText(model, model, tokenizer, classnames, n_ctx, class_template)
    raise ConfigError(f"CoOp supports open_clip's native text transformer and its HF text tower; "
                      f"got a {type(model).__name__} with text tower {type(text).__name__}")


# --------------------------------------------------------------------------- training


class _Frozen:
    """Context manager: every parameter of ``model`` frozen and the model in eval mode; restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.modes = [(m, m.training) for m in self.model.modules()]
        for p, _ in self.flags:
            p.requires_grad_(False)
        self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        for p, f in self.flags:
            p.requires_grad_(f)
        for m, t in self.modes:
            m.train(t)


def train_coop(
    model: Any,
    tokenizer: Callable,
    classnames: Sequence[str],
    train: tuple[Any, Any],
    val: tuple[Any, Any],
    cfg: CoOpConfig = CoOpConfig(),
    logit_scale: float | None = None,
) -> tuple[ZeroShotHead, torch.Tensor, list[dict[str, Any]]]:
    """Train CoOp's context on cached image features; keep the best-validation epoch.

    ``train`` / ``val``: ``(features [N, D], labels [N])`` from the same CLIP's image tower.
    ``logit_scale``: the *log* scale of the head (default: the model's own ``logit_scale``).
    Returns ``(head, ctx, history)``: a :class:`ZeroShotHead` whose rows are the normalised
    class features of the learned prompts (bias 0), the context ``[n_ctx, width]`` and one
    history row per epoch (epoch 0 = the initial context, not selectable, as in
    :func:`~synthrec_core.classifier.tune_head`). The model is left exactly as it was (its
    parameters are frozen and it is in eval mode during training; flags and modes restored).
    """
    ls = model_logit_scale(model) if logit_scale is None else float(logit_scale)
    enc = prompt_encoder(model, tokenizer, classnames, cfg.n_ctx, cfg.class_template)
    C = len(list(classnames))
    x, y = _as_xy(train, "train")
    vx, vy = _as_xy(val, "val")
    check(int(y.max()) < C and int(vy.max()) < C and int(y.min()) >= 0 and int(vy.min()) >= 0, f"labels must be in [0, {C})")
    dev = cfg.device
    gen = torch.Generator().manual_seed(cfg.seed)
    if cfg.ctx_init is None:
        init = torch.randn(cfg.n_ctx, enc.width, generator=gen) * cfg.ctx_std
    else:
        init = enc.phrase_embeddings(cfg.ctx_init).cpu()
        check(init.shape[0] == cfg.n_ctx, f"ctx_init={cfg.ctx_init!r} is {init.shape[0]} tokens but n_ctx={cfg.n_ctx}")
    ctx = nn.Parameter(init.to(dev))
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD([ctx], lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW([ctx], lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(y) / cfg.batch_size)
    sched = lr_schedule(opt, steps, cfg.schedule)
    scale = math.exp(ls)

    def weights() -> torch.Tensor:
        return F.normalize(enc(ctx), dim=-1)

    def val_acc() -> float:
        with torch.no_grad():
            z = F.normalize(vx.to(dev), dim=-1) @ weights().T
        return float((z.argmax(1).cpu() == vy).float().mean())

    history: list[dict[str, Any]] = []
    best_acc, best_w, best_ctx, best_row = -1.0, None, None, None
    with _Frozen(model):
        history.append({"epoch": 0, "loss": None, "lr": cfg.lr, "val_acc": val_acc(), "selected": False})
        for epoch in range(1, cfg.epochs + 1):
            losses = []
            for idx in torch.randperm(len(y), generator=gen).split(cfg.batch_size):
                opt.zero_grad(set_to_none=True)
                z = scale * F.normalize(x[idx].to(dev), dim=-1) @ weights().T
                loss = F.cross_entropy(z, y[idx].to(dev))
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            row = {"epoch": epoch, "loss": float(np.mean(losses)), "lr": opt.param_groups[0]["lr"], "val_acc": None, "selected": False}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                row["val_acc"] = val_acc()
                if row["val_acc"] > best_acc:  # strict: ties keep the earlier epoch
                    best_acc, best_row, best_ctx = row["val_acc"], row, ctx.detach().clone()
                    with torch.no_grad():
                        best_w = weights().cpu()
            history.append(row)
    best_row["selected"] = True
    head = ZeroShotHead(best_w, logit_scale=ls)
    return head.eval(), best_ctx.cpu(), history

