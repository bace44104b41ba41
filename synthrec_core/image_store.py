"""The engine's image store: images kept by what determines their pixels, shared by every set.

``cache_dir()/images/<render key>/<xx>/<image key>.png``: the render key hashes the generator
and sampler settings (``GenerationJob.render_key``), the image key the image's seed, prompt and
reference (``ImageUnit.image_key``). A set that contains an image made before, by any job, links
it (a hard link where possible) instead of generating it again. ``SYNTHREC_IMAGE_STORE=0``
turns the store off (the test suite does, so that its re-generations are real).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Sequence

from .utils import atomic_write_bytes

__all__ = ["image_store_dir", "store_enabled", "store_path", "image_ok", "link", "from_store"]


def image_store_dir() -> Path:
    """Where images are kept by content: ``cache_dir()/images/<render key>/<xx>/<image key>.png``."""
    from .paths import cache_dir

    return cache_dir() / "images"


def store_enabled() -> bool:
    """The store is on unless ``SYNTHREC_IMAGE_STORE`` is 0/off (the test suite turns it off)."""
    return os.environ.get("SYNTHREC_IMAGE_STORE", "1").lower() not in ("0", "off", "false", "no")


def store_path(job: Any, u: Any) -> Path:
    k = u.image_key
    return image_store_dir() / job.render_key / k[:2] / f"{k}.png"


def image_ok(path: Path) -> bool:
    """True if ``path`` is a complete, decodable image."""
    if not path.exists():
        return False
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def link(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst`` atomically: a hard link where possible, else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        atomic_write_bytes(dst, src.read_bytes())
        return
    os.replace(tmp, dst)


def from_store(job: Any, set_dir: Path, todo: Sequence[Any]) -> list[Any]:
    """Link every ``todo`` image the store already holds into the set; return the rest."""
    if not store_enabled():
        return list(todo)
    rest = []
    for u in todo:
        src = store_path(job, u)
        if src.exists() and image_ok(src):
            link(src, set_dir / u.relpath)
        else:
            rest.append(u)
    return rest
