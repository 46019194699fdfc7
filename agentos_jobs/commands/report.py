"""`agentos-jobs report [run-id] [--json]`: a past run's summary, again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agentos_jobs.core.errors import ReportError
from agentos_jobs.core.fsutil import read_json_object
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.text import table_lines, terminal_width
from agentos_jobs.run.summary import RunSummary, render_summary, wants_colour


def find_summary(settings: Settings, run_id: str | None) -> Path:
    """The named run's summary (an id or a unique start of one), or the latest; run ids sort by start time."""
    base = BaseDir(settings.base_dir)
    runs = sorted(p.parent.name for p in base.runs.glob("*/summary.json"))
    if not runs:
        raise ReportError(f"no finished runs under {base.runs}; run 'doit lld' first")
    matches = [r for r in runs if r.startswith(run_id)] if run_id else runs[-1:]
    if len(matches) != 1:
        recent = ", ".join(runs[-5:])
        what = "matches several runs" if matches else "is not a run"
        raise ReportError(f"{run_id!r} {what}; recent runs: {recent}")
    return base.run(matches[0]).summary


def list_runs(settings: Settings) -> str:
    """One line per past run, oldest first: what `report <run-id>` can show again."""
    table = [("RUN", "STARTED", "TIME", "ITEMS", "EXIT", "OUTCOME")]
    runs = BaseDir(settings.base_dir).runs
    for path in sorted(runs.glob("*/summary.json")):
        summary = RunSummary.read(path)
        if summary is None:
            table.append((path.parent.name, "?", "?", "?", "?", "unreadable"))
            continue
        outcome = ", ".join(f"{count} {status.value}" for status, count in summary.totals.counts.items())
        table.append((path.parent.name, summary.started_at, f"{summary.duration_seconds:.1f}s",
                      str(summary.totals.items), str(summary.exit_code), outcome or "unreadable"))
    if len(table) == 1:
        raise ReportError(f"no finished runs under {runs}; run 'doit lld' first")
    return "\n".join(table_lines(table)) + "\n"


def report(settings: Settings, run_id: str | None, as_json: bool) -> str:
    path = find_summary(settings, run_id)
    data = read_json_object(path)
    if data is None:
        raise ReportError(f"{path} is unreadable")
    if as_json:
        return json.dumps(data, indent=2) + "\n"
    try:
        summary = RunSummary.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # edited by hand, or another version's
        raise ReportError(f"{path}: not a summary this version can print ({type(exc).__name__}: {exc}); "
                          "'agentos-jobs report --json' shows it as it is") from None
    return render_summary(summary, settings, wants_colour(sys.stdout), terminal_width(sys.stdout))
