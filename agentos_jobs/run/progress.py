"""The run's status line: done of total, each other status so far, running, waiting for a key, ETA, elapsed.

On a terminal it is redrawn in place at the bottom; item lines (written by other processes) start with a
clear-line sequence so they replace it, and it is drawn again below them. Rich's live display cannot do this:
it only captures its own process's output. Elsewhere (CI logs) it is a plain line every interval.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable

from agentos_jobs.core.layout import RunDir
from agentos_jobs.core.status import Status
from agentos_jobs.core.text import CLEAR_LINE
from agentos_jobs.pool.budget import read_spend

TTY_REFRESH_SECONDS = 0.25


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """Counts each status as the summary does; on a terminal the line fits its width, read at every redraw so
    that it follows a resize (a line longer than the terminal wraps, and `\\r\\x1b[K` clears one row only)."""

    def __init__(self, write: Callable[[str], None], total: int, slots: int, run: RunDir,
                 interval: float, columns: Callable[[], int] | None = None) -> None:
        self._write = write
        self.total = total
        self.slots = slots
        self.run = run  # its waiting flags and its spend ledger
        self.columns = columns  # a terminal's width: set on a terminal only
        self.interval = TTY_REFRESH_SECONDS if columns else interval
        self.started = time.monotonic()
        self.running: dict[str, float] = {}
        self.durations: list[float] = []
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def begin(self, name: str) -> None:
        self.running[name] = time.monotonic()

    def finish(self, name: str, status: Status) -> None:
        began = self.running.pop(name, None)
        if began is not None:
            self.durations.append(time.monotonic() - began)
        self.counts[status] += 1

    def skip(self) -> None:
        self.counts[Status.UP_TO_DATE] += 1

    def waiting(self) -> int:
        try:
            return sum(1 for _ in self.run.waiting.iterdir())
        except OSError:
            return 0

    def eta(self) -> str:
        if not self.durations:
            return "ETA --:--"
        mean = statistics.fmean(self.durations)
        now = time.monotonic()
        queued = max(0, self.total - sum(self.counts.values()) - len(self.running))
        work = queued * mean + sum(max(0.0, mean - (now - began)) for began in self.running.values())
        if work <= 0 and self.running:  # they run past the finished items' mean: how long more is not known
            return "ETA --:--"
        return f"ETA {_clock(math.ceil(work / self.slots))}"  # never 00:00 while a second remains

    def line(self, width: int | None = None) -> str:
        """Parts in the order they are given up when the line is too wide: the last first."""
        done = self.counts[Status.DONE] + self.counts[Status.UP_TO_DATE]
        parts = [f"{done}/{self.total} done"]
        parts += [f"{self.counts[s]} {s}" for s in Status if s not in _DONE and self.counts[s]]
        parts.append(f"{len(self.running)} running")
        waiting = self.waiting()
        if waiting:
            parts.append(f"{waiting} waiting for a key")
        spend = read_spend(self.run.budget)
        if spend is not None:
            parts.append(spend.line())
        parts += [self.eta(), f"{_clock(time.monotonic() - self.started)} elapsed"]
        line = "progress: " + " · ".join(parts)
        while width is not None and len(line) > width and len(parts) > 1:
            parts.pop()
            line = "progress: " + " · ".join(parts)
        return line if width is None or len(line) <= width else line[: max(0, width - 1)] + "…"

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            if self.columns:
                self._write(f"{CLEAR_LINE}{self.line(self.columns() - 1)}")  # never the last column: it wraps
            else:
                self._write(f"{self.line()}\n")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # a stop can come between making the line and starting it
            self._thread.join(1)
        if self.columns:
            self._write(CLEAR_LINE)


_DONE = (Status.DONE, Status.UP_TO_DATE)


def progress_mode(setting: str, is_tty: bool) -> str | None:
    """'tty', 'plain' or None, from the `progress` setting (auto, plain or off)."""
    if setting == "off":
        return None
    return "tty" if is_tty and setting == "auto" else "plain"
