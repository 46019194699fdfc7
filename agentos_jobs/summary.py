"""The end of a run: one row per item, totals, an exit code, and `summary.json` for machines."""

from __future__ import annotations

import os
from typing import IO, Any

from .config import Settings
from .fsutil import atomic_write_json, display_path
from .prices import PRICES_DATE, show_cost
from .results import ItemResult
from .rundir import BaseDir
from .status import Status, run_exit
from .text import table_lines


def build_summary(run_id: str, started_at: str, finished_at: str, duration: float,
                  rows: list[ItemResult]) -> dict[str, Any]:
    statuses = [row.status for row in rows]
    totals: dict[str, Any] = {status.value: statuses.count(status) for status in Status if status in statuses}
    totals["items"] = len(rows)
    totals["input_tokens"] = sum(row.input_tokens for row in rows)
    totals["output_tokens"] = sum(row.output_tokens for row in rows)
    totals["cached_tokens"] = sum(row.cached_tokens for row in rows)
    costs = [row.cost_usd for row in rows]  # None: a call of a model with no price
    totals["cost_usd"] = None if None in costs else round(sum(c or 0.0 for c in costs), 6)
    return {"run_id": run_id, "started_at": started_at, "finished_at": finished_at,
            "duration_seconds": round(duration, 3), "exit_code": run_exit(statuses), "totals": totals,
            "items": [row.to_json() for row in rows]}


def write_summary(settings: Settings, summary: dict[str, Any]) -> None:
    atomic_write_json(BaseDir(settings.base_dir).run(summary["run_id"]).summary, summary)


def _tokens(row: ItemResult) -> str:
    """This run's tokens, in and out; of the input, those a prompt cache served."""
    total = row.input_tokens + row.output_tokens
    cached = row.cached_tokens
    return f"{total:,}{f' ({cached:,} cached)' if cached else ''}" if total else "-"


def _cost(cost: float | None) -> str:
    return "-" if cost == 0 else show_cost(cost)


_COLOURS = {Status.DONE: "32", Status.FAILED: "31", Status.TIMEOUT: "31", Status.NO_KEY: "35",
            Status.OVER_BUDGET: "35", Status.EXISTS: "33",
            Status.NEEDS_REVISION: "33", Status.NEEDS_HUMAN: "33", Status.INTERRUPTED: "33", Status.NOT_STARTED: "2",
            Status.UP_TO_DATE: "2", Status.IGNORED: "2"}
_QUIET = (Status.DONE, Status.UP_TO_DATE)  # rows whose message would say nothing new


def wants_colour(stream: IO[str]) -> bool:
    """On a terminal, unless NO_COLOR (https://no-color.org) or a dumb terminal says otherwise; never in a
    pipe or a log."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _cells(row: ItemResult) -> tuple[str, ...]:
    took = f"{row.duration_seconds:.1f}s" if row.duration_seconds is not None else "-"
    steps = "-" if row.steps_done is None else str(row.steps_done)
    return row.prefix, row.status.value, took, steps, _tokens(row), _cost(row.cost_usd), row.log or "-"


def _not_started_row(rows: list[ItemResult]) -> tuple[tuple[str, ...], Status, str]:
    """Items never started are one counted row: after an early Ctrl+C they can be most of a long table
    (summary.json still names each)."""
    return ((f"{len(rows)} items", Status.NOT_STARTED.value, "-", "-", "-", "-", "-"), Status.NOT_STARTED,
            f"{rows[0].message}; summary.json names each".lstrip("; "))


def render_summary(summary: dict[str, Any], settings: Settings, colour: bool = False) -> str:
    """Raises ValueError (or KeyError, TypeError) for a summary this version cannot read."""
    rows = [ItemResult.from_json(row) for row in summary["items"]]
    totals = summary["totals"]
    counts = ", ".join(f"{totals[s.value]} {s.value}" for s in Status if s.value in totals)
    lines = [f"agentos-jobs run {summary['run_id']}: {counts or 'nothing to do'} "
             f"({totals['items']} item(s)) in {summary['duration_seconds']:.1f}s, exit {summary['exit_code']}"]
    if summary.get("halted_after"):
        lines.append(f"fail_fast: no item was started after {summary['halted_after']} failed")
    if rows:
        never = [row for row in rows if row.status is Status.NOT_STARTED]
        shown = [(_cells(row), row.status, row.message) for row in rows
                 if row.status is not Status.NOT_STARTED or len(never) == 1]
        if len(never) > 1:
            shown.append(_not_started_row(never))
        table: list[tuple[str, ...]] = [("ITEM", "STATUS", "TIME", "STEPS", "TOKENS", "COST", "LOG")]
        table += [cells for cells, _, _ in shown]
        start = max(len(cells[0]) for cells in table) + 2  # where the STATUS column begins
        for index, line in enumerate(table_lines(table)):
            status, message = (shown[index - 1][1], shown[index - 1][2]) if index else (None, "")
            if colour and status in _COLOURS:
                end = start + len(status)
                line = f"{line[:start]}\x1b[{_COLOURS[status]}m{line[start:end]}\x1b[0m{line[end:]}"
            lines.append(line)
            if message and status not in _QUIET:
                lines.append(" " * start + message)
        if totals["input_tokens"] or totals["output_tokens"]:
            cached = totals.get("cached_tokens") or 0  # a summary.json of an older version has none
            lines.append(f"tokens: {totals['input_tokens']:,} in{f' ({cached:,} cached)' if cached else ''}, "
                         f"{totals['output_tokens']:,} out")
        if totals.get("cost_usd", 0.0) != 0:
            lines.append(f"cost: {_cost(totals.get('cost_usd'))} (this run's calls, at the prices of {PRICES_DATE} "
                         "and [tool.agentos_jobs.prices])")
    lines.append(f"summary: {display_path(BaseDir(settings.base_dir).run(summary['run_id']).summary, settings.root)}")
    return "\n".join(lines) + "\n"
