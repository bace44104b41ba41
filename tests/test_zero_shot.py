"""The zero-shot recipe (paper §1) end to end on the shipped mini models at tiny sizes, and its parts.

These run the same functions the paper profile runs (prompts -> engine -> feature cache -> CF ->
CT -> test), on MiniCLIP and MiniGen, which load in seconds; sizes are a few images per class.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthrec_core.config import ConfigError


@pytest.fixture(scope="module")
def tk():
    from synthrec_core.toolkit import load_toolkit

    torch.set_num_threads(1)
    return load_toolkit("mini")


@pytest.fixture(scope="module")
def digits3(tk):
    """scikit-learn digits restricted to three classes, with its val/test features and zero-shot head."""
    from synthrec_core import zero_shot_study as study
    from synthrec_core.data import select_classes

    p = study.prepare(tk, "digits")
    s = select_classes(p.splits, ["zero", "one", "seven"])
    from synthrec_core.features import encode_images
    from synthrec_core.zero_shot import zero_shot_head

    real = {k: (encode_images(tk.encoder, s[k].images, progress=False), s[k].labels) for k in ("val", "test")}
    head, info = zero_shot_head(tk.model, tk.tokenizer, s, tk.prompt_spec("digits"), real["val"])
    return s, real, head


def _cfg(**kw):
    from synthrec_core.classifier import HeadConfig
    from synthrec_core.zero_shot import ZeroShotConfig

    return ZeroShotConfig(**{"prompts": "le", "cf": True, "train_per_class": 3, "pool_per_class": 5, "le_sentences": 5,
                             "head": HeadConfig(epochs=5), **kw})


def test_recipe_tunes_the_head_only_and_records_every_image(tk, digits3):
    from synthrec_core.features import image_tower, weights_hash
    from synthrec_core.zero_shot import provenance, run_recipe

    s, real, head = digits3
    before = weights_hash(image_tower(tk.model))
    w0 = head.weight.detach().clone()
    res = run_recipe(s, tk.prompt_spec("digits"), _cfg(), 0, encoder=tk.encoder, tokenizer=tk.tokenizer, head=head, real=real,
                     gen=tk.gen, pipeline=tk.pipeline, progress=False)
    assert weights_hash(image_tower(tk.model)) == before and torch.equal(head.weight, w0)  # encoder and init untouched
    losses = [h["loss"] for h in res["history"][1:]]
    assert losses[-1] < losses[0]  # CT lowers the training loss
    assert res["train_images"] == 9 and len(res["test_pred"]) == len(real["test"][1])
    from synthrec_core.paths import cache_dir
    from synthrec_core.sets import SyntheticSet

    rows = provenance(SyntheticSet(cache_dir() / "sets" / res["set_key"]), res["table"])
    pool = rows[rows["p_own"].notna()]
    assert len(pool) == 15 and pool["kept"].sum() == 9  # 5 generated per class, CF kept 3
    for col in ("prompt", "seed", "pipeline_id", "weights", "scheduler", "steps", "guidance_scale", "p_own", "passed", "kept"):
        assert pool[col].notna().all(), col
    assert pool["weights"].iloc[0].startswith("files:") and pool["prompt"].str.contains("low resolution").all()


def test_the_saturation_curve_costs_only_its_largest_set(tk, digits3, monkeypatch, tmp_path):
    from synthrec_core import generation as gen
    from synthrec_core import zero_shot_study as study
    from synthrec_core.grid import Grid

    s, real, head = digits3
    p = study.Prepared("digits3", s, tk.prompt_spec("digits"), real, head, {"test_acc": 0.5, "test_pred": [0] * len(real[
        "test"][1])}, {"dataset": "digits3"})
    calls = []
    orig = gen.generate
    monkeypatch.setattr(gen, "generate", lambda job, *a, **k: calls.append(job.images_per_prompt) or orig(job, *a, **k))
    df = study.saturation(tk, p, [1, 2, 4, 8], _cfg(), Grid("t", root=tmp_path), seeds=[0], progress=False)
    keys = set(df["set_key"].dropna())
    assert len(keys) == 1 and set(calls) == {2}  # every size cut from one set: 8 per class, ceil(8/5) per sentence
    assert sorted(df["images_per_class"]) == [0, 1, 2, 4, 8]


def test_a_class_with_no_passing_image_falls_back_to_top_k_and_is_reported(tk, digits3):
    from synthrec_core.classifier import ZeroShotHead
    from synthrec_core.zero_shot import run_recipe

    from synthrec_core.features import encode_images
    from synthrec_core.paths import cache_dir
    from synthrec_core.sets import SyntheticSet

    s, real, head = digits3
    kw = dict(encoder=tk.encoder, tokenizer=tk.tokenizer, real=real, gen=tk.gen, pipeline=tk.pipeline, progress=False)
    first = run_recipe(s, tk.prompt_spec("digits"), _cfg(), 0, head=head, **kw)
    syn = SyntheticSet(cache_dir() / "sets" / first["set_key"])
    f = encode_images(tk.encoder, syn, progress=False)
    sevens = f[syn.manifest()["class_index"].to_numpy() == 2].mean(0)
    w = head.weight.detach().clone()
    w[2] = -torch.as_tensor(sevens / np.linalg.norm(sevens))  # "seven" now points away from its images: none passes CF
    res = run_recipe(s, tk.prompt_spec("digits"), _cfg(), 0, head=ZeroShotHead.from_weights(w, tk.model), **kw)
    assert 2 in res["fallback_classes"] and res["train_images"] == 9 and res["set_key"] == first["set_key"]


def test_recipe_configs_reject_bad_values():
    from synthrec_core.zero_shot import PromptSpec, ZeroShotConfig

    with pytest.raises(ConfigError, match="K larger than generated"):
        ZeroShotConfig(train_per_class=10, pool_per_class=5)
    with pytest.raises(ConfigError, match="prompts="):
        ZeroShotConfig(prompts="fancy")
    with pytest.raises(ConfigError, match="names="):
        PromptSpec(names="plural")
    with pytest.raises(ConfigError, match="exactly one"):
        PromptSpec(basic="a photo of a cat")
    with pytest.raises(ConfigError, match="template entry"):
        PromptSpec(templates=({"template": "a {}", "style": "x"},))


def test_an_imagefolder_path_is_a_dataset_with_the_profiles_default_prompts(tk, tmp_path):
    """A user's own classes, never seen by the project: shapes drawn here, loaded by path."""
    from PIL import Image, ImageDraw

    from synthrec_core import zero_shot_study as study

    root = tmp_path / "shapes"
    for cls in ("circle", "square", "triangle"):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            im = Image.new("L", (40, 40))
            d = ImageDraw.Draw(im)
            o = 4 + i % 6
            {"circle": lambda: d.ellipse((o, o, 34, 34), fill=255), "square": lambda: d.rectangle((o, o, 34, 34), fill=255),
             "triangle": lambda: d.polygon([(20, o), (o, 34), (36, 34)], fill=255)}[cls]()
            im.save(root / cls / f"{i}.png")
    p = study.prepare(tk, str(root))
    assert p.splits.classnames == ["circle", "square", "triangle"] and p.splits.train.images.shape[1:] == (32, 32)
    assert p.spec.basic == "a grayscale picture of a {}" and 0 <= p.zero_shot["test_acc"] <= 1


def test_the_contamination_audit_flags_a_planted_duplicate():
    from synthrec_core.audit import contamination_audit

    rng = np.random.default_rng(0)
    test_imgs = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8)
    test_feats = rng.normal(size=(20, 8))
    syn_imgs = rng.integers(0, 256, (10, 16, 16), dtype=np.uint8)
    syn_feats = rng.normal(size=(10, 8))
    clean = contamination_audit(syn_feats, syn_imgs, test_feats, test_imgs, threshold=0.99)
    assert clean["share_above_threshold"] == 0.0 and clean["share_hash_match"] == 0.0
    syn_imgs[3], syn_feats[3] = test_imgs[7], test_feats[7] * 2.0  # a copy of test image 7 (feature scale differs)
    out = contamination_audit(syn_feats, syn_imgs, test_feats, test_imgs, threshold=0.99, reference_feats=rng.normal(size=(30, 8)))
    assert out["share_above_threshold"] == pytest.approx(0.1) and out["nearest"][3] == 7
    assert (3, 7) in [tuple(m) for m in out["hash_matches"]] and out["closest"][0]["synthetic"] == 3
    assert out["calibrated_threshold"] < 1.0 and out["share_above_calibrated"] >= 0.1


def test_grid_cells_survive_a_crash_and_are_read_back(tmp_path):
    from synthrec_core.grid import Grid

    runs = []

    def cell(i):
        runs.append(i)
        if i == 2:
            raise RuntimeError("killed")
        return {"i": i}

    g = Grid("x", root=tmp_path)
    with pytest.raises(RuntimeError):
        for i in range(4):
            g.cell({"i": i}, lambda i=i: cell(i))
    again = Grid("x", root=tmp_path)
    out = [again.cell({"i": i}, lambda i=i: {"i": i}) for i in range(4)]
    assert out == [{"i": i} for i in range(4)] and again.reused == 2 and again.computed == 2 and runs == [0, 1, 2]


def test_bootstrap_findings_follow_the_papers_rule():
    from synthrec_core.stats import Bootstrap, finding

    rng = np.random.default_rng(0)
    n = 2000
    base = rng.random((1, n)) < 0.6
    better = np.stack([base[0] | (rng.random(n) < 0.1) for _ in range(3)])  # about +4 points, every seed
    noise = np.stack([np.where(rng.random(n) < 0.5, base[0], ~base[0]) for _ in range(3)])
    bs = Bootstrap({("d", "zs"): ("d", base), ("d", "good"): ("d", better), ("d", "noise"): ("d", noise)}, n_boot=300)
    good = finding("F", "x", "p", bs.evaluate(lambda a: a[("d", "good")] - a[("d", "zs")]), +1, seeds=[0, 1, 2])
    assert good["reproduced"] and good["significant"] and 2 < good["mean"] < 6 and good["interval"][0] > 0
    wrong = finding("F", "x", "p", bs.evaluate(lambda a: a[("d", "good")] - a[("d", "zs")]), -1)
    assert not wrong["reproduced"] and not wrong["significant"]
    with pytest.raises(ConfigError):
        Bootstrap({("d", "a"): ("d", base), ("d", "b"): ("d", np.ones((1, n - 1), bool))})
