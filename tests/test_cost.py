"""``synthrec cost``: image counts from a notebook config (hand-counted), shared sets once, published-figure GPU-hours.

The crafted config below is counted by hand in ``HAND``; the job files ``write_jobs`` makes for
a mini config are counted image by image and must hold every set the notebook's cells ask for.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from synthrec_core import cost
from synthrec_core.cli import main
from synthrec_core.config import ConfigError

# cifar10 (10 classes) and dtd (47), seeds 0 and 1, K = 8 kept of 20 generated from 4 LE sentences
CRAFTED = {"models": "paper", "datasets": ["cifar10", "dtd"], "seeds": [0, 1], "train_per_class": 8, "pool_per_class": 20,
           "le_sentences": 4, "saturation_dataset": "cifar10", "saturation_sizes": [2, 4, 16], "scratch_dataset": "dtd",
           "scratch_real": [2, 4], "scratch_synthetic": [4, 12]}
HAND = {
    # ablation B: one prompt, 8 images per class, per dataset and seed
    "B": 10 * 8 * 2 + 47 * 8 * 2,  # 912
    # ablation LE: 4 prompts x ceil(20 / 4) = 5 images = 20 per class, per dataset and seed
    "LE": 10 * 20 * 2 + 47 * 20 * 2,  # 2280
    # saturation, cifar10, per seed: one LE set of the largest size (16 per class, no CF pool) = 4 prompts x 4,
    # inside that seed's LE set (4 prompts x 5), so it adds nothing
    "saturation": 0,
    # from scratch, dtd, seed 0: pool ceil(12 x 2.5) = 30 -> ceil(30 / 4) = 8 per prompt; adds 3 per prompt beyond the LE set's 5
    "scratch": 47 * 4 * 3,  # 564
}
REQUESTED = HAND["B"] + HAND["LE"] + 2 * 10 * 16 + 47 * 32  # every cell's set counted in full: 5016


def test_the_image_count_of_a_crafted_config_equals_the_hand_count():
    est = cost.estimate("01_zero_shot", CRAFTED)
    assert est["images"] == sum(HAND.values()) == 3756
    assert est["requested_images"] == REQUESTED == 5016
    assert est["sets"] == 2 * 2 * 2  # (B, LE) x datasets x seeds: saturation and scratch add to seed-0 LE sets
    # published figures: SD 1.5, 512 px, 50 steps, 1.60 s (default) / 1.06 s (compiled); the profile samples 25 steps
    assert est["gpu_hours"]["default"] == pytest.approx(3756 * 1.60 * 25 / 50 / 3600)
    assert est["gpu_hours"]["compiled"] == pytest.approx(3756 * 1.06 * 25 / 50 / 3600)


def test_union_keeps_per_prompt_maxima_and_separates_seeds_and_prompt_sets():
    a = cost.SetRequest("a", "x", 3, "le", 0, 8, 4)  # 4 prompts x 2 images
    b = cost.SetRequest("b", "x", 3, "le", 0, 10, 4)  # 4 prompts x ceil(10 / 4) = 3: contains a's images
    c = cost.SetRequest("c", "x", 3, "le", 1, 8, 4)  # another seed: other images
    d = cost.SetRequest("d", "x", 3, "basic", 0, 5)  # the basic prompt: other images
    e = cost.SetRequest("e", "x", 3, "le", 0, 8, 2)  # another sentence count: not assumed shared
    u = cost.union_images([a, b, c, d, e])
    assert u == {a.group: 3 * 4 * 3, c.group: 3 * 8, d.group: 3 * 5, e.group: 3 * 8}


def test_class_counts_come_from_the_registry_or_the_folder(tmp_path):
    assert cost._classes("caltech256") == 257 and cost._classes("imagenet") == 1000
    for c in ("a", "b", "c"):
        (tmp_path / "train" / c).mkdir(parents=True)
    assert cost._classes(str(tmp_path)) == 3
    with pytest.raises(ConfigError, match="cannot count its classes"):
        cost._classes("not_a_dataset")


def test_published_figures_scale_with_denoising_steps_and_apply_only_to_sd15_at_512():
    gen = cost._generator("paper")
    assert cost.seconds_per_image(gen, "default") == pytest.approx(1.60 * 25 / 50)
    assert cost.seconds_per_image(gen, "compiled", strength=0.2) == pytest.approx(1.06 * 5 / 50)  # img2img: strength x steps
    assert cost.seconds_per_image({**gen, "height": 768, "width": 768}, "default") is None
    assert cost.seconds_per_image(cost._generator("mini"), "default") is None
    assert cost.estimate("01_zero_shot", {**CRAFTED, "models": "mini"})["gpu_hours"]["default"] is None


def test_notebooks_without_gpu_generation_and_unknown_ones():
    assert cost.plan("00_foundation", {}) == [] and cost.plan("04_paper_comparison", {}) == []
    with pytest.raises(ConfigError, match="no image plan for notebook '02_few_shot'"):
        cost.plan("02_few_shot", {})


def test_the_paper_config_counts_all_17_datasets():
    _, params = cost.notebook_parameters("01_zero_shot", "paper")
    est = cost.estimate("01_zero_shot", params)
    classes = sum(cost._classes(d) for d in params["datasets"])
    per_class = params["train_per_class"] + params["le_sentences"] * math.ceil(params["pool_per_class"] / params["le_sentences"])
    extra = 3 * 10 * (4000 - 2000)  # saturation on cifar10, per seed, beyond that seed's LE set (scratch on cifar100 fits in it)
    assert classes == 4357 and est["images"] == classes * per_class * 3 + extra


def test_the_cli_prints_images_and_labelled_gpu_hours(tmp_path, capsys):
    cfg = tmp_path / "crafted.yaml"
    cfg.write_text(yaml.safe_dump(CRAFTED))
    assert main(["cost", "01_zero_shot", "--profile", "paper", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "images to generate: 3,756 in 8 sets (the cells request 5,016" in out
    assert "published figures" in out and "A100-hours" in out
    assert main(["cost", "01_zero_shot", "--profile", "paper", "-p", "seeds", "[0]"]) == 2  # the schema wants >= 2 seeds
    assert "seeds" in capsys.readouterr().err


def test_written_jobs_hold_every_set_the_cells_ask_for(tmp_path, monkeypatch):
    """Mini models (offline enhancer): the job files' distinct images equal the estimate, and each
    cell's own job (``zero_shot.pool_job`` as the study builds it) is contained in one of them."""
    from synthrec_core.generation import GenerationJob
    from synthrec_core.toolkit import load_toolkit
    from synthrec_core.zero_shot import basic_prompts, le_prompts, pool_job

    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))
    params = {**CRAFTED, "models": "mini", "datasets": ["digits"], "saturation_dataset": "digits", "scratch_dataset": "digits",
              "train_per_class": 2, "pool_per_class": 4, "le_sentences": 3, "saturation_sizes": [1, 4], "scratch_synthetic": [3]}
    paths = cost.write_jobs("01_zero_shot", params, tmp_path / "jobs", device="cpu")
    jobs = [GenerationJob.from_json(p) for p in paths]
    listed = (tmp_path / "jobs" / "jobs.txt").read_text().split()
    assert listed == [str(p.resolve()) for p in paths] and len(paths) == 4
    assert cost.count_jobs(jobs) == cost.estimate("01_zero_shot", params)["images"]
    tk = load_toolkit("mini", generator=False, clip=(None, None, None))
    splits, spec = tk.splits("digits"), tk.prompt_spec("digits")
    units = {(j.seed, "_le_" in Path(path).name): {u.image_key for u in j.units()} for j, path in zip(jobs, paths)}
    for r in cost.plan("01_zero_shot", params):
        prompts = le_prompts(splits, spec, r.le_sentences, r.seed, tk.enhancer) if r.prompts == "le" else basic_prompts(splits, spec)
        cell = pool_job(list(splits.classnames), prompts, r.per_class, tk.gen, r.seed)
        assert {u.image_key for u in cell.units()} <= units[(r.seed, r.prompts == "le")], r
    assert json.loads(Path(paths[0]).read_text())["pipeline_id"] == "minigen"


@pytest.mark.slow  # runs the section's experiments on the mini models (~1 min on 2 cores)
def test_the_estimate_equals_what_the_sections_functions_generate(tmp_path, monkeypatch):
    """The zero-shot section's own functions (ablation, saturation, from scratch) on the mini
    models, with the engine's image store on: the images the engine generates equal the estimate."""
    import torch

    from synthrec_core import generation
    from synthrec_core import zero_shot_study as study
    from synthrec_core.classifier import HeadConfig
    from synthrec_core.grid import Grid
    from synthrec_core.toolkit import load_toolkit
    from synthrec_core.zero_shot import ZeroShotConfig

    torch.set_num_threads(1)
    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SYNTHREC_IMAGE_STORE", "1")
    params = {**CRAFTED, "models": "mini", "datasets": ["digits"], "saturation_dataset": "digits", "scratch_dataset": "digits",
              "train_per_class": 2, "pool_per_class": 4, "le_sentences": 3, "saturation_sizes": [1, 4], "scratch_synthetic": [3]}
    tk = load_toolkit("mini")
    base = ZeroShotConfig(train_per_class=2, pool_per_class=4, le_sentences=3, head=HeadConfig(epochs=1))
    grid = Grid("cost", root=tmp_path / "grid")
    before = generation.STATS["images"]
    p = study.prepare(tk, "digits")
    study.ablation(tk, [p], params["seeds"], base, grid, progress=False)
    study.saturation(tk, p, params["saturation_sizes"], base, grid, seeds=params["seeds"], progress=False)
    study.from_scratch(tk, "digits", base, [2], params["scratch_synthetic"], [0], grid, epochs=1, progress=False)
    assert generation.STATS["images"] - before == cost.estimate("01_zero_shot", params)["images"]
