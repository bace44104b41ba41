"""Tests of prompt templates, the offline WordNet setup and language enhancement."""

from __future__ import annotations

import warnings

import pytest

from synthrec_core.config import ConfigError
from synthrec_core.prompts import (
    T5LanguageEnhancer,
    class_knowledge,
    language_enhance,
    render_prompts,
    templates_for,
    wordnet,
)


def test_render_prompts_and_rejection():
    got = render_prompts(["a photo of a {}.", "a {} texture."], ["cat", "dog"])
    assert got == [["a photo of a cat.", "a cat texture."], ["a photo of a dog.", "a dog texture."]]
    for bad in ("a photo of a cat", "a {} and a {}", "{0} {}", "a {name}"):
        with pytest.raises(ConfigError):
            render_prompts(bad, ["cat"])
    with pytest.raises(ConfigError):
        render_prompts("a {}", [])


def test_template_tables_are_profile_data():
    from synthrec_core.profiles import section

    for profile in ("paper", "mini"):
        for name, spec in section(profile, "prompts").items():
            ts = [t if isinstance(t, str) else t["template"] for t in spec["templates"]]
            assert ts, name
            render_prompts(ts, ["x"])  # all valid
    assert templates_for("eurosat") == ["a centered satellite photo of {}."]
    assert len(templates_for("cifar10")) == 18 and len(templates_for("imagenet")) == 7
    assert templates_for("unknown_set") == ["a photo of a {}."]
    assert "handwritten" in templates_for("mnist", "mini")[0]
    with pytest.raises(ConfigError):
        templates_for("cifar10", "mini")


def test_wordnet_offline_setup():
    wn = wordnet()
    dog = wn.synset("dog.n.01")
    puppy = wn.synsets("puppy", "n")[0]
    assert dog in puppy.closure(lambda s: s.hypernyms())
    assert wn.synsets("kitten", "n")[0].lexname() == "noun.animal"


@pytest.mark.parametrize("name,style", [("dog", None), ("seven", "handwritten"), ("ankle boot", "grayscale"),
                                        ("zebra", "silhouette"), ("annual crop land", None)])
def test_language_enhance_distinct_and_named(name, style):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = language_enhance(name, 200, seed=0, style=style)
    assert len(out) == len(set(s.lower() for s in out)) and len(out) >= 50
    k = class_knowledge(name)
    names = [name.lower()] + [s.lower() for s in k["synonyms"]]
    for s in out:
        assert any(nm in s.lower() for nm in names), s
        if style:
            assert style in s, s
    assert language_enhance(name, 20, seed=0, style=style) == out[:20] or len(out) < 20
    assert language_enhance(name, 50, seed=1, style=style) != out[:50]


def test_language_enhance_warns_when_short():
    with pytest.warns(UserWarning, match="distinct sentences"):
        out = language_enhance("qwertyfoo", 500)
    assert 0 < len(out) < 500 and all("qwertyfoo" in s for s in out)
    with pytest.raises(ConfigError):
        language_enhance("", 5)


def test_t5_offline_fails_fast(monkeypatch, tmp_path):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty hub cache: nothing to load
    t0 = time.time()
    with pytest.raises(RuntimeError, match="mrm8488/t5-base-finetuned-common_gen"):
        T5LanguageEnhancer()
    assert time.time() - t0 < 30
