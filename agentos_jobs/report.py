"""`agentos-jobs report [run-id] [--json]`: a past run's summary, again."""

from __future__ import annotations

import json
from typing import Any

from .config import Settings
from .fsutil import read_json_object
from .summary import render_summary


class ReportError(Exception):
    pass


def find_summary(settings: Settings, run_id: str | None) -> dict[str, Any]:
    """The named run (an id or a unique start of one), or the latest; run ids sort by start time."""
    runs = sorted(p.parent.name for p in settings.runs_dir.glob("*/summary.json"))
    if not runs:
        raise ReportError(f"no finished runs under {settings.runs_dir}; run 'doit lld' first")
    matches = [r for r in runs if r.startswith(run_id)] if run_id else runs[-1:]
    if len(matches) != 1:
        recent = ", ".join(runs[-5:])
        what = "matches several runs" if matches else "is not a run"
        raise ReportError(f"{run_id!r} {what}; recent runs: {recent}")
    summary = read_json_object(settings.runs_dir / matches[0] / "summary.json")
    if summary is None:
        raise ReportError(f"{settings.runs_dir / matches[0] / 'summary.json'} is unreadable")
    return summary


def report(settings: Settings, run_id: str | None, as_json: bool) -> str:
    summary = find_summary(settings, run_id)
    return json.dumps(summary, indent=2) + "\n" if as_json else render_summary(summary, settings)
