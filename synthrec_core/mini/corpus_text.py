"""Captions for the foundation corpus: each names the concept AND the rendering style.

Captions are drawn per image from template lists with the image's own random generator, so
they are deterministic by seed and varied. Nothing here knows about fonts' or clip-art authors'
names: captions carry only the concept, the style and (for glyphs) the font kind.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DIGIT_WORDS", "digit_caption", "letter_caption", "object_caption", "pick"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def pick(rng: np.random.Generator, options) -> str:
    """One element of ``options`` chosen by ``rng``."""
    return options[int(rng.integers(len(options)))]


def _kind_phrase(rng: np.random.Generator, style: str, kind: str) -> str:
    if style == "handwritten":
        return pick(rng, ("a script font", "a handwriting font", "a handwritten font", "a cursive font"))
    return pick(rng, (f"a {kind} font", f"a {kind} typeface", "a printed font", "a computer font"))


def digit_caption(rng: np.random.Generator, digit: int, style: str, kind: str) -> str:
    """A caption for an image of ``digit`` (0-9) in ``style`` ("handwritten" or "typed")."""
    n, w = str(digit), DIGIT_WORDS[digit]
    font = _kind_phrase(rng, style, kind)
    if style == "handwritten":
        adj = pick(rng, ("handwritten", "hand-written", "handwritten", "hand-drawn", "scribbled"))
        templates = (
            f"a {adj} digit {n}",
            f"a {adj} {n}",
            f"the digit {w} written in {font}",
            f"the number {w}, handwritten",
            f"a {adj} number {w}",
            f"the numeral {n} ({w}) written by hand",
            f"a {adj} digit {w} ({n})",
            f"the digit {n} written in {font}",
            f"a white {adj} {w} on a black background",
            f"a photo of the {adj} digit {n}",
            f"{w}, a {adj} digit",
            f"the number {n} written by hand",
        )
    else:
        adj = pick(rng, ("typed", "printed", "typeset", "typed", "machine-printed"))
        templates = (
            f"a {adj} digit {n} in {font}",
            f"a {adj} {n}",
            f"the digit {w} in {font}",
            f"the number {w}, {adj}",
            f"a {adj} number {w}",
            f"the numeral {n} ({w}) set in {font}",
            f"a {adj} digit {w} ({n})",
            f"the digit {n} printed in {font}",
            f"a white {adj} {w} on a black background",
            f"a photo of the {adj} digit {n}",
            f"{w}, a {adj} digit",
            f"the number {n} in {font}",
        )
    return pick(rng, templates)


def letter_caption(rng: np.random.Generator, char: str, style: str, kind: str) -> str:
    """A caption for an image of the letter ``char`` (case matters) in ``style``."""
    case = pick(rng, ("capital", "uppercase", "upper-case")) if char.isupper() else pick(
        rng, ("small", "lowercase", "lower-case")
    )
    font = _kind_phrase(rng, style, kind)
    adj = (
        pick(rng, ("handwritten", "hand-written", "hand-drawn"))
        if style == "handwritten"
        else pick(rng, ("typed", "printed", "typeset"))
    )
    templates = (
        f"a {adj} {case} letter {char}",
        f"the {case} letter {char} written in {font}" if style == "handwritten" else f"the {case} letter {char} in {font}",
        f"the letter {char}, {adj}",
        f"a {adj} letter {char} ({case})",
        f"a white {adj} {case} {char} on a black background",
        f"the {case} {char}, {adj}",
    )
    return pick(rng, templates)


def object_caption(rng: np.random.Generator, noun: str, style: str, specific: str | None = None) -> str:
    """A caption for a clip-art object ``noun`` in ``style`` (silhouette, outline, grayscale).

    ``specific`` is a more specific name (e.g. "parrot" for the concept "bird"), mentioned in
    some captions beside the concept, which every caption names.
    """
    art = "an" if noun[:1].lower() in "aeiou" else "a"
    name = noun
    if specific and specific not in noun and noun not in specific:
        # the concept is always named; the specific word is added beside it
        name = pick(rng, (noun, f"{noun} ({specific})", f"{specific}, a kind of {noun}"))
        art = "an" if name[:1].lower() in "aeiou" else "a"
    if style == "silhouette":
        templates = (
            f"a white silhouette of {art} {name}",
            f"a silhouette of {art} {name}",
            f"the silhouette of {art} {name} on a black background",
            f"{art} {name}, filled white silhouette",
            f"a white shape of {art} {name}",
            f"a black and white silhouette of {art} {name}",
        )
    elif style == "outline":
        templates = (
            f"an outline drawing of {art} {name}",
            f"the outline of {art} {name}",
            f"a line drawing of {art} {name}",
            f"{art} {name}, drawn in white outline",
            f"a contour sketch of {art} {name}",
            f"a white outline of {art} {name} on a black background",
        )
    elif style == "grayscale":
        templates = (
            f"a grayscale picture of {art} {name}",
            f"a black and white picture of {art} {name}",
            f"a grayscale image of {art} {name}",
            f"a small grayscale photo of {art} {name}",
            f"{art} {name} in grayscale",
            f"a monochrome picture of {art} {name}",
        )
    else:
        raise ValueError(f"unknown object style {style!r}; expected silhouette, outline or grayscale")
    return pick(rng, templates)
