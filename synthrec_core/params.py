"""Notebook parameters checked against one declared schema, under plain papermill and ``synthrec run``.

Each notebook's schema is data: ``configs/schema/<notebook stem>.yaml``, one entry per parameter::

    seeds: {type: list, items: int, min_len: 2}
    train_per_class: {type: int, min: 1}
    datasets: {type: list, items: str, min_len: 1, help: "registered names or ImageFolder paths"}

Types: ``int``, ``float``, ``bool``, ``str``, ``list`` (with ``items``), ``null`` allowed with
``nullable: true``; bounds ``min`` / ``max`` (numbers, list items), ``min_len``, ``choices``.
:func:`check_namespace` is what a notebook's first cell after its parameters calls: it also
catches names papermill injected that the schema does not know (papermill itself only warns),
and raises :class:`ParameterError`, which IPython renders as one line. ``synthrec run`` calls
:func:`check_values` with the same schema before it starts a kernel.
"""

from __future__ import annotations

import difflib
import functools
import types
from pathlib import Path
from typing import Any, Mapping

import yaml

from .config import ConfigError

__all__ = ["ParameterError", "schema", "check_values", "check_namespace"]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "configs" / "schema"
_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": (list, tuple)}
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterError(ConfigError):
    """A notebook parameter is unknown or has a bad type or value; rendered as one line in a notebook."""

    def _render_traceback_(self) -> list[str]:  # IPython: show the message, not a traceback
        return [f"ParameterError: {self}"]


@functools.lru_cache(maxsize=None)
def schema(stem: str) -> dict[str, dict[str, Any]]:
    """The parameter schema of notebook ``stem`` (empty if it declares none)."""
    path = SCHEMA_DIR / f"{stem}.yaml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


def _is(value: Any, kind: str) -> bool:
    if kind in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def _check_one(stem: str, name: str, value: Any, rule: Mapping[str, Any]) -> None:
    where = f"{stem}: parameter {name}={value!r}"
    if value is None:
        if rule.get("nullable"):
            return
        raise ParameterError(f"{where} must not be null")
    kind = rule.get("type", "str")
    if not _is(value, kind):
        hint = " (a list is written [a, b]; a single value needs brackets too)" if kind == "list" else ""
        raise ParameterError(f"{where} has type {type(value).__name__}, expected {kind}{hint}")
    items = list(value) if kind == "list" else [value]
    if kind == "list":
        if len(items) < rule.get("min_len", 0):
            raise ParameterError(f"{where} needs at least {rule['min_len']} item(s)")
        if rule.get("unique") and len(set(map(repr, items))) != len(items):
            raise ParameterError(f"{where} repeats an item")
        item_kind = rule.get("items")
        for v in items:
            if item_kind and not _is(v, item_kind):
                raise ParameterError(f"{where}: item {v!r} has type {type(v).__name__}, expected {item_kind}")
    for v in items:
        if "min" in rule and isinstance(v, (int, float)) and v < rule["min"]:
            raise ParameterError(f"{where} must be >= {rule['min']}")
        if "max" in rule and isinstance(v, (int, float)) and v > rule["max"]:
            raise ParameterError(f"{where} must be <= {rule['max']}")
        if "choices" in rule and v not in rule["choices"]:
            close = difflib.get_close_matches(str(v), [str(c) for c in rule["choices"]], n=1)
            raise ParameterError(f"{where} is not one of {rule['choices']}" + (f"; did you mean {close[0]!r}?" if close else ""))


def check_values(stem: str, values: Mapping[str, Any], rules: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Reject unknown names (with a close match) and bad types or ranges; return the values."""
    rules = schema(stem) if rules is None else rules
    if not rules:
        return dict(values)
    unknown = [k for k in values if k not in rules]
    if unknown:
        hints = "".join(f" Did you mean {c[0]!r} for {u!r}?" for u in unknown if (c := difflib.get_close_matches(u, list(rules), n=1)))
        raise ParameterError(f"{stem}: unknown parameter(s) {unknown}; known: {sorted(rules)}.{hints}")
    for name, value in values.items():
        _check_one(stem, name, value, rules[name])
    return dict(values)


def check_namespace(stem: str, namespace: Mapping[str, Any]) -> None:
    """Check a notebook's globals right after its parameters (and papermill's injected cell).

    Every plain global there is a parameter, so a name the schema lacks is a misspelt or
    unknown parameter (which papermill would only warn about)."""
    rules = schema(stem)
    values = {k: v for k, v in namespace.items() if not k.startswith("_") and k not in _IPYTHON_NAMES
              and not isinstance(v, (types.ModuleType, types.FunctionType, type))}
    check_values(stem, values, rules)
