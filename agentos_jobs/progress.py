"""The run's status line: done / failed / running / waiting for a key, of total, elapsed, ETA.

On a terminal it is redrawn in place at the bottom; item lines (written by other processes) start with a
clear-line sequence so they replace it, and it is drawn again below them. Rich's live display cannot do this:
it only captures its own process's output. Elsewhere (CI logs) it is a plain line every interval.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .text import CLEAR_LINE

TTY_REFRESH_SECONDS = 0.25


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    def __init__(self, write: Callable[[str], None], total: int, slots: int, waiting_dir: Path, tty: bool,
                 interval: float) -> None:
        self._write = write
        self.total = total
        self.slots = slots
        self.waiting_dir = waiting_dir
        self.tty = tty
        self.interval = TTY_REFRESH_SECONDS if tty else interval
        self.started = time.monotonic()
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.done = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def begin(self, name: str) -> None:
        self.running[name] = time.monotonic()

    def finish(self, name: str, ok: bool) -> None:
        began = self.running.pop(name, None)
        if began is not None:
            self.durations.append(time.monotonic() - began)
        if ok:
            self.done += 1
        else:
            self.failed += 1

    def skip(self) -> None:
        self.done += 1

    def waiting(self) -> int:
        try:
            return sum(1 for _ in self.waiting_dir.iterdir())
        except OSError:
            return 0

    def eta(self) -> str:
        if not self.durations:
            return "ETA --:--"
        mean = statistics.fmean(self.durations)
        now = time.monotonic()
        queued = max(0, self.total - self.done - self.failed - len(self.running))
        work = queued * mean + sum(max(0.0, mean - (now - began)) for began in self.running.values())
        return f"ETA {_clock(work / self.slots)}"

    def line(self) -> str:
        waiting = self.waiting()
        parts = [f"{self.done}/{self.total} done", f"{self.failed} failed", f"{len(self.running)} running"]
        if waiting:
            parts.append(f"{waiting} waiting for a key")
        parts += [f"{_clock(time.monotonic() - self.started)} elapsed", self.eta()]
        return "progress: " + " · ".join(parts)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._write(f"{CLEAR_LINE}{self.line()}" if self.tty else f"{self.line()}\n")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)
        if self.tty:
            self._write(CLEAR_LINE)


def progress_mode(setting: str, is_tty: bool) -> str | None:
    """'tty', 'plain' or None, from the `progress` setting (auto, plain or off)."""
    if setting == "off":
        return None
    return "tty" if is_tty and setting == "auto" else "plain"
