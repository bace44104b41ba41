"""Font discovery for the typography part of the foundation corpus.

Lists the font files installed on the machine (``fc-list``, falling back to a walk of
``/usr/share/fonts``), drops fonts that cannot render Latin digits (symbol, math, music and
non-Latin script fonts), classifies each face as ``handwritten`` (handwriting-like or script
families, by a family-name list) or ``typed`` (with a finer kind: serif, sans-serif, monospace),
and keeps a few weights per typed family so the corpus is not dominated by near-duplicates.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["FontFace", "HANDWRITING_FAMILIES", "discover_fonts", "classify_family"]

#: family-name substrings (lower case) of handwriting-like or script fonts shipped by Debian
HANDWRITING_FAMILIES: tuple[str, ...] = (
    "dkghandwriting", "breip", "because we", "comic neue", "dancing script", "ecolier",
    "femkeklaver", "humor sans", "kaushan", "klee", "kristi", "joscelyn", "havana", "leckerli",
    "lobster", "z003", "chorus", "typoscript", "apropal",
)

#: family-name substrings of fonts that are not ordinary Latin text faces
_EXCLUDE: tuple[str, ...] = (
    "math", "symbol", "d050000l", "music", "initials", "keyboard", "karla tamil", "nushu",
    "mayan", "smallcaps", "kufi", "naskh", "nastaliq", "rashi", "looped", "bajaderka",
)
_NOTO_LATIN = {"noto sans", "noto serif", "noto sans display", "noto serif display"}

_MONO = ("mono", "code", "cursor", "hack", "inconsolata", "anonymous", "courier", "monofur", "unifur")
_SERIF = (
    "serif", "roman", "garamond", "libertine", "gentium", "charis", "caladea", "bookman", "bonum",
    "pagella", "schola", "termes", "c059", "p052", "nimbus roman",
)
_PREFERRED_STYLES = ("regular", "book", "roman", "medium", "normal")


@dataclasses.dataclass(frozen=True)
class FontFace:
    """One font file: its family, style name, path and classification."""

    family: str
    style_name: str
    path: str
    style: str  # "handwritten" or "typed"
    kind: str  # "script", "serif", "sans-serif" or "monospace"

    @property
    def name(self) -> str:
        return f"{self.family} {self.style_name}".strip()


def classify_family(family: str) -> tuple[str, str] | None:
    """``(style, kind)`` for a family name, or ``None`` if the family is excluded."""
    low = family.lower()
    if low.startswith("noto") and low not in _NOTO_LATIN:
        return None
    if any(x in low for x in _EXCLUDE):
        return None
    if any(x in low for x in HANDWRITING_FAMILIES):
        return "handwritten", "script"
    if any(x in low for x in _MONO):
        return "typed", "monospace"
    if any(x in low for x in _SERIF):
        return "typed", "serif"
    return "typed", "sans-serif"


def _fc_list() -> list[tuple[str, str, str]]:
    if shutil.which("fc-list"):
        out = subprocess.run(
            ["fc-list", "--format", "%{family[0]}|%{style[0]}|%{file}\n"],
            capture_output=True, text=True, check=False,
        ).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) == 3:
                rows.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
        if rows:
            return rows
    rows = []
    for p in sorted(Path("/usr/share/fonts").rglob("*")):
        if p.suffix.lower() in (".ttf", ".otf"):
            stem = p.stem.replace("_", " ")
            fam, _, style = stem.partition("-")
            rows.append((fam, style or "Regular", str(p)))
    return rows


def _has_chars(path: str, chars: str) -> bool:
    try:
        import freetype

        face = freetype.Face(path)
        return all(face.get_char_index(ord(c)) != 0 for c in chars)
    except Exception:  # unreadable or unsupported font file
        return False


def _style_rank(style_name: str) -> tuple[int, str]:
    low = style_name.lower()
    if low in _PREFERRED_STYLES:
        return (0, low)
    if low in ("bold", "italic", "oblique"):
        return (1, low)
    if "bold" in low and ("italic" in low or "oblique" in low):
        return (2, low)
    return (3, low)


def discover_fonts(required_chars: str = "0123456789", variants_per_typed_family: int = 3) -> list[FontFace]:
    """All usable font faces, sorted by (style, family, style name).

    Handwriting-like families keep every face; typed families keep at most
    ``variants_per_typed_family`` faces (regular first, then bold / italic). Only ``.ttf`` and
    ``.otf`` files whose character map covers ``required_chars`` are kept.
    """
    seen_files: dict[tuple[str, str], str] = {}
    for family, style_name, path in _fc_list():
        if Path(path).suffix.lower() not in (".ttf", ".otf"):
            continue
        family = re.sub(r"\s+", " ", family)
        key = (family, style_name)
        # prefer .otf/.ttf in a stable order when a face is installed twice
        if key not in seen_files or path < seen_files[key]:
            seen_files[key] = path
    by_family: dict[str, list[FontFace]] = {}
    for (family, style_name), path in sorted(seen_files.items()):
        cls = classify_family(family)
        if cls is None or not _has_chars(path, required_chars):
            continue
        by_family.setdefault(family, []).append(FontFace(family, style_name, path, *cls))
    faces: list[FontFace] = []
    for family, fs in sorted(by_family.items()):
        fs = sorted(fs, key=lambda f: _style_rank(f.style_name))
        if fs[0].style == "typed":
            fs = fs[:variants_per_typed_family]
        faces.extend(fs)
    return sorted(faces, key=lambda f: (f.style, f.family.lower(), f.style_name.lower()))
