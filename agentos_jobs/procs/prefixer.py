"""Prefixed, whole-line output: every line of an item reaches the console and its log as `[LLD-42] ...`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

from agentos_jobs.core.fsutil import describe_os_error
from agentos_jobs.core.text import CLEAR_LINE, colour_wanted

STDOUT, STDERR = 1, 2
PALETTE = ("36", "34", "35", "96", "94", "95")  # cyan, blue, magenta and their bright kin: no status's red,
# yellow or green (summary.py), so an item's colour never reads as how it ended


def tinted_prefix(prefix: str) -> str:
    """`[LLD-42]` in the item's own colour, the same in every run and every process: an issue's number picks
    it, so that issues next to each other, which tend to run together, differ; a brief's slug by its hash (not
    Python's, which changes with every process)."""
    number = prefix.rsplit("-", 1)[-1]
    pick = int(number) if number.isdigit() else int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:4])
    return f"\x1b[{PALETTE[pick % len(PALETTE)]}m[{prefix}]\x1b[0m"


class PrefixedOutput:
    """Writes each line with one `os.write`, so lines from parallel items never interleave mid-line.

    The console may vanish (doit was killed); then lines still go to the log, which is what keeps a record.
    """

    def __init__(self, prefix: str, log_path: Path, clear_line: bool = False) -> None:
        self.prefix = prefix
        self.log_path = log_path
        self._lock = threading.Lock()
        self._console = True
        self._log: IO[str] | None = None
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("a", encoding="utf-8")
        except OSError as exc:
            self._lost = describe_os_error(exc, log_path) or str(exc)
        else:
            self._lost = ""
        # On a terminal with a progress line at the bottom, each line first clears it (see progress.py).
        self._clear = CLEAR_LINE if clear_line else ""
        self._shown = {fd: tinted_prefix(prefix) if colour_wanted(os.isatty(fd)) else f"[{prefix}]"
                       for fd in (STDOUT, STDERR)}  # on a terminal, each item's prefix in its own colour

    def line(self, text: str, stream: int = STDOUT) -> None:
        text = text.rstrip(chr(13) + chr(10))
        shown = self._shown.get(stream, f"[{self.prefix}]")
        data = f"{shown} {text}\n"
        with self._lock:
            self._to_log(f"{datetime.now():%H:%M:%S.%f}"[:12] + f" [{self.prefix}] {text}\n")
            if self._lost not in ("", "said") and self._console:  # said once, on the console: the log cannot say it
                data += f"{shown} the log {self.log_path} stops here: {self._lost}\n"
                self._lost = "said"
            if self._console:
                try:
                    _write_all(stream, (self._clear + data).encode("utf-8", "replace"))
                except OSError:
                    self._console = False

    def log_only(self, text: str) -> None:
        """A line for the log alone (its header), not the console."""
        with self._lock:
            self._to_log(f"# {text}\n")

    def _to_log(self, text: str) -> None:
        """A log that cannot be written (a full disk) is given up and said once; the item goes on."""
        if self._log is None:
            return
        try:
            self._log.write(text)
            self._log.flush()
        except OSError as exc:
            self._lost = describe_os_error(exc, self.log_path) or str(exc)
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def pump(self, pipe: IO[bytes], stream: int, on_line: Callable[[str], None] | None = None) -> threading.Thread:
        """Copy a child's pipe line by line; a last line without newline is still written whole."""
        def run() -> None:
            with pipe:
                for raw in iter(lambda: pipe.readline(65536), b""):
                    text = raw.decode("utf-8", "replace")
                    self.line(text, stream)
                    if on_line:
                        on_line(text.rstrip("\r\n"))
        thread = threading.Thread(target=run, name=f"pump-{stream}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            if self._log is not None:
                self._log.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
