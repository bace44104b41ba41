"""Caption engineering for the training recipes: alt texts, stroke words, low-resolution copies.

The corpus captions name each image's concept and style. The recipes change them in three
measured, seeded ways before the MiniLM encodes them:

- :func:`alt_text_captions` (MiniCLIP, ``alt_text_noise``): a share of captions replaced, once,
  by a web-like alt text from :data:`ALT_TEXTS` that never names the concept;
- :func:`stroke_word_captions` (MiniGen, ``stroke_words``): typography captions gain the stroke
  weight measured on the image (:data:`STROKE_WORDS`);
- :func:`lowres_copies` (MiniGen, ``lowres_share``): low-resolution copies (:func:`lowres`) of a
  share of the typography images, captioned with :data:`LOWRES_PHRASE`.

Pure functions of a corpus (anything with ``images``, ``captions``, ``group``, ``style``
columns); no model and no cache here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "ALT_TEXTS",
    "STROKE_WORDS",
    "TYPOGRAPHY_GROUPS",
    "LOWRES_PHRASE",
    "LOWRES_SIZE",
    "alt_text_captions",
    "stroke_word_captions",
    "lowres",
    "lowres_copies",
]

#: appended to the caption of a low-resolution copy (:func:`lowres_copies`)
LOWRES_PHRASE = "in low resolution"
#: the side the shipped MiniGen's low-resolution copies were downsampled to (stage minigen-lowres)
LOWRES_SIZE = 8

#: web-like alt texts that do not name the concept, per corpus group (``{style}`` = the image's style)
ALT_TEXTS: dict[str, tuple[str, ...]] = {
    "any": ("an icon", "clip art", "a small picture", "an image", "a {style} picture", "a {style} image",
            "free clip art", "a thumbnail"),
    "digit": ("a number", "a digit", "a {style} number", "a numeral", "a single digit"),
    "letter": ("a letter", "a character", "a {style} letter", "a glyph"),
    "animal": ("an animal", "a {style} animal", "an animal picture", "a mammal or a bird"),
    "clothing": ("clothes", "a piece of clothing", "a fashion item", "something to wear", "a {style} clothing item"),
    "object": ("an object", "a thing", "a {style} object"),
}

#: stroke-weight words for typography captions: (lowest, highest) mean stroke width in pixels at
#: 32 px (``corpus_render.stroke_width`` of the > 127 mask) -> phrase. Widths in between get no
#: word. The bands are the lower third, upper third and top tenth of the mini corpus's digits
#: (2.24 / 2.83 / 3.6 px); real MNIST strokes average 3.2 px, upsampled scikit-learn digits 4.2.
STROKE_WORDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 2.25, "in thin strokes"),
    (2.85, 3.6, "in bold strokes"),
    (3.6, float("inf"), "in very bold strokes"),
)
#: the corpus groups whose captions and images the stroke and low-resolution recipes change
TYPOGRAPHY_GROUPS = ("digit", "letter")


def stroke_word_captions(corpus: Any, captions: np.ndarray | None = None) -> np.ndarray:
    """``captions`` (default the corpus's) with the stroke weight of every typography image
    (:data:`TYPOGRAPHY_GROUPS`) appended when it falls in a :data:`STROKE_WORDS` band, e.g.
    "the digit 7 written in a cursive font in bold strokes". Measured from the image, so the
    words describe what the picture shows, the way a style word does."""
    from .corpus_render import stroke_width

    out = np.asarray(corpus.captions if captions is None else captions).astype(object).copy()
    for i in np.flatnonzero(np.isin(corpus.group, TYPOGRAPHY_GROUPS)):
        w = stroke_width(corpus.images[i] > 127)
        for lo, hi, phrase in STROKE_WORDS:
            if lo < w <= hi or (lo == 0.0 and w == 0.0):
                out[i] = f"{out[i]} {phrase}"
                break
    return out.astype(str)


def lowres(images: np.ndarray, size: int = LOWRES_SIZE) -> np.ndarray:
    """uint8 images [N,H,W] box-downsampled to ``size`` px and bilinearly upsampled back."""
    from PIL import Image

    side = images.shape[-1]
    if not len(images):
        return np.zeros((0, side, side), np.uint8)
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.BOX).resize((side, side), Image.BILINEAR))
                     for im in images]).astype(np.uint8)


def lowres_copies(corpus: Any, captions: np.ndarray, share: float, size: int = LOWRES_SIZE,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution copies (:func:`lowres`) of a seeded ``share`` of the typography images,
    their captions (from ``captions``) followed by :data:`LOWRES_PHRASE`, the way a web caption
    calls a thumbnail or a scan low-resolution. Returns (images uint8 [M,H,W], captions [M])."""
    rng = np.random.default_rng([seed, 8])
    typo = np.flatnonzero(np.isin(corpus.group, TYPOGRAPHY_GROUPS))
    pick = np.sort(typo[rng.random(len(typo)) < share])
    caps = np.array([f"{captions[i]} {LOWRES_PHRASE}" for i in pick], dtype=str)
    return lowres(corpus.images[pick], size), caps


def alt_text_captions(corpus: Any, share: float, seed: int) -> np.ndarray:
    """The corpus captions with a seeded ``share`` of them replaced, once and for all, by an
    alt text from :data:`ALT_TEXTS` (generic, or naming only the image's group and style), the
    way much web alt text never names what a picture shows."""
    rng = np.random.default_rng([seed, 271828])
    out = corpus.captions.astype(object).copy()
    for i in np.flatnonzero(rng.random(len(out)) < share):
        pool = ALT_TEXTS["any"] + ALT_TEXTS.get(str(corpus.group[i]), ())
        out[i] = pool[rng.integers(len(pool))].format(style=corpus.style[i])
    return out.astype(str)
