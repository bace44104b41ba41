"""The mini world's training presets as data: ``synthrec_core/profiles/mini/training.yaml``.

That file holds the named corpus, MiniCLIP and MiniGen presets (``corpus``, ``miniclip``,
``minigen``) and the MiniGen stage chains (``minigen_chains``). This module reads it once and
turns a section into frozen configs: :func:`load_presets` gives a read-only mapping
``name -> config`` for a config class that the caller passes in, so this module imports no
config class and no other part of the mini world (no import cycles). YAML scalars are brought
to the field types first (an integer given for a float field becomes a float, so ``30`` and
``30.0`` hash to the same cache key; a list becomes a tuple); anything else of the wrong type is
a :class:`~synthrec_core.config.ConfigError` that names the file, preset and field. The config
classes then validate the values as always.

It does not train or build anything, and it is not the profile loader
(:mod:`synthrec_core.profiles` reads the profile files ``mini.yaml`` / ``paper.yaml``).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from ..config import Config, ConfigError, check_choice
from ..profiles import PROFILE_DIR

__all__ = ["TRAINING_YAML", "training_data", "coerce_fields", "load_presets"]

#: the data file of the mini world's training presets and chains
TRAINING_YAML: Path = PROFILE_DIR / "mini" / "training.yaml"
SECTIONS = ("corpus", "miniclip", "minigen", "minigen_chains")

C = TypeVar("C", bound=Config)


@functools.lru_cache(maxsize=8)
def _parse(path: str, stamp: tuple[int, int]) -> dict[str, Any]:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping with sections {list(SECTIONS)}")
    for name in data:
        check_choice(f"section of {Path(path).name}", name, SECTIONS)
    return data


def _read(path: str) -> dict[str, Any]:
    """The parsed file, parsed again only when it changed (size or modification time)."""
    st = Path(path).stat()
    return _parse(path, (st.st_mtime_ns, st.st_size))


def training_data(section: str, path: str | Path | None = None) -> dict[str, Any]:
    """One section of ``training.yaml`` (a fresh copy), e.g. ``training_data("minigen_chains")``."""
    check_choice("training.yaml section", section, SECTIONS)
    data = _read(str(path or TRAINING_YAML))
    if section not in data or not isinstance(data[section], dict):
        raise ConfigError(f"{Path(path or TRAINING_YAML).name} has no mapping {section!r}")
    return copy.deepcopy(data[section])


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """``value`` as field type ``kind`` (bool, int, float, str, tuple[...]) or a ConfigError."""
    origin = typing.get_origin(kind)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r} must be a list")
        inner = typing.get_args(kind)[0] if typing.get_args(kind) else Any
        return tuple(_coerce(v, inner, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        kind = options[0]
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if not ok:
        hint = " (YAML reads 2e-3 as text: write 0.002 or 2.0e-3)" if isinstance(value, str) and kind is float else ""
        raise ConfigError(f"{where}={value!r} must be of type {kind.__name__}{hint}")
    return value


def coerce_fields(cls: type[C], values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``values`` with each entry brought to the type of ``cls``'s field of that name.

    Unknown names are left for ``cls.from_dict`` to reject (with a close-match suggestion).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: _coerce(v, hints[k], f"{where}.{k}") if k in names else v for k, v in values.items()}


def load_presets(section: str, cls: type[C], path: str | Path | None = None) -> Mapping[str, C]:
    """The presets of ``section`` (``corpus``, ``miniclip`` or ``minigen``) as ``cls`` configs.

    An empty preset (``{}``) is ``cls()``, the class defaults. The mapping is read-only, so no
    caller can change a preset for everyone else; use ``preset.replace(...)`` for a variant.
    """
    where = Path(path or TRAINING_YAML).name
    out: dict[str, C] = {}
    for name, values in training_data(section, path).items():
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: preset {section}.{name} must be a mapping of {cls.__name__} fields")
        out[str(name)] = cls.from_dict(coerce_fields(cls, values, f"{where}: {section}.{name}"))
    return types.MappingProxyType(out)
