"""Profiles as data: what each profile (``mini``, ``paper``) runs, looked up by name.

Each profile is one YAML file in this folder (``mini.yaml``, ``paper.yaml``): the plugins it
needs (modules that register models or datasets with the core's hooks), its models (CLIP,
generator, language enhancer) by preset name, its datasets, prompt templates (one syntax:
``{}`` is the class name), generation settings and recipe settings per section. Code reads
them with :func:`load_profile`; nothing here runs a model.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, check_choice

__all__ = ["PROFILE_DIR", "list_profiles", "load_profile", "plugin_modules", "ensure_plugins", "section"]

PROFILE_DIR = Path(__file__).resolve().parent


def list_profiles() -> list[str]:
    """Names of the profiles shipped as data (``mini``, ``paper``)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml") if not p.stem.startswith("_"))


@functools.lru_cache(maxsize=None)
def _read(name: str) -> dict[str, Any]:
    check_choice("profile", name, list_profiles())
    data = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"profile {name!r}: {name}.yaml must hold a mapping")
    return data


def load_profile(name: str) -> dict[str, Any]:
    """The profile ``name`` as a dict (a fresh copy; its plugins imported)."""
    import copy
    import importlib

    data = copy.deepcopy(_read(name))
    for mod in data.get("plugins", []):
        importlib.import_module(mod)
    return data


def section(profile: str, *keys: str) -> Any:
    """One entry of a profile, e.g. ``section("mini", "zero_shot", "head")``; a clear error
    naming the missing key."""
    node: Any = _read(profile)
    path = []
    for k in keys:
        path.append(k)
        if not isinstance(node, dict) or k not in node:
            have = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(f"profile {profile!r} has no entry {'.'.join(path)}; it has {have}")
        node = node[k]
    import copy

    return copy.deepcopy(node)


def plugin_modules() -> list[str]:
    """Every plugin module any profile lists (imported by ``models`` before it resolves a name)."""
    mods: list[str] = []
    for name in list_profiles():
        for m in _read(name).get("plugins", []):
            if m not in mods:
                mods.append(m)
    return mods


_PLUGINS_LOADED = False


def ensure_plugins() -> None:
    """Import every plugin a profile lists, once per process (they register models and tower
    layouts with the core's hooks; the core names them only here, as data)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    import importlib

    for mod in plugin_modules():
        importlib.import_module(mod)
