"""Text from outside (issue titles, server messages) on its way to a terminal: one printable line."""

from __future__ import annotations


def one_line(text: object, limit: int | None = None) -> str:
    """Control characters are dropped (an escape sequence from anyone who can file an issue or run a server
    would otherwise drive the reader's terminal), whitespace runs folded, and the line cut at `limit`."""
    line = " ".join("".join(c for c in str(text) if c.isprintable() or c.isspace()).split())
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"
