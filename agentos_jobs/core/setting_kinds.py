"""What a setting is declared with: its kind (how a value from TOML or the environment is read and checked, one
small `read` per kind), its default and its AGENTOS_* variable, in one `setting(...)` call that is the dataclass
field of the attribute it sets (core/settings.py holds the declarations).

A kind's `read` returns the value the attribute holds, or raises ValueError with the message after the source:
"max_tokens must be a positive whole number, got 'many'"; the caller puts the file and line (or the variable)
in front. Bounds and choices are the kind's own: `Whole(zero_ok=True)`, `Choice(("auto", "plain", "off"))`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from agentos_jobs.core.prices import Price, parse_prices

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
SPEC = "agentos_setting"  # the key of a field's metadata that holds its Setting


class Kind(Protocol[T_co]):
    def read(self, name: str, value: object) -> T_co:
        """The value as the attribute holds it; ValueError("<name> must be ..., got <value>") otherwise."""


@dataclass(frozen=True)
class Setting:
    """One setting: the attribute `attr` of Settings (or of ModelChoice, for a role's keys), written `key` in
    `[tool.agentos_jobs]` (the attribute's name unless declared otherwise) and `env` in the environment."""

    kind: Kind[Any]
    default: Any
    env: str | None = None
    toml: str | None = None  # the key in pyproject.toml when it is not the attribute's name
    attr: str = ""  # filled from the field's name by declared()

    @property
    def key(self) -> str:
        return self.toml or self.attr


def setting(kind: Kind[T], default: T, env: str | None = None, *, key: str | None = None) -> T:
    """The dataclass field that declares a setting (typed as its value, as `dataclasses.field` is). A table
    default, which a dataclass refuses as mutable, is given read-only (a MappingProxyType) through a factory."""
    spec = Setting(kind, default, env, key)
    if type(default).__hash__ is None:
        return field(default_factory=lambda: default, metadata={SPEC: spec})
    return field(default=default, metadata={SPEC: spec})


def declared(cls: type) -> dict[str, Setting]:
    """The settings a dataclass declares, by their key in pyproject.toml, in the order of its fields."""
    specs = (replace(f.metadata[SPEC], attr=f.name) for f in fields(cls) if SPEC in f.metadata)
    return {spec.key: spec for spec in specs}


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Flag:
    """true or false; from the environment also 1/0, yes/no, on/off."""

    def read(self, name: str, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        raise ValueError(f"{name} must be true or false (1 or 0), got {value!r}")


def _text(name: str, value: object) -> str:
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"{name} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class Text:
    """A non-empty string."""

    def read(self, name: str, value: object) -> str:
        return _text(name, value)


@dataclass(frozen=True)
class Choice:
    """One of a few words."""

    choices: tuple[str, ...]

    def read(self, name: str, value: object) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        raise ValueError(f"{name} must be one of {', '.join(self.choices)}, got {value!r}")


@dataclass(frozen=True)
class RelPath:
    """A path relative to the repository root (load_settings anchors it there)."""

    def read(self, name: str, value: object) -> Path:
        return Path(_text(name, value))


_REPO = re.compile(r"(?:[\w.-]+/)?[\w.-]+/[\w.-]+")


@dataclass(frozen=True)
class GitHubRepo:
    """OWNER/REPO or HOST/OWNER/REPO, as gh takes it."""

    def read(self, name: str, value: object) -> str:
        if _REPO.fullmatch(text := _text(name, value)):
            return text
        raise ValueError(f"{name} = {text!r} is not a GitHub repository; write it as gh takes it, OWNER/REPO (or "
                         "HOST/OWNER/REPO), or remove it to file in gh's default repository")


@dataclass(frozen=True)
class Globs:
    """A list of file paths or globs, none empty."""

    def read(self, name: str, value: object) -> tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
            return tuple(value)
        raise ValueError(f"{name} must be a list of file paths or globs, e.g. "
                         f"[\"docs/architecture.md\", \"src/**/*.py\"], got {value!r}")


@dataclass(frozen=True)
class PriceTable:
    """Models and their prices in dollars per million tokens (core/prices.py)."""

    def read(self, name: str, value: object) -> Mapping[str, Price]:
        try:
            return parse_prices(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


def _not_a_number(name: str, zero_ok: bool, which: str, value: object) -> ValueError:
    return ValueError(f"{name} must be a {'non-negative' if zero_ok else 'positive'} {which} number, got {value!r}")


@dataclass(frozen=True)
class Whole:
    """A whole number, at least 1 (at least 0 with zero_ok); from the environment, its digits."""

    zero_ok: bool = False

    def read(self, name: str, value: object) -> int:
        number = int(value.strip()) if isinstance(value, str) and value.strip().isdecimal() else value
        if isinstance(number, int) and not isinstance(number, bool) and number >= (0 if self.zero_ok else 1):
            return number
        raise _not_a_number(name, self.zero_ok, "whole", value)


@dataclass(frozen=True)
class Number:
    """A finite number, more than 0 (0 or more with zero_ok); `inf` and `nan` are refused."""

    zero_ok: bool = False

    def read(self, name: str, value: object) -> float:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if (number > 0 or (number == 0 and self.zero_ok)) and math.isfinite(number) and not isinstance(value, bool):
            return number
        raise _not_a_number(name, self.zero_ok, "finite", value)
