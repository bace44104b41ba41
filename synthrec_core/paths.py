"""Where synthrec reads and writes: cache, results, build folders.

All locations can be moved with environment variables, so CI, a laptop and a GPU cluster
can share one code path:

- ``SYNTHREC_CACHE``   generated sets, feature caches, downloaded/derived data
  (default ``<repo>/.cache`` when run from a checkout, else ``~/.cache/synthrec``);
- ``SYNTHREC_RESULTS`` the numbers behind every table and figure (default ``<repo>/results``);
- ``SYNTHREC_BUILD``   executed notebooks and the HTML book (default ``<repo>/_build``);
- ``SYNTHREC_RUN_TAG`` set by ``synthrec run`` for a run with ``-p`` overrides: its results go
  to ``results/<profile>@<tag>/`` and its executed notebooks to ``_build/executed/<profile>@<tag>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def _in_checkout() -> bool:
    return (REPO_DIR / "pyproject.toml").exists() and (REPO_DIR / "notebooks").is_dir()


def cache_dir() -> Path:
    """Root of all caches (created on demand)."""
    env = os.environ.get("SYNTHREC_CACHE")
    base = Path(env) if env else (REPO_DIR / ".cache" if _in_checkout() else Path.home() / ".cache" / "synthrec")
    base.mkdir(parents=True, exist_ok=True)
    return base


def run_tag() -> str:
    """The tag of a run with parameter overrides (``SYNTHREC_RUN_TAG``, set by the runner), else ""."""
    return os.environ.get("SYNTHREC_RUN_TAG", "")


def results_dir(profile: str | None = None) -> Path:
    """``results/`` or ``results/<profile>/`` (created on demand); a run with overrides writes to
    ``results/<profile>@<tag>/`` instead, so it never touches the profile's own results."""
    env = os.environ.get("SYNTHREC_RESULTS")
    base = Path(env) if env else (REPO_DIR / "results" if _in_checkout() else Path.cwd() / "results")
    out = base / (f"{profile}@{run_tag()}" if profile and run_tag() and profile != "bench" else profile) if profile else base
    out.mkdir(parents=True, exist_ok=True)
    return out


def build_dir() -> Path:
    """``_build/`` for executed notebooks and the HTML book (created on demand)."""
    env = os.environ.get("SYNTHREC_BUILD")
    base = Path(env) if env else (REPO_DIR / "_build" if _in_checkout() else Path.cwd() / "_build")
    base.mkdir(parents=True, exist_ok=True)
    return base
