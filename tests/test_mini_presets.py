"""Presets and chains as data (``synthrec_core/profiles/mini/training.yaml``).

The loaded presets must equal the Python definitions they replaced (copied below as they were),
the ``mini`` corpus must keep the cache key of the corpus already built, and the shipped MiniGen
chain must agree with what its shipped runs recorded: the loss logs beside the weights (steps,
learning rate) and the config inside the shipped checkpoint.
"""

from __future__ import annotations

import math

import pytest

from synthrec_core.config import ConfigError


def _old_presets():
    """The presets as Python code had them before they became data (commit 069a507)."""
    from synthrec_core.mini.corpus import CorpusConfig
    from synthrec_core.mini.train import MiniCLIPConfig, MiniGenConfig

    corpus = {"tiny": CorpusConfig(),
              "mini": CorpusConfig(parts=("digits", "letters", "objects"), digit_images=2000, letter_images=120,
                                   object_images=1200, other_object_images=20, procedural_garments=60)}
    clip = {"tiny": MiniCLIPConfig(),
            "mini": MiniCLIPConfig(corpus="mini", arch="MiniCLIP-CNN", steps=850, batch_size=256, lr=2e-3,
                                   warmup_steps=40, checkpoint_minutes=3.0, targets="caption", alt_text_noise=0.3)}
    gen = {"tiny": MiniGenConfig(),
           "mini": MiniGenConfig(corpus="mini", arch="mini", steps=6000, batch_size=48, lr=5e-4, warmup_steps=200,
                                 checkpoint_minutes=4.0)}
    return corpus, clip, gen


def test_loaded_presets_equal_the_old_python_ones():
    from synthrec_core.mini.corpus import CORPUS_PRESETS
    from synthrec_core.mini.train import MINICLIP_PRESETS, MINIGEN_PRESETS

    corpus, clip, gen = _old_presets()
    for new, old in ((CORPUS_PRESETS, corpus), (MINICLIP_PRESETS, clip), (MINIGEN_PRESETS, gen)):
        for name, cfg in old.items():
            assert new[name].to_dict() == cfg.to_dict(), name
            assert type(new[name]) is type(cfg) and new[name].cache_key() == cfg.cache_key(), name


def test_mini_corpus_keeps_the_key_of_the_built_corpus():
    from synthrec_core.mini.corpus import corpus_dir, corpus_preset

    assert corpus_preset("mini").cache_key() == "98d5ef62c77eff8c"
    assert corpus_dir(corpus_preset("mini")).name == "corpus-98d5ef62c77eff8c"
    # the typography preset is mini's glyph parts alone: the same per-part fields
    typo, mini = corpus_preset("typography"), corpus_preset("mini")
    assert typo.parts == ("digits", "letters")
    assert {k: v for k, v in typo.to_dict().items() if "object" not in k and k not in ("parts", "procedural_garments")} == \
           {k: v for k, v in mini.to_dict().items() if "object" not in k and k not in ("parts", "procedural_garments")}


def test_presets_are_read_only_and_looked_up_by_name():
    from synthrec_core.mini.corpus import CORPUS_PRESETS, corpus_preset
    from synthrec_core.mini.train import MINIGEN_PRESETS, miniclip_preset, minigen_preset

    with pytest.raises(TypeError):
        CORPUS_PRESETS["mini"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        MINIGEN_PRESETS["x"] = MINIGEN_PRESETS["tiny"]  # type: ignore[index]
    assert miniclip_preset("mini").arch == "MiniCLIP-CNN" and minigen_preset("mini").arch == "mini"
    with pytest.raises(ConfigError, match="Did you mean 'mini'"):
        corpus_preset("minii")


def _write(tmp_path, text: str):
    path = tmp_path / "training.yaml"
    path.write_text(text)
    return path


def test_yaml_values_are_typed_before_validation(tmp_path):
    from synthrec_core.mini.presets import load_presets
    from synthrec_core.mini.train import MiniGenConfig

    ok = load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigen:\n  a: {max_minutes: 30, lr: 0.001}\n"))
    assert ok["a"].max_minutes == 30.0 and isinstance(ok["a"].max_minutes, float)
    assert ok["a"].cache_key() == MiniGenConfig(lr=0.001, max_minutes=30.0).cache_key()
    with pytest.raises(ConfigError, match=r"lr='2e-3' must be of type float \(YAML reads 2e-3 as text"):
        load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigen:\n  a: {lr: 2e-3}\n"))
    with pytest.raises(ConfigError, match="steps=True must be of type int"):
        load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigen:\n  a: {steps: true}\n"))
    with pytest.raises(ConfigError, match="unknown MiniGenConfig field"):
        load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigen:\n  a: {stepz: 3}\n"))
    with pytest.raises(ConfigError, match="warmup_steps"):  # the config's own validation still runs
        load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigen:\n  a: {steps: 5, warmup_steps: 9}\n"))
    with pytest.raises(ConfigError, match="section"):
        load_presets("minigen", MiniGenConfig, _write(tmp_path, "minigenn:\n  a: {}\n"))


def test_chain_entries_are_checked_before_training(tmp_path):
    from synthrec_core.mini.train import minigen_chain

    def chain(stages: str):
        return minigen_chain("c", _write(tmp_path, "minigen_chains:\n  c:\n    preset: tiny\n    stages:\n" + stages))

    a = "      - {name: a, corpus: tiny, continues: null, config: {steps: 3, warmup_steps: 1}}\n"
    stages = chain(a + "      - {name: b, corpus: tiny, continues: a, config: {lr: 0.0001}}\n")
    assert [s.name for s in stages] == ["a", "b"] and stages[1].config.steps == 3 and stages[1].config.lr == 0.0001
    assert stages[1].continues == "a" and stages[1].changes == {"lr": 0.0001}
    for bad, match in (("      - {name: b, corpus: tiny, continues: z}\n", "not an earlier stage"),
                       ("      - {name: a, corpus: tiny}\n", "used twice"),
                       ("      - {name: b, corpus: nope}\n", "corpus"),
                       ("      - {name: b, corpus: tiny, config: {init_from: x}}\n", "init_from"),
                       ("      - {name: b, corpus: tiny, confg: {}}\n", "unknown entries"),
                       ("      - {name: b, corpus: tiny, config: {stop_step: 9}}\n", "stage 'b'.*stop_step")):
        with pytest.raises(ConfigError, match=match):
            chain(a + bad)


def test_shipped_chain_agrees_with_the_recorded_loss_logs():
    from synthrec_core.mini.shipped_cards import WEIGHTS_DIR
    from synthrec_core.mini.train import lr_at, minigen_chain, read_loss

    stages = minigen_chain("shipped")
    assert [s.name for s in stages] == ["minigen-stage1", "minigen-union", "minigen-union2", "minigen-union3",
                                        "minigen-strokes", "minigen-lowres"]
    assert [s.continues for s in stages] == [None] + [s.name for s in stages[:-1]]
    logged = [s for s in stages if s.recorded.get("loss_log")]
    assert len(logged) == 5
    for s in logged:
        rows = read_loss(WEIGHTS_DIR / "minigen" / s.recorded["loss_log"])
        cfg = s.config
        assert [r["step"] for r in rows] == list(range(cfg.last_step())), s.name  # steps run = the recipe's last step
        for r in (rows[0], rows[len(rows) // 2], rows[-1]):  # warmup, lr and cosine schedule as the run logged them
            assert math.isclose(r["lr"], lr_at(r["step"], cfg, cfg.final_lr_ratio), rel_tol=2e-3), (s.name, r)


def test_shipped_checkpoint_records_the_last_stage_of_the_chain():
    from synthrec_core.mini.train import SHIPPED_MINIGEN_CHECKPOINT, load_checkpoint
    from synthrec_core.mini.train_chain import stage_config

    state = load_checkpoint(SHIPPED_MINIGEN_CHECKPOINT)
    recipe = {k: v for k, v in stage_config("shipped", "minigen-lowres").to_dict().items()
              if k not in ("threads", "max_minutes", "progress", "out_dir", "init_from", "checkpoint_minutes")}
    assert {k: state["config"][k] for k in recipe} == recipe
    assert state["stage"] == "minigen-lowres" and state["step"] == recipe["steps"]
