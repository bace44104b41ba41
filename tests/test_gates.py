"""The mini world's gates and scorecard: helpers, held-out draws, recipes as data, the selection rule.

The gates themselves run the core zero-shot recipe and the engine (tested in test_zero_shot and
test_generation); here are the mini world's own pieces around them.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from synthrec_core.config import ConfigError


def _toolkit():
    from synthrec_core.data import load_dataset

    return SimpleNamespace(splits=lambda name, seed=0: load_dataset(name, seed=seed).to_mini())


def test_gate_helpers():
    from synthrec_core.mini.gates import _pairwise_distances
    from synthrec_core.zero_shot import class_names, fill_template

    digits = SimpleNamespace(classnames=["zero", "one"], display_names=["0", "1"])
    assert [fill_template("a handwritten digit {}", n) for n in class_names(digits, "display")] == [
        "a handwritten digit 0", "a handwritten digit 1"]
    assert class_names(SimpleNamespace(classnames=["ankle_boot"], display_names=["Ankle boot"])) == ["ankle boot"]
    x = np.zeros((2, 3, 4, 4), np.uint8)
    x[1] = 255  # prompt 1 all white: prompts differ by 255, seeds do not differ
    d = _pairwise_distances(x)
    assert d["same_seed_different_prompt"] == 255.0 and d["different_seed_same_prompt"] == 0.0


def test_gate_summary_applies_the_three_dataset_rule():
    import pandas as pd

    from synthrec_core.mini.selection import gate_summary

    rows = [{"gate": "3 synthetic data helps", "dataset": d, "measured": m, "threshold": "> std", "holds": m > 0.001}
            for d, m in (("a", 0.01), ("b", 0.02), ("c", -0.01), ("d", 0.0))]
    text = gate_summary(pd.DataFrame(rows), "mini")
    assert "fails (needs 3 datasets, has 2)" in text and "**mini**" in text
    rows[2]["measured"], rows[2]["holds"] = 0.03, True
    assert "holds (needs 3 datasets, has 3)" in gate_summary(pd.DataFrame(rows), "mini")


def test_holdout_splits_come_from_train_and_are_disjoint():
    from synthrec_core.mini.gates import mini_splits

    tk = _toolkit()
    _splits = lambda name, **kw: mini_splits(tk, name, **kw)

    full = _splits("digits")
    held = _splits("digits", report_on="holdout")
    assert held.test.split == "holdout" and len(held.test) == len(full.train) // 2
    assert len(held.train) + len(held.test) == len(full.train) and len(held.val) == len(full.val)
    rows = lambda ds: {x.tobytes() for x in ds.images}
    assert rows(held.test) <= rows(full.train) and not rows(held.test) & rows(full.test)
    again = _splits("digits", report_on="holdout")
    assert (again.test.labels == held.test.labels).all() and (again.test.images == held.test.images).all()
    second = _splits("digits", report_on="holdout2")  # the next draw: disjoint from the first
    assert second.test.split == "holdout2" and len(second.test) == len(full.train) - len(held.test)
    assert rows(second.test) <= rows(full.train) and not rows(second.test) & rows(held.test)
    assert rows(second.train) == rows(held.test)  # digits is small: the rest is the first draw
    with pytest.raises(ConfigError, match="report_on"):
        _splits("digits", report_on="validation")


def test_select_variant_needs_gate2_then_counts_gate3():
    from synthrec_core.mini.selection import select_variant

    def res(zs, gains):
        names = ("mnist", "digits", "animal_mnist", "fashion_mnist")
        return {"miniclip_zero_shot": dict(zip(names, zs)), "linear_probe_16shot": dict.fromkeys(names, 0.95),
                "synthetic_gain": {n: {"mean": g, "std": 0.005, "seeds": [0, 1, 2]} for n, g in zip(names, gains)}}

    variants = {"a": res((0.9, 0.9, 0.5, 0.5), (0.01, -0.01, 0.0, 0.0)),       # gate 2 ok, gate 3 on 1
                "b": res((0.9, 0.9, 0.34, 0.5), (0.02, 0.02, 0.02, 0.02)),     # best gains, fails gate 2
                "c": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.01, -0.02)),     # gate 2 ok, gate 3 on 3
                "d": res((0.9, 0.9, 0.4, 0.4), (0.01, 0.01, 0.006, -0.03))}    # as c, smaller mean gain
    out = select_variant(variants)
    assert out["chosen"] == "c"
    assert out["scores"]["b"]["gate2_failed"] == ["animal_mnist"] and out["scores"]["c"]["gate3_datasets"] == 3
    assert select_variant({"b": variants["b"]})["chosen"] is None
    with pytest.raises(ValueError):
        select_variant({})


def test_ablation_and_selection_tables(tmp_path, monkeypatch):
    import json

    from synthrec_core.mini.selection import selection_table

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    assert selection_table("miniclip", "mini") is None and selection_table("miniclip", "mini", "holdout") is None
    g = {"mean": 0.02, "std": 0.01, "seeds": [0, 1, 2]}
    variant = {"miniclip_zero_shot": {"mnist": 0.9}, "linear_probe_16shot": {"mnist": 0.95},
               "synthetic_gain": {"mnist": g}, "synthetic_ceiling": {"mnist": g}}
    (tmp_path / "mini" / "miniclip_selection.json").write_text(json.dumps(
        {"variants": {"a": variant, "b": variant}, "selection": {"chosen": "b"}}))
    table = selection_table("miniclip", "mini", "holdout")
    assert list(table.index.get_level_values(0)) == ["a", "b (chosen)"]
    assert table["gain > spread"].all() and table.loc[("a", "mnist"), "zero-shot"] == 90.0
    with pytest.raises(ConfigError):
        selection_table("miniclip", "mini", "val")
    # gate-3 recipes carry no corpus ceiling
    recipe = {k: v for k, v in variant.items() if k != "synthetic_ceiling"}
    (tmp_path / "mini" / "gate3_recipe.json").write_text(json.dumps({"variants": {"paper CT": recipe}}))
    table = selection_table("gate3_recipe", "mini")
    assert table.index.names == ["recipe", "dataset"] and "corpus ceiling" not in table.columns


def test_selection_results_paths(tmp_path, monkeypatch):
    from synthrec_core.mini.selection import selection_results_path

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    names = {(k, r): selection_results_path(k, "mini", r).name for k in ("miniclip", "gate3_recipe") for r in ("test", "holdout")}
    assert selection_results_path("minigen_stage", "mini", "holdout2").name == "minigen_stage_selection_holdout2.json"
    assert names == {("miniclip", "test"): "miniclip_ablation.json", ("miniclip", "holdout"): "miniclip_selection.json",
                     ("gate3_recipe", "test"): "gate3_recipe.json", ("gate3_recipe", "holdout"): "gate3_recipe_selection.json"}
    with pytest.raises(ConfigError):
        selection_results_path("minigen")


def test_low_resolution_judge_trains_on_blurred_corpus_images(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from synthrec_core.mini.gates import train_judge as _train_judge
    from synthrec_core.mini.train_captions import lowres

    monkeypatch.setenv("SYNTHREC_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    imgs = np.zeros((40, 32, 32), np.uint8)
    imgs[:20, 8:24, 14:18] = 255  # "one": a vertical bar
    imgs[20:, 14:18, 8:24] = 255  # "minus": a horizontal bar
    imgs = np.clip(imgs.astype(int) + rng.integers(0, 30, imgs.shape), 0, 255).astype(np.uint8)
    concepts = np.array(["one"] * 20 + ["minus"] * 20)
    corpus = SimpleNamespace(images=imgs, concept=concepts)
    sharp = _train_judge(corpus, ["one", "minus"], 20, 1, 0)
    blurred = _train_judge(corpus, ["one", "minus"], 20, 1, 0, lowres_size=8)
    files = sorted((tmp_path / "mini" / "judges").glob("*.pt"))
    assert len(files) == 2  # cached apart: the training images differ
    weights = [torch.load(f, weights_only=True) for f in files]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # a judge trained plainly on the blurred copies of the corpus images is the same judge: the same
    # training images, so the same cached weights (no third file) and the same predictions
    copy = _train_judge(SimpleNamespace(images=lowres(imgs, 8), concept=concepts), ["one", "minus"], 20, 1, 0)
    assert sorted((tmp_path / "mini" / "judges").glob("*.pt")) == files
    probe = rng.integers(0, 256, (64, 32, 32)).astype(np.uint8)
    assert (copy(probe) == blurred(probe)).all() and (copy(imgs) == blurred(imgs)).all()
    assert sharp(imgs).shape == (40,)


def test_selection_gains_one_row_per_variant(tmp_path, monkeypatch):
    import json

    from synthrec_core.mini.selection import selection_gains

    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path))
    assert selection_gains("gate3_recipe", "mini") is None
    res = lambda m: {"miniclip_zero_shot": {"mnist": 0.9, "digits": 0.8}, "linear_probe_16shot": {"mnist": 0.95, "digits": 0.9},
                     "synthetic_gain": {"mnist": {"mean": m, "std": 0.01}, "digits": {"mean": -0.01, "std": 0.01}}}
    (tmp_path / "mini" / "gate3_recipe.json").write_text(json.dumps({"variants": {"a": res(0.02), "b": res(0.0)}}))
    wide = selection_gains("gate3_recipe", "mini")
    assert list(wide.columns) == ["mnist", "digits", "gate-3 datasets"]
    assert wide.loc["a", "mnist"] == "+2.00 ± 1.00 ✓" and wide.loc["b", "mnist"] == "+0.00 ± 1.00"
    assert wide["gate-3 datasets"].to_dict() == {"a": 1, "b": 0}


def test_finish_selection_chooses_only_on_holdout(tmp_path, capsys):
    import json

    from synthrec_core.mini.selection import finish_selection

    g = {d: {"mean": 0.02, "std": 0.01, "seeds": [0, 1, 2]} for d in ("mnist", "digits", "animal_mnist", "fashion_mnist")}
    res = {"miniclip_zero_shot": {d: 0.9 for d in g}, "linear_probe_16shot": {d: 0.95 for d in g}, "synthetic_gain": g}
    out = finish_selection({"variants": {"a": res}}, tmp_path / "sel.json", "holdout")
    assert out["selection"]["chosen"] == "a" and json.loads((tmp_path / "sel.json").read_text()) == out
    assert "selection" not in finish_selection({"variants": {"a": res}}, tmp_path / "test.json", "test")
    assert finish_selection({"variants": {"a": res}}, tmp_path / "h2.json", "holdout2")["selection"]["chosen"] == "a"
    assert '"mnist": 2.0' in capsys.readouterr().out


def test_gate3_recipes_are_data_with_every_dataset_filled():
    from synthrec_core.mini.gates import gate3_recipe, world

    w = world()
    base = gate3_recipe("paper CT")
    assert base["head"] == {} and base["styles"] == w["styles"]
    assert base["prompts"]["mnist"] == ("a handwritten digit {}", "display")
    r = gate3_recipe("bold, CT batch 32")
    assert r["head"] == {"batch_size": 32} and r["prompts"]["digits"] == ("a handwritten digit {} in bold strokes", "display")
    assert r["prompts"]["animal_mnist"] == base["prompts"]["animal_mnist"]
    r = gate3_recipe("low-res, Fashion outline, paper CT")
    assert r["styles"]["fashion_mnist"] == "outline" and r["prompts"]["fashion_mnist"] == ("an outline drawing of a {}", "class")
    for name in w["gate3_recipes"]:
        assert set(gate3_recipe(name)["prompts"]) == set(w["gate1_prompts"])
    with pytest.raises(ConfigError, match="Did you mean"):
        gate3_recipe("paper CT.")


def test_the_shipped_recipe_prompts_are_the_profile_prompts():
    """The zero-shot chapter's basic prompts (profile `prompts`) are the gate-3 recipe the mini world chose."""
    from synthrec_core.mini.gates import gate3_recipe, world
    from synthrec_core.profiles import section

    chosen = gate3_recipe(world()["gate3_recipe"])["prompts"]
    for d, spec in section("mini", "prompts").items():
        assert (spec["basic"], spec.get("names", "class")) == chosen[d], d


def test_gate_grids_share_noise_across_prompts():
    from synthrec_core.generation import GenerationJob

    job = GenerationJob(classnames=("a", "b"), sentences=(("a ring",), ("a bar",)), images_per_prompt=3, pipeline_id="x",
                        shared_noise=True, weights="w")
    u = job.units()
    assert [x.seed for x in u[:3]] == [x.seed for x in u[3:]] and len({x.seed for x in u[:3]}) == 3
    assert len({x.seed for x in job.replace(shared_noise=False).units()}) == 6
