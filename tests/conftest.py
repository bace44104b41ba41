"""Shared pytest setup: offline, headless, single-threaded, and a temporary cache/results root."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")  # fine for pytest; never exported to notebook kernels
# the engine's image store would serve a test's "regenerated" images from an earlier test; the
# tests of the store turn it on in a temporary cache
os.environ.setdefault("SYNTHREC_IMAGE_STORE", "0")

import pytest


@pytest.fixture
def tmp_results(tmp_path, monkeypatch):
    """Point results/ and _build/ at a temporary folder for one test."""
    monkeypatch.setenv("SYNTHREC_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SYNTHREC_BUILD", str(tmp_path / "build"))
    return tmp_path


@pytest.fixture(scope="session")
def ci_notebooks(tmp_path_factory):
    """Every notebook executed once at its CI defaults (``synthrec run --profile ci``'s code
    path) into a session folder; shared by the notebook-metrics and the rendered-book tests.
    Returns ``{"results": results/ci folder, "build": build folder}``."""
    from synthrec_core.runner import find_notebooks, run_notebook

    root = tmp_path_factory.mktemp("ci_notebooks")
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNTHREC_RESULTS", str(root / "results"))
    mp.setenv("SYNTHREC_BUILD", str(root / "build"))
    try:
        for nb in find_notebooks():
            run_notebook(nb, "ci", progress=False)
    finally:
        mp.undo()  # the rest of the session sees the real folders again
    return {"results": root / "results" / "ci", "build": root / "build"}
