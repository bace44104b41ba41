"""Tests of the foundation corpus builder (tiny configs: a few fonts, a few images)."""

from __future__ import annotations

import numpy as np
import pytest

from synthrec_core.config import ConfigError
from synthrec_core.mini.corpus import (
    CorpusConfig,
    build_corpus,
    corpus_hashes,
    image_hashes,
    load_corpus,
)
from synthrec_core.mini.corpus_fonts import classify_family, discover_fonts
from synthrec_core.mini.corpus_render import center_of_mass, frame_like_mnist, set_stroke_width, stroke_width

TINY = CorpusConfig(parts=("digits", "letters"), digit_images=6, letter_images=2, max_fonts_per_style=4)


@pytest.fixture(scope="module")
def tmp_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNTHREC_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def tiny(tmp_cache):
    return load_corpus(build_corpus(TINY, progress=False))


def test_config_validation():
    with pytest.raises(ConfigError, match="parts"):
        CorpusConfig(parts=("digits", "photos"))
    with pytest.raises(ConfigError, match="size"):
        CorpusConfig(size=64)
    with pytest.raises(ConfigError, match="handwritten_share"):
        CorpusConfig(handwritten_share=1.5)
    assert CorpusConfig(workers=4).cache_key() == CorpusConfig().cache_key()
    assert CorpusConfig(seed=1).cache_key() != CorpusConfig().cache_key()


def test_font_classification():
    assert classify_family("Kristi") == ("handwritten", "script")
    assert classify_family("DejaVu Serif")[1] == "serif"
    assert classify_family("Noto Sans Devanagari") is None
    assert classify_family("Standard Symbols PS") is None
    faces = discover_fonts()
    styles = {f.style for f in faces}
    assert styles == {"handwritten", "typed"}, "both handwriting-like and typed fonts must be installed"


def test_shapes_and_columns(tiny):
    n = 10 * 6 + 52 * 2
    assert tiny.images.shape == (n, 32, 32) and tiny.images.dtype == np.uint8
    for col in (tiny.captions, tiny.concept, tiny.style, tiny.source, tiny.group):
        assert len(col) == n
    assert set(tiny.group) == {"digit", "letter"}
    assert set(tiny.style) == {"handwritten", "typed"}
    assert tiny.stats["n_images"] == n
    assert tiny.stats["per_concept"]["seven"] == 6


def test_polarity_and_framing(tiny):
    imgs = tiny.images.astype(float)
    # white on black: the border is dark, the ink is bright and covers a minority of pixels
    border = np.concatenate([imgs[:, :2].reshape(len(imgs), -1), imgs[:, -2:].reshape(len(imgs), -1)], 1)
    assert border.mean() < 5
    assert imgs.max(axis=(1, 2)).min() > 150
    assert 0.05 < (imgs > 127).mean() < 0.4
    coms = np.array([center_of_mass(im) for im in imgs])
    # the centre of mass sits at (16, 16) up to the translation jitter (+-1 px) and rounding
    assert np.abs(coms - 16.0).max() < 2.0
    assert abs(coms.mean() - 16.0) < 0.5


def test_captions_name_concept_and_style(tiny):
    words = ("handwritten", "hand-written", "hand-drawn", "scribbled", "by hand", "script",
             "cursive", "handwriting", "typed", "printed", "typeset", "font", "typeface")
    for cap, con, grp in zip(tiny.captions, tiny.concept, tiny.group):
        assert any(w in cap for w in words), cap
        if grp == "digit":
            from synthrec_core.mini.corpus_text import DIGIT_WORDS

            d = DIGIT_WORDS.index(con)
            assert str(d) in cap or con in cap, cap
        else:
            assert f" {con.split()[-1]}" in cap, cap
        for fam in set(tiny.source):
            assert fam.lower() not in cap.lower(), cap


def test_deterministic_by_seed(tiny, tmp_cache):
    again = load_corpus(build_corpus(TINY, force=True, progress=False))
    assert np.array_equal(again.images, tiny.images)
    assert list(again.captions) == list(tiny.captions)
    other = load_corpus(build_corpus(TINY.replace(seed=1), progress=False))
    assert not np.array_equal(other.images, tiny.images)


def test_workers_do_not_change_result(tiny):
    par = load_corpus(build_corpus(TINY.replace(workers=2), force=True, progress=False))
    assert np.array_equal(par.images, tiny.images)


def test_framing_helper_centres_an_offset_blob():
    img = np.zeros((100, 100), np.float32)
    img[10:30, 60:95] = 1.0
    out = frame_like_mnist(img, 32)
    cy, cx = center_of_mass(out.astype(float))
    assert abs(cy - 16) <= 0.6 and abs(cx - 16) <= 0.6
    ys, xs = np.nonzero(out > 20)
    assert max(np.ptp(ys), np.ptp(xs)) + 1 in (20, 21, 22)  # MNIST's 20 px box (antialiased edge)


def test_stroke_width_change():
    img = np.zeros((80, 80), np.float32)
    img[20:60, 36:44] = 1.0
    assert stroke_width(set_stroke_width(img, 6)) > stroke_width(img) + 3
    assert stroke_width(set_stroke_width(img, -4)) < stroke_width(img) - 2
    thin = set_stroke_width(img, -4)
    assert thin[:15].max() == 0 and thin[:, :30].max() == 0  # background stays black


def test_hashes(tiny):
    hs = corpus_hashes(tiny)
    assert len(hs) == len(tiny)  # augmented renders are all distinct
    padded = image_hashes(tiny.images[:, 2:-2, 2:-2])
    assert len(padded) > 0
