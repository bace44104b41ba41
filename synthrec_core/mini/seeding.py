"""Per-item random generators of the mini world: one generator from (a config seed, what the item is).

The corpus builder gives every image its own generator, derived from the config seed and the
image's identity (part, concept, style, index ...), so a build is deterministic and any subset of
images can be rendered alone, in any process. This module is shared by :mod:`.corpus` and
:mod:`.corpus_objects`; it imports nothing else of the mini world (it breaks what used to be an
import cycle between them). It is not a global seeding helper: for that see
:func:`synthrec_core.utils.seed_everything`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["seed_for"]


def seed_for(seed: int, *parts: Any) -> np.random.Generator:
    """A NumPy generator seeded from sha256 of ``repr((seed, *parts))``.

    ``parts`` name the item (e.g. ``("digit", "7", "typed", 12)``); they must have a stable
    ``repr`` (strings, ints, tuples of those).
    """
    digest = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
