"""Write the shipped models' cards (``synthrec_core/mini/weights/*/README.md``) from data.

Every number on a card comes from data in the repository: recipes from
``synthrec_core/profiles/mini/training.yaml``, training curves from the loss logs beside the
weights, measured numbers from ``results/mini/*.json`` (see :mod:`synthrec_core.mini.shipped_cards`).
Run it after any of those changes; ``tests/test_mini_cards.py`` fails while a committed card
differs from what this writes.

    .venv/bin/python scripts/write_model_cards.py           # write both cards
    .venv/bin/python scripts/write_model_cards.py --check   # exit 1 if a card is out of date
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if a committed card differs")
    args = ap.parse_args()

    from synthrec_core.mini.shipped_cards import shipped_model_cards
    from synthrec_core.utils import atomic_write_text

    stale = []
    for path, text in shipped_model_cards().items():
        same = path.exists() and path.read_text() == text
        if args.check:
            print(f"{'up to date' if same else 'OUT OF DATE'}: {path}")
            stale += [] if same else [path]
        elif not same:
            atomic_write_text(path, text)
            print(f"wrote {path}")
        else:
            print(f"unchanged {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
