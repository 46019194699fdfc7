"""Text on its way to a terminal: outside text (issue titles, server messages) as one printable line, and
aligned tables."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Sequence
from typing import IO

CLEAR_LINE = "\r\x1b[K"  # back to the line's start and clear it: how a line replaces the progress line


def one_line(text: object, limit: int | None = None) -> str:
    """Control characters are dropped (an escape sequence from anyone who can file an issue or run a server
    would otherwise drive the reader's terminal), whitespace runs folded, and the line cut at `limit`."""
    line = " ".join("".join(c for c in str(text) if c.isprintable() or c.isspace()).split())
    return line if limit is None or len(line) <= limit else line[: limit - 1] + "…"


# A terminal's escape sequences, 7-bit and 8-bit: CSI (`ESC [ ... m`, `ESC[2J`), OSC up to BEL or ST (`ESC ] 52 ;
# c ; ... BEL` writes the clipboard), DCS/SOS/PM/APC strings, and any other two-character escape.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                      r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[ -~]?")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every C0 and C1 control but tab and newline


def without_escapes(text: str) -> str:
    """A model's answer as it may be written to a file someone will `cat`: its terminal escape sequences (and
    what they carry) removed, with every other control character but tab and newline; CRLF becomes LF."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n")))


_SURROGATE = re.compile("[\ud800-\udfff]")


def writable(text: str) -> str:
    """Text that UTF-8 can hold, so that a file or a checkpoint can: a lone surrogate (half an emoji, which a JSON
    string can carry as `\\ud83d`) becomes U+FFFD, the replacement character."""
    return _SURROGATE.sub("\ufffd", text)


def shown_name(name: object) -> str:
    """A name from the file system (or a path) as it may be printed: every character that is not printable (a
    control character such as an escape sequence's ESC, a right-to-left override, a byte that is not UTF-8) is
    written as a backslash escape, `\\x1b`, `\\u202e`, `\\xff`, so the name stays recognisable but cannot drive
    the reader's terminal."""
    return "".join(c if c.isprintable() else _escaped(c) for c in str(name))


def _escaped(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how Python holds a byte of a name that is not UTF-8: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return ascii(char)[1:-1]


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def colour_wanted(is_tty: bool) -> bool:
    """On a terminal, unless NO_COLOR (https://no-color.org) or a dumb terminal says otherwise; never in a pipe
    or a log."""
    return is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def fit(line: str, width: int | None, indent: str = "") -> list[str]:
    """A line as rows of at most `width` characters (None: as it is), broken at spaces where it can be."""
    if width is None or len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def terminal_width(stream: IO[str]) -> int | None:
    """The columns of the terminal a stream writes to, now; None when it is not a terminal."""
    try:
        return (os.get_terminal_size(stream.fileno()).columns or 80) if stream.isatty() else None
    except (OSError, ValueError):
        return None
