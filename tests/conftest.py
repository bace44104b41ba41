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
