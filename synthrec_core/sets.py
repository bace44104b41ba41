"""Synthetic image sets on disk: ImageFolder layout, manifest, keyed tables, card, exports.

A set lives in one directory (by default ``cache_dir()/sets/<set_key>``)::

    job.json            the GenerationJob that made it, with its key
    run.json            how it was run: torch/diffusers versions, CPU threads (kept on resume)
    images/<id>.png     ids are <class folder>/<stem>, e.g. cat/p0003_i007
    manifest.jsonl      one row per image (class, prompt, seed, pipeline, settings, sha256)
    tables/<name>.parquet   later additions joined on ``id`` (CLIP scores, filter decisions)
    dataset_card.md
    COMPLETE            written last, only when every image exists

Filtering never rewrites the generation manifest: it writes a keyed table next to it.
:func:`export_hf_imagefolder` and :func:`export_webdataset` turn a set into the two common
publishing formats. This module does not generate images (see ``generation``).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from .utils import atomic_write_bytes, atomic_write_json, atomic_write_text, canonical_json

__all__ = [
    "SyntheticSet",
    "SetMismatchError",
    "class_dirname",
    "write_manifest",
    "write_dataset_card",
    "export_hf_imagefolder",
    "export_webdataset",
]

JOB_FILE = "job.json"
RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.jsonl"
COMPLETE_FILE = "COMPLETE"
CARD_FILE = "dataset_card.md"
IMAGES_DIR = "images"
TABLES_DIR = "tables"


class SetMismatchError(RuntimeError):
    """An output directory already holds a different set (its ``job.json`` key differs)."""


def class_dirname(name: str) -> str:
    """Folder name of a class: the class name with characters unsafe in paths replaced by ``_``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    return slug or "_"


def write_manifest(set_dir: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``manifest.jsonl`` atomically: one canonical JSON row per image, sorted by id."""
    rows = sorted(rows, key=lambda r: (r["class_index"], r["id"]))
    text = "".join(canonical_json(r) + "\n" for r in rows)
    return atomic_write_text(Path(set_dir) / MANIFEST_FILE, text)


@dataclass(frozen=True)
class SyntheticSet:
    """A handle on a set directory (it need not be complete; see :attr:`is_complete`)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- what the set is --------------------------------------------------------------
    @property
    def job(self) -> dict[str, Any]:
        """The generation job (fields plus ``set_key``) from ``job.json``."""
        path = self.root / JOB_FILE
        if not path.exists():
            raise FileNotFoundError(f"{self.root} is not a synthetic set: no {JOB_FILE}")
        return json.loads(path.read_text())

    @property
    def key(self) -> str:
        """The set's content key (hash of everything that changes its images)."""
        return self.job["set_key"]

    @property
    def is_complete(self) -> bool:
        return (self.root / COMPLETE_FILE).exists()

    @property
    def classnames(self) -> list[str]:
        return list(self.job["classnames"])

    def require_complete(self) -> "SyntheticSet":
        if not self.is_complete:
            raise RuntimeError(f"set {self.root} is not complete (no {COMPLETE_FILE}); run generation to finish it")
        return self

    # -- rows and images --------------------------------------------------------------
    def manifest(self) -> pd.DataFrame:
        """One row per image: id, path, class, class_index, prompt, seed, settings, sha256."""
        path = self.root / MANIFEST_FILE
        if not path.exists():
            raise FileNotFoundError(f"{self.root} has no {MANIFEST_FILE} yet (set not finished)")
        return pd.read_json(path, lines=True, dtype={"revision": object, "reference": object})

    def image_path(self, rel: str) -> Path:
        return self.root / rel

    def paths(self) -> list[Path]:
        """Image paths in manifest order."""
        return [self.root / p for p in self.manifest()["path"]]

    def labels(self) -> list[int]:
        """Class indices in manifest order."""
        return [int(x) for x in self.manifest()["class_index"]]

    def load_images(self, ids: Iterable[str] | None = None) -> list:
        """PIL images (fully loaded) in manifest order, optionally only ``ids``."""
        from PIL import Image

        m = self.manifest()
        if ids is not None:
            m = m.set_index("id").loc[list(ids)].reset_index()
        out = []
        for p in m["path"]:
            with Image.open(self.root / p) as im:
                im.load()
                out.append(im.copy())
        return out

    # -- keyed side tables (scores, decisions) ---------------------------------------
    def write_table(self, name: str, df: pd.DataFrame, meta: dict[str, Any] | None = None) -> Path:
        """Store ``df`` (must have an ``id`` column) as ``tables/<name>.parquet`` atomically."""
        if "id" not in df.columns:
            raise ValueError(f"table {name!r} needs an 'id' column to join on the manifest")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
            raise ValueError(f"table name {name!r} may hold only letters, digits, '.', '_' and '-'")
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        path = atomic_write_bytes(self.root / TABLES_DIR / f"{name}.parquet", buf.getvalue())
        if meta is not None:
            atomic_write_json(self.root / TABLES_DIR / f"{name}.json", meta)
        return path

    def has_table(self, name: str) -> bool:
        return (self.root / TABLES_DIR / f"{name}.parquet").exists()

    def read_table(self, name: str) -> pd.DataFrame:
        path = self.root / TABLES_DIR / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"set {self.root} has no table {name!r}")
        return pd.read_parquet(path)

    def tables(self) -> list[str]:
        d = self.root / TABLES_DIR
        return sorted(p.stem for p in d.glob("*.parquet")) if d.exists() else []

    def joined(self, *names: str) -> pd.DataFrame:
        """The manifest left-joined on ``id`` with the named tables."""
        m = self.manifest()
        for name in names:
            t = self.read_table(name)
            m = m.merge(t.drop(columns=[c for c in t.columns if c in m.columns and c != "id"]), on="id", how="left")
        return m


def write_dataset_card(set_dir: str | os.PathLike, job: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``dataset_card.md``: what made the set, its size per class, how to load it."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["class"]] = counts.get(r["class"], 0) + 1
    cfg = {k: v for k, v in job.items() if k not in ("sentences", "references")}
    lines = [
        f"# Synthetic image set `{job['set_key']}`",
        "",
        "Images made by a text-to-image diffusion pipeline with synthrec's generation engine",
        "(every image has its own seed; `manifest.jsonl` records class, prompt, seed and settings).",
        "",
        "## Generator",
        "",
        f"- pipeline: `{job['pipeline_id']}` (revision `{job.get('revision')}`)",
        f"- scheduler: `{job.get('scheduler') or 'pipeline default'}`, steps {job['steps']}, "
        f"guidance scale {job['guidance_scale']}, size {job['height']}x{job['width']}",
    ]
    if job.get("references"):
        lines.append(f"- real guidance (img2img) from reference images, strength {job.get('strength')}")
    lines += [
        "",
        "## Contents",
        "",
        f"{len(rows)} images in {len(counts)} classes.",
        "",
        "| class | images |",
        "|---|---|",
        *[f"| {c} | {n} |" for c, n in counts.items()],
        "",
        "## Job",
        "",
        "```json",
        json.dumps(cfg, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Use",
        "",
        "ImageFolder layout `images/<class>/<stem>.png` (image id `<class>/<stem>`); load with `synthrec_core.sets.SyntheticSet(path)`,",
        "or export with `export_hf_imagefolder` / `export_webdataset`.",
        "Images are synthetic and may show artefacts or biases of the generator.",
        "",
    ]
    return atomic_write_text(Path(set_dir) / CARD_FILE, "\n".join(lines))


def _plain(v: Any) -> Any:
    """A JSON-safe Python value (numpy scalars unwrapped, NaN -> None)."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def _selected(s: SyntheticSet, decisions: pd.DataFrame | str | None) -> pd.DataFrame:
    m = s.require_complete().manifest()
    if decisions is None:
        return m
    d = s.read_table(decisions) if isinstance(decisions, str) else decisions
    keep = set(d.loc[d["kept"].astype(bool), "id"])
    return m[m["id"].isin(keep)]


def export_hf_imagefolder(
    s: SyntheticSet, out_dir: str | os.PathLike, decisions: pd.DataFrame | str | None = None, split: str = "train"
) -> Path:
    """Export as a Hugging Face ``imagefolder`` dataset: ``<out>/<split>/<class>/<id>.png`` + ``metadata.jsonl``.

    Load it with ``datasets.load_dataset("imagefolder", data_dir=out)``. ``decisions`` (a table
    or its name) keeps only rows with ``kept`` true. The ``label`` column holds the class name.
    """
    rows = _selected(s, decisions)
    out = Path(out_dir) / split
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    meta = []
    for r in rows.to_dict("records"):
        rel = Path(r["id"] + ".png")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s.root / r["path"], out / rel)
        meta.append(
            {
                "file_name": rel.as_posix(),
                "label": r["class"],
                "class_index": int(r["class_index"]),
                "prompt": r["prompt"],
                "seed": int(r["seed"]),
                "pipeline_id": r["pipeline_id"],
                "sha256": r["sha256"],
            }
        )
    atomic_write_text(out / "metadata.jsonl", "".join(json.dumps(m) + "\n" for m in meta))
    shutil.copyfile(s.root / CARD_FILE, Path(out_dir) / "README.md")
    return Path(out_dir)


def export_webdataset(
    s: SyntheticSet,
    out_dir: str | os.PathLike,
    decisions: pd.DataFrame | str | None = None,
    shard_size: int = 1000,
) -> list[Path]:
    """Export as WebDataset tar shards ``<out>/shard-000000.tar`` with ``.png``, ``.cls``, ``.json`` per image."""
    import webdataset as wds

    rows = _selected(s, decisions).to_dict("records")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for start in range(0, max(len(rows), 1), shard_size):
        path = out / f"shard-{start // shard_size:06d}.tar"
        tmp = path.with_name(f".{path.name}.tmp")
        with wds.TarWriter(str(tmp)) as sink:
            for r in rows[start : start + shard_size]:
                sink.write(
                    {
                        "__key__": r["id"],
                        "png": (s.root / r["path"]).read_bytes(),
                        "cls": str(int(r["class_index"])),
                        "json": {k: _plain(v) for k, v in r.items()},
                    }
                )
        os.replace(tmp, path)
        shards.append(path)
    return shards
