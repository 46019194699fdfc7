"""The end of a run: one row per item, totals, an exit code, and `summary.json` for machines."""

from __future__ import annotations

from typing import IO, Any

from agentos_jobs.core.fsutil import atomic_write_json, display_path
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.prices import PRICES_DATE, show_cost
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import Status, run_exit
from agentos_jobs.core.text import colour_wanted, fit, table_lines


def build_summary(run_id: str, started_at: str, finished_at: str, duration: float,
                  rows: list[ItemResult], cache_saved: float = 0.0) -> dict[str, Any]:
    statuses = [row.status for row in rows]
    totals: dict[str, Any] = {status.value: statuses.count(status) for status in Status if status in statuses}
    totals["items"] = len(rows)
    totals["input_tokens"] = sum(row.input_tokens for row in rows)
    totals["output_tokens"] = sum(row.output_tokens for row in rows)
    totals["cached_tokens"] = sum(row.cached_tokens for row in rows)
    costs = [row.cost_usd for row in rows]  # None: a call of a model with no price
    totals["cost_usd"] = None if None in costs else round(sum(c or 0.0 for c in costs), 6)
    if cache_saved:  # what the prompt cache saved this run's calls (priced ones)
        totals["cache_saved_usd"] = round(cache_saved, 6)
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
            Status.UP_TO_DATE: "2", Status.IGNORED: "2", Status.WAITING: "36"}
_QUIET = (Status.DONE, Status.UP_TO_DATE)  # rows whose message would say nothing new


def wants_colour(stream: IO[str]) -> bool:
    return colour_wanted(stream.isatty())


HEADER = ("ITEM", "STATUS", "TIME", "STEPS", "TOKENS", "COST")
_GIVEN_UP = ("TOKENS", "STEPS", "COST", "TIME")  # the columns a narrow terminal loses, first to last
_FOLDED = (Status.NOT_STARTED, Status.UP_TO_DATE)  # many of these say nothing one by one


def _cells(row: ItemResult) -> tuple[str, ...]:
    took = f"{row.duration_seconds:.1f}s" if row.duration_seconds is not None else "-"
    steps = "-" if row.steps_done is None else str(row.steps_done)
    return row.prefix, row.status.value, took, steps, _tokens(row), _cost(row.cost_usd)


def _folded_row(rows: list[ItemResult]) -> tuple[tuple[str, ...], Status, str]:
    """Items never started, or found done, are one counted row: after an early Ctrl+C, or in a run that adds
    one issue to a hundred done ones, they would be most of a long table (summary.json still names each)."""
    status = rows[0].status
    message = f"{rows[0].message}; summary.json names each".lstrip("; ") if status is Status.NOT_STARTED else ""
    return (f"{len(rows)} items", status.value, "-", "-", "-", "-"), status, message


_MESSAGE_MIN = 30  # columns a wrapped message needs beside its indent


def _columns_that_fit(table: list[tuple[str, ...]], width: int | None) -> list[int]:
    """The columns shown: all of them, less those a terminal of `width` has no room for."""
    shown = list(range(len(HEADER)))
    for name in _GIVEN_UP:
        if width is None or max(len(line) for line in table_lines([[r[i] for i in shown] for r in table])) <= width:
            break
        shown.remove(HEADER.index(name))
    return shown


def render_summary(summary: dict[str, Any], settings: Settings, colour: bool = False,
                   width: int | None = None) -> str:
    """The table, and every line around it, in rows of at most `width` characters (a terminal's, measured as
    it is printed: None for a pipe or a file). Raises ValueError (or KeyError, TypeError) for a summary this
    version cannot read."""
    rows = [ItemResult.from_json(row) for row in summary["items"]]
    totals = summary["totals"]
    counts = ", ".join(f"{totals[s.value]} {s.value}" for s in Status if s.value in totals)
    lines = [f"agentos-jobs run {summary['run_id']}: {counts or 'nothing to do'} "
             f"({totals['items']} item(s)) in {summary['duration_seconds']:.1f}s, exit {summary['exit_code']}"]
    if summary.get("halted_after"):
        lines.append(f"fail_fast: no item was started after {summary['halted_after']} failed")
    table_rows: list[str] = []
    if rows:
        folded = {status: [row for row in rows if row.status is status] for status in _FOLDED}
        shown = [(_cells(row), row.status, row.message) for row in rows
                 if row.status not in _FOLDED or len(folded[row.status]) == 1]
        shown += [_folded_row(many) for many in folded.values() if len(many) > 1]
        if any(row.log for row in rows):  # every log is <ITEM>.log in the run's folder: said once
            logs = display_path(BaseDir(settings.base_dir).run(summary["run_id"]).logs, settings.root)
            lines.append(f"logs: {logs}/<ITEM>.log")
        table: list[tuple[str, ...]] = [HEADER, *(cells for cells, _, _ in shown)]
        columns = _columns_that_fit(table, width)
        start = max(len(cells[0]) for cells in table) + 2  # where the STATUS column begins
        for index, line in enumerate(table_lines([[cells[i] for i in columns] for cells in table])):
            status, message = (shown[index - 1][1], shown[index - 1][2]) if index else (None, "")
            if width is not None and len(line) > width:  # an item id longer than the terminal is wide
                line = line[: width - 1] + "…"
            if colour and status in _COLOURS:
                end = start + len(status)
                line = f"{line[:start]}\x1b[{_COLOURS[status]}m{line[start:end]}\x1b[0m{line[end:]}"
            table_rows.append(line)
            if message and status not in _QUIET:  # under its STATUS, unless that leaves too little room to read
                indent = " " * (start if width is None or width - start >= _MESSAGE_MIN else 2)
                table_rows += fit(indent + message, width, indent)
    after = []
    if rows and (totals["input_tokens"] or totals["output_tokens"]):
        cached = totals.get("cached_tokens") or 0  # a summary.json of an older version has none
        after.append(f"tokens: {totals['input_tokens']:,} in{f' ({cached:,} cached)' if cached else ''}, "
                     f"{totals['output_tokens']:,} out")
        if cached and totals["input_tokens"]:
            saved = totals.get("cache_saved_usd") or 0.0
            after.append(f"prompt cache: {100 * cached / totals['input_tokens']:.0f}% of the input tokens read from "
                         f"it{f', saving {show_cost(saved)}' if saved else ''}")
    if rows and totals.get("cost_usd", 0.0) != 0:
        after.append(f"cost: {_cost(totals.get('cost_usd'))} (this run's calls, at the prices of {PRICES_DATE} "
                     "and [tool.agentos_jobs.prices])")
    after.append(f"summary: {display_path(BaseDir(settings.base_dir).run(summary['run_id']).summary, settings.root)}")
    fitted = [row for line in lines for row in fit(line, width)] + table_rows
    return "\n".join(fitted + [row for line in after for row in fit(line, width)]) + "\n"
