"""Progress reporting that renders anywhere: a tqdm bar in a terminal, a few plain lines elsewhere.

Executed notebooks and the book cannot show tqdm's JavaScript widgets offline (they render
blank) and carriage-return bars turn into noise, so outside a terminal :func:`progress` writes
one summary line with the rate (for work longer than 2 s), and, for work that runs longer than
20 s, a line per quarter of it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

__all__ = ["progress", "track", "Progress"]


class Progress:
    """A minimal thread-safe progress counter (``update``, ``close``; a context manager)."""

    def __init__(self, total: int, desc: str, unit: str = "it", disable: bool = False, quiet_below_s: float = 2.0,
                 initial: int = 0, lines_after_s: float = 20.0) -> None:
        self.total, self.desc, self.unit, self.disable = int(total), desc, unit, disable
        self.n, self.t0, self._next = int(initial), time.perf_counter(), 0.25
        self._start = int(initial)
        self._quiet_below_s = quiet_below_s
        self._lines_after_s = lines_after_s  # intermediate lines only for work that runs this long
        self._lock = threading.Lock()
        self._postfix = ""
        self._bar: Any = None
        if not disable and sys.stderr.isatty():
            from tqdm.std import tqdm

            self._bar = tqdm(total=self.total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True)

    def update(self, k: int = 1) -> None:
        if self.disable:
            return
        with self._lock:
            self.n += k
            if self._bar is not None:
                self._bar.update(k)
                return
            frac = self.n / self.total if self.total else 1.0
            elapsed = time.perf_counter() - self.t0
            if frac >= self._next and frac < 1.0 and elapsed >= self._lines_after_s:
                rate = (self.n - self._start) / elapsed if elapsed > 0 else 0.0
                eta = (self.total - self.n) / rate if rate > 0 else float("nan")
                extra = f" [{self._postfix}]" if self._postfix else ""
                print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({frac:.0%}), {rate:.1f} {self.unit}/s, "
                      f"about {eta:.0f} s left{extra}", file=sys.stderr, flush=True)
            while frac >= self._next:
                self._next += 0.25

    def set_postfix(self, **values: Any) -> None:
        """Extra values shown with the progress (e.g. the loss)."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())
        if self._bar is not None:
            self._bar.set_postfix(**values)

    def close(self) -> None:
        if self.disable:
            return
        if self._bar is not None:
            self._bar.close()
            return
        elapsed = time.perf_counter() - self.t0
        done = self.n - self._start
        if done and elapsed >= self._quiet_below_s:
            print(f"{self.desc}: {done} {self.unit} in {elapsed:.1f} s ({done / elapsed:.1f} {self.unit}/s)",
                  file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int, desc: str, unit: str = "it", disable: bool = False, initial: int = 0) -> Progress:
    """A :class:`Progress` over ``total`` items (``initial`` of them already done)."""
    return Progress(total, desc, unit, disable, initial=initial)


def track(items: Any, desc: str, unit: str = "it", disable: bool = False, total: int | None = None) -> Any:
    """Iterate over ``items`` reporting progress (a generator)."""
    items = list(items) if total is None and not hasattr(items, "__len__") else items
    with progress(total if total is not None else len(items), desc, unit, disable) as bar:
        for x in items:
            yield x
            bar.update(1)
