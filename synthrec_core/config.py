"""Validated, frozen configuration dataclasses and their cache keys.

Every stage of synthrec is configured by one frozen dataclass deriving from :class:`Config`.
A config validates itself in ``__post_init__`` (override :meth:`Config.validate`) and raises
:class:`ConfigError` with a short message naming the bad value. :meth:`Config.from_dict`
rejects unknown keys (with a close-match suggestion), and :meth:`Config.cache_key` hashes the
fields that change a result, leaving out those listed in ``_not_in_key`` (batch size, device,
paths ...).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, ClassVar, Iterable, Mapping, TypeVar

from .utils import stable_hash

__all__ = ["Config", "ConfigError", "check", "check_choice", "reject_unknown"]

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A configuration or parameter value is invalid. The message names the bad value."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    """Raise unless ``value`` is one of ``choices``; the error lists the valid ones."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(
            f"{name}={value!r} is not valid; choose one of {choices}." + _suggest(str(value), map(str, choices))
        )


def reject_unknown(given: Iterable[str], known: Iterable[str], what: str = "parameter") -> None:
    """Raise :class:`ConfigError` naming every key of ``given`` not in ``known``."""
    known = list(known)
    bad = [k for k in given if k not in known]
    if bad:
        hints = "".join(_suggest(b, known) for b in bad)
        raise ConfigError(f"unknown {what} name(s) {bad}; known: {sorted(known)}.{hints}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class of all stage configs: frozen, self-validating, hashable into a cache key."""

    #: field names that do not change results (batch size, device, paths); excluded from the key
    _not_in_key: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check field values; subclasses override and call :func:`check`."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """Build from a mapping, rejecting unknown keys by name."""
        reject_unknown(values.keys(), cls.field_names(), what=f"{cls.__name__} field")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again; unknown names rejected)."""
        reject_unknown(changes.keys(), self.field_names(), what=f"{type(self).__name__} field")
        return dataclasses.replace(self, **changes)

    def cache_key(self, length: int = 16) -> str:
        """Hash of every field that changes the result (``_not_in_key`` left out)."""
        payload = {k: v for k, v in self.to_dict().items() if k not in self._not_in_key}
        payload["__class__"] = type(self).__name__
        return stable_hash(payload, length=length)
