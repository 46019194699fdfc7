"""`agentos-jobs report [run-id] [--json]`: a past run's summary, again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agentos_jobs.core.errors import ReportError
from agentos_jobs.core.fsutil import read_json_object
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import Status
from agentos_jobs.core.text import table_lines, terminal_width
from agentos_jobs.run.summary import render_summary, wants_colour


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
        summary = read_json_object(path) or {}
        totals = summary.get("totals")
        totals = totals if isinstance(totals, dict) else {}
        outcome = ", ".join(f"{totals[s.value]} {s.value}" for s in Status if isinstance(totals.get(s.value), int))
        took = summary.get("duration_seconds")
        table.append((path.parent.name, str(summary.get("started_at", "?")),
                      f"{took:.1f}s" if isinstance(took, int | float) else "?", str(totals.get("items", "?")),
                      str(summary.get("exit_code", "?")), outcome or "unreadable"))
    if len(table) == 1:
        raise ReportError(f"no finished runs under {runs}; run 'doit lld' first")
    return "\n".join(table_lines(table)) + "\n"


def report(settings: Settings, run_id: str | None, as_json: bool) -> str:
    path = find_summary(settings, run_id)
    summary = read_json_object(path)
    if summary is None:
        raise ReportError(f"{path} is unreadable")
    if as_json:
        return json.dumps(summary, indent=2) + "\n"
    try:
        return render_summary(summary, settings, wants_colour(sys.stdout), terminal_width(sys.stdout))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # edited by hand, or another version's
        raise ReportError(f"{path}: not a summary this version can print ({type(exc).__name__}: {exc}); "
                          "'agentos-jobs report --json' shows it as it is") from None
