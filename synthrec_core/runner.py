"""Run the book's notebooks headless with papermill, with validated parameters.

Three levels of parameters (see README):

- the notebook's own ``parameters`` cell: tiny defaults for CI (nbval runs these);
- ``configs/<profile>/<notebook-stem>.yaml``: the values of a profile (``mini``, ``paper``);
- ``-p NAME VALUE`` overrides on the command line.

papermill only *warns* on an unknown parameter name; :func:`validate_parameters` rejects unknown
names (with a close match) and values whose type does not fit the default's type. Executed
notebooks go to ``_build/executed/<profile>/`` and never over the sources.
"""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import nbformat
import yaml

from .config import ConfigError, reject_unknown
from .paths import REPO_DIR, build_dir

__all__ = [
    "PROFILES",
    "notebook_defaults",
    "validate_parameters",
    "profile_parameters",
    "find_notebooks",
    "run_notebook",
]

#: the parameter levels a notebook can be run at; "ci" is the notebooks' own defaults
PROFILES = ("ci", "mini", "paper")
NOTEBOOK_DIR = REPO_DIR / "notebooks"
CONFIG_DIR = REPO_DIR / "configs"
KERNEL_NAME = "synthrec"


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    raise ConfigError("notebook has no cell tagged 'parameters'")


def notebook_defaults(path: str | Path) -> dict[str, Any]:
    """The names and default values assigned in a notebook's ``parameters`` cell."""
    nb = nbformat.read(str(path), as_version=4)
    tree = ast.parse(_parameters_cell(nb).source)
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        out[t.id] = ast.literal_eval(node.value)
                    except ValueError as err:
                        raise ConfigError(f"{path}: parameter {t.id!r} must be a literal ({err})") from None
    return out


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def validate_parameters(path: str | Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """Reject unknown names and values of the wrong type; return the checked parameters."""
    from .params import check_values, schema

    defaults = notebook_defaults(path)
    reject_unknown(params.keys(), defaults.keys(), what=f"parameter of {Path(path).name}")
    if schema(Path(path).stem):  # names, types and ranges, as the notebook's own first cell checks them
        check_values(Path(path).stem, {**defaults, **params})
    for name, value in params.items():
        if not _type_ok(defaults[name], value):
            raise ConfigError(
                f"{Path(path).name}: parameter {name}={value!r} has type {type(value).__name__}, "
                f"expected {type(defaults[name]).__name__} like its default {defaults[name]!r}"
            )
    return dict(params)


def profile_parameters(notebook: str | Path, profile: str) -> dict[str, Any]:
    """Parameter values for ``profile`` from ``configs/<profile>/<stem>.yaml`` (+ ``profile``)."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not valid; choose one of {list(PROFILES)}")
    params: dict[str, Any] = {}
    if profile != "ci":
        cfg = CONFIG_DIR / profile / f"{Path(notebook).stem}.yaml"
        if cfg.exists():
            params = yaml.safe_load(cfg.read_text()) or {}
    params["profile"] = profile
    return params


def find_notebooks(names: Iterable[str] = ()) -> list[Path]:
    """Notebook paths by stem or path; all of ``notebooks/`` (sorted) when none given."""
    names = list(names)
    if not names:
        return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    out = []
    known = {p.stem: p for p in NOTEBOOK_DIR.glob("*.ipynb")}
    for n in names:
        p = Path(n)
        if p.suffix == ".ipynb" and p.exists():
            out.append(p.resolve())
        elif p.stem in known:
            out.append(known[p.stem])
        else:
            reject_unknown([p.stem], known.keys(), what="notebook")
    return out


def _kernel_manager_class():
    """A kernel manager whose kernel talks over local IPC sockets in a private temp folder, not TCP:
    nothing listens on the network, and the kernel does not warn that "Kernel is running over TCP"."""
    import tempfile

    from jupyter_client.manager import KernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(KernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc").tag(config=True)

        def __init__(self, **kw):
            super().__init__(**kw)
            self.ip = str(Path(tempfile.mkdtemp(prefix="synthrec-kernel-")) / "ipc")

    return IPCKernelManager


def override_tag(overrides: Mapping[str, Any] | None) -> str:
    """A folder-safe name for a set of overrides (``seed=1``, or a hash when long); "" for none."""
    import re

    from .utils import stable_hash

    if not overrides:
        return ""
    text = ",".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    text = re.sub(r"[^A-Za-z0-9=,._-]+", "_", text)
    return text if len(text) <= 48 else f"{text[:32]}-{stable_hash(dict(overrides), length=8)}"


def executed_path(notebook: str | Path, profile: str, tag: str = "") -> Path:
    """Where the executed copy of ``notebook`` under ``profile`` (and override tag) is written."""
    return build_dir() / "executed" / (f"{profile}@{tag}" if tag else profile) / Path(notebook).name


def run_notebook(
    notebook: str | Path,
    profile: str = "mini",
    overrides: Mapping[str, Any] | None = None,
    kernel_name: str = KERNEL_NAME,
    progress: bool = True,
) -> Path:
    """Execute one notebook with papermill under ``profile`` (+ ``overrides``); return its output path."""
    import papermill as pm

    notebook = Path(notebook)
    params = profile_parameters(notebook, profile)
    params.update(overrides or {})
    params = validate_parameters(notebook, params)
    tag = override_tag(overrides)
    out = executed_path(notebook, profile, tag)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.running.ipynb")
    t0 = time.time()
    # A kernel inherits our environment; MPLBACKEND=Agg (set by pytest or scripts) would make
    # figures vanish from the executed notebook and the book, so kernels always get inline.
    saved_backend, saved_tag = os.environ.get("MPLBACKEND"), os.environ.get("SYNTHREC_RUN_TAG")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if tag:  # a run with overrides writes to its own results folder, never over the profile's
        os.environ["SYNTHREC_RUN_TAG"] = tag
    else:
        os.environ.pop("SYNTHREC_RUN_TAG", None)
    try:
        pm.execute_notebook(
            str(notebook),
            str(tmp),
            parameters=params,
            kernel_name=kernel_name,
            cwd=str(NOTEBOOK_DIR),
            progress_bar=progress,
            request_save_on_cell_execute=True,
            kernel_manager_class=_kernel_manager_class(),
        )
    except Exception:
        failed = out.with_name(f"{out.stem}.failed.ipynb")
        if tmp.exists():
            tmp.replace(failed)
        raise
    finally:
        for name, value in (("MPLBACKEND", saved_backend), ("SYNTHREC_RUN_TAG", saved_tag)):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    tmp.replace(out)  # atomic: a half-run notebook never poses as a finished one
    out.with_name(f"{out.stem}.failed.ipynb").unlink(missing_ok=True)  # an older failure is no longer the story
    where = f" (overrides: results/{profile}@{tag}/)" if tag else ""
    print(f"[synthrec] {notebook.name} ({profile}) done in {time.time() - t0:.0f} s -> {out}{where}")
    return out
