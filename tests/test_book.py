"""The rendered book, checked in a real browser (headless Chromium).

Executes the notebooks the TOC needs at their CI defaults, builds the Jupyter Book with
warnings as errors, then opens pages in Chromium: chapter titles present, math typeset (no raw
TeX), every image file present and non-empty, and a screenshot saved to
``_build/screenshots/``.
"""

import re
import shutil
import subprocess
import tempfile

import pytest

from synthrec_core.book import build_book
from synthrec_core.paths import build_dir

pytestmark = [pytest.mark.book, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--window-size=1280,1500", "--virtual-time-budget=8000",
]


def chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile_dir:
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", *args],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def book_html(ci_notebooks, monkeypatch_module):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it with apt)")
    monkeypatch_module.setenv("SYNTHREC_BUILD", str(ci_notebooks["build"]))
    monkeypatch_module.setenv("SYNTHREC_RESULTS", str(ci_notebooks["results"].parent))
    index = build_book("ci", out=build_dir() / "book-ci")
    return index.parent


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_book_pages_render_in_chromium(book_html):
    dom = chromium("--dump-dom", f"file://{book_html / 'index.html'}")
    assert "synthrec" in dom
    for title in ("Profiles and parameters", "The downstream datasets", "The mini world", "Zero-shot", "Findings scorecard",
                  "Reproducing and extending"):
        assert title in dom, f"chapter {title!r} missing from the navigation"
    assert "mjx-container" in dom, "MathJax did not typeset the math (is sphinx-mathjax-offline active?)"
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "\\mathcal{L}" not in text and "$$" not in text, "raw TeX is visible on the page"


def test_notebook_page_shows_figures_and_profile(book_html):
    page = book_html / "book" / "generated" / "00_datasets.html"
    dom = chromium("--dump-dom", f"file://{page}")
    assert "Profile: " in dom and "ci" in dom, "the page must say which profile produced it"
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    figures = [s for s in srcs if s.endswith(".png") and "_images" in s]
    assert len(figures) >= 3, f"expected sample grids and a balance plot, found {srcs}"
    for src in figures:
        f = (page.parent / src).resolve()
        assert f.exists() and f.stat().st_size > 1000, f"image {src} missing or empty"
    shots = build_dir() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for name, url in (("index.png", book_html / "index.html"), ("00_datasets.png", page)):
        chromium(f"--screenshot={shots / name}", f"file://{url}")
        assert (shots / name).stat().st_size > 10_000
