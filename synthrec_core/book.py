"""Build the Jupyter Book (1.x) from executed notebooks.

The book renders notebooks that ``synthrec run`` already executed; it never executes them
itself (``execute_notebooks: "off"`` in ``_config.yml``). :func:`build_book` copies the executed
notebooks of one profile into ``book/generated/``, checks that every notebook listed in
``_toc.yml`` is there, and runs ``jupyter-book build`` with warnings as errors.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .config import ConfigError
from .paths import REPO_DIR, build_dir
from .runner import executed_path

__all__ = ["toc_files", "collect_notebooks", "build_book"]

GENERATED = REPO_DIR / "book" / "generated"


def toc_files(toc: Path = REPO_DIR / "_toc.yml") -> list[str]:
    """Every file entry of ``_toc.yml``, in order (without suffix)."""
    data = yaml.safe_load(toc.read_text())
    files = [data["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in data.items() if k != "root"})
    return files


def collect_notebooks(profile: str = "mini") -> list[Path]:
    """Copy the executed notebooks that the TOC needs into ``book/generated/``."""
    wanted = [f for f in toc_files() if f.startswith("book/generated/")]
    GENERATED.mkdir(parents=True, exist_ok=True)
    copied = []
    for entry in wanted:
        name = Path(entry).name + ".ipynb"
        src = executed_path(name, profile)
        if not src.exists():
            raise ConfigError(
                f"the book needs {name} executed under profile {profile!r}, but {src} does not exist; "
                f"run `synthrec run {Path(name).stem} --profile {profile}` first"
            )
        dst = GENERATED / name
        shutil.copy2(src, dst)
        copied.append(dst)
    return copied


def build_book(profile: str = "mini", strict: bool = True, out: Path | None = None) -> Path:
    """Collect executed notebooks and build the HTML book; return the path of ``index.html``.

    The HTML goes to ``<out>/_build/html`` (``out`` defaults to :func:`paths.build_dir`).
    """
    collect_notebooks(profile)
    out = Path(out) if out is not None else build_dir()
    cmd = [sys.executable, "-m", "jupyter_book", "build", str(REPO_DIR), "--path-output", str(out)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    t0 = time.time()
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        cmd = [str(exe)] + cmd[3:]
    subprocess.run(cmd, check=True, cwd=REPO_DIR)
    index = out / "_build" / "html" / "index.html"
    print(f"[synthrec] book built in {time.time() - t0:.0f} s: {index}")
    return index
