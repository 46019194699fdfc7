"""A TOML file as its author wrote it: its data, and the line each table and key is on, so that an error about a
setting names the line to fix (tomllib keeps no positions)."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentos_jobs.core.errors import TomlSyntaxError

_PART = r"""(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")
_WHERE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def _names(dotted: str) -> tuple[str, ...]:
    return tuple(quoted or single or bare for quoted, single, bare in
                 re.findall(r"""\s*(?:"([^"\n]*)"|'([^'\n]*)'|([A-Za-z0-9_-]+))\s*""", dotted))


@dataclass(frozen=True)
class TomlSource:
    text: str
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)  # a table's or key's full name -> its line

    @classmethod
    def parse(cls, text: str) -> TomlSource:
        """Raises TomlSyntaxError."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            found = _WHERE.search(message)
            line = int(found[1]) if found and found[1] else max(1, len(text.splitlines()))
            column = f" (column {found[2]})" if found and found[2] else ""
            raise TomlSyntaxError(f"{message[: found.start()] if found else message}{column}", line) from None
        lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, written in enumerate(text.splitlines(), 1):
            if header := _HEADER.fullmatch(written):
                table = _names(header[1])
                lines.setdefault(table, number)
            elif key := _KEY.match(written):
                lines.setdefault(table + _names(key[1]), number)
        return cls(text, data, lines)

    def line_of(self, *names: str) -> int | None:
        """The line of a key (or of its nearest table that is written down: an inline table's key is on its
        table's line)."""
        for end in range(len(names), 0, -1):
            if names[:end] in self.lines:
                return self.lines[names[:end]]
        return None


def closest(name: str, known: Iterable[str], cutoff: float = 0.75) -> str | None:
    """The known name a misspelt one most likely meant (`max_iteration` -> `max_iterations`), if any."""
    found = difflib.get_close_matches(name.replace("-", "_").lower(), list(known), n=1, cutoff=cutoff)
    return found[0] if found else None
