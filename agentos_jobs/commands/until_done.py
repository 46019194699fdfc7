"""`agentos-jobs until-done [-- doit arguments]`: the one command for a user who wants batch mode to finish.

It runs doit, and again after a pause that doubles (to MAX_PAUSE_SECONDS) while the run ended well with items
waiting for their batches; the exit code is the last run's. Ctrl+C stops it, between runs or in one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agentos_jobs.commands.report import find_summary
from agentos_jobs.core.errors import ReportError
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import EXIT_OK, Status
from agentos_jobs.run.summary import RunSummary

FIRST_PAUSE_SECONDS = 30.0
MAX_PAUSE_SECONDS = 900.0  # a batch answers within 24 hours, most within minutes: a poll every 15 minutes at most


def run_until_done(settings: Settings, doit_args: list[str], pause: float, say: Callable[[str], None]) -> int:
    seen = _latest(settings)  # a summary an earlier session left is no answer of this command's runs
    while True:
        code = subprocess.run([sys.executable, "-m", "doit", *doit_args], cwd=settings.root, check=False).returncode
        waiting = _waiting(settings, seen)
        if code != EXIT_OK or waiting is None:
            return code
        seen, count = waiting
        if not count:
            return code
        say(f"agentos-jobs: {count} item(s) wait for their batch; running again in {pause:g}s (Ctrl+C stops)")
        time.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE_SECONDS)


def _waiting(settings: Settings, seen: Path | None) -> tuple[Path, int] | None:
    """The latest run's summary and how many of its items wait; None when no new run was summarized."""
    path = _latest(settings)
    if path is None:
        return None
    summary = RunSummary.read(path)
    return None if path == seen else (path, summary.totals.counts.get(Status.WAITING, 0) if summary else 0)


def _latest(settings: Settings) -> Path | None:
    try:
        return find_summary(settings, None)
    except ReportError:
        return None
