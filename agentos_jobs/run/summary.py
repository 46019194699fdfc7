"""The end of a run: one row per item, totals, an exit code, and `summary.json` for machines.

`RunSummary` is built once, frozen, from everything the run knows at its end; `summary.json` is its JSON, and
`report` and `until-done` read that file back through the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentos_jobs.core.fsutil import atomic_write_json, display_path, read_json_object
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.prices import PRICES_DATE, show_cost
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import EXIT_FAILED, EXIT_INTERRUPTED, Status, run_exit
from agentos_jobs.core.text import colour_wanted, fit, table_lines


@dataclass(frozen=True)
class RunTotals:
    """The `totals` of a summary: items by status, this run's tokens and cost."""

    counts: Mapping[Status, int]  # only the statuses some item has
    items: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float | None  # None: a call of a model with no price
    cache_saved_usd: float = 0.0  # what the prompt cache saved this run's calls (priced ones)

    @classmethod
    def of(cls, rows: list[ItemResult], cache_saved: float = 0.0) -> RunTotals:
        statuses = [row.status for row in rows]
        costs = [row.cost_usd for row in rows]
        return cls(counts={status: statuses.count(status) for status in Status if status in statuses},
                   items=len(rows), input_tokens=sum(row.input_tokens for row in rows),
                   output_tokens=sum(row.output_tokens for row in rows),
                   cached_tokens=sum(row.cached_tokens for row in rows),
                   cost_usd=None if None in costs else round(sum(c or 0.0 for c in costs), 6),
                   cache_saved_usd=round(cache_saved, 6))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {status.value: count for status, count in self.counts.items()}
        data.update(items=self.items, input_tokens=self.input_tokens, output_tokens=self.output_tokens,
                    cached_tokens=self.cached_tokens, cost_usd=self.cost_usd)
        if self.cache_saved_usd:
            data["cache_saved_usd"] = self.cache_saved_usd
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunTotals:
        """Raises KeyError or TypeError for totals that are not a summary's; those of an older version, which
        had no cached tokens, are read."""
        return cls(counts={s: int(data[s.value]) for s in Status if s.value in data}, items=int(data["items"]),
                   input_tokens=int(data["input_tokens"]), output_tokens=int(data["output_tokens"]),
                   cached_tokens=int(data.get("cached_tokens") or 0), cost_usd=data.get("cost_usd", 0.0),
                   cache_saved_usd=float(data.get("cache_saved_usd") or 0.0))


@dataclass(frozen=True)
class RunSummary:
    """A run's end, as `summary.json` holds it."""

    run_id: str
    started_at: str
    finished_at: str
    duration_seconds: float
    exit_code: int
    totals: RunTotals
    items: tuple[ItemResult, ...]
    interrupted_by: str | None = None  # the signal or reason that stopped the run
    halted_after: str | None = None  # fail_fast: the item after whose failure no other was started
    trace_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id, "started_at": self.started_at, "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds, "exit_code": self.exit_code, "totals": self.totals.to_json(),
            "items": [row.to_json() for row in self.items]}
        optional = {"interrupted_by": self.interrupted_by, "halted_after": self.halted_after,
                    "trace_id": self.trace_id}
        return data | {key: value for key, value in optional.items() if value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        """Raises ValueError, KeyError or TypeError for a summary this version cannot read."""
        items = tuple(ItemResult.from_json(row) for row in data["items"])
        return cls(totals=RunTotals.from_json(data["totals"]), items=items, run_id=str(data["run_id"]),
                   started_at=str(data.get("started_at", "?")), finished_at=str(data.get("finished_at", "?")),
                   duration_seconds=float(data["duration_seconds"]), exit_code=int(data["exit_code"]),
                   interrupted_by=data.get("interrupted_by"), halted_after=data.get("halted_after"),
                   trace_id=data.get("trace_id"))

    @classmethod
    def read(cls, path: Path) -> RunSummary | None:
        """The summary at `path`; None when there is none, or this version cannot read it."""
        data = read_json_object(path)
        try:
            return None if data is None else cls.from_json(data)
        except (KeyError, TypeError, ValueError):
            return None


def build_summary(run_id: str, started_at: str, finished_at: str, duration: float, rows: list[ItemResult],
                  cache_saved: float = 0.0, *, interrupted_by: str | None = None, halted_after: str | None = None,
                  failed_outside_items: bool = False, trace_id: str | None = None) -> RunSummary:
    """The summary and its exit code: the items' (run_exit), 130 for a stopped run, at least 1 when something
    outside the items failed (unless fail_fast halted the run, which its failed item already says)."""
    exit_code = EXIT_INTERRUPTED if interrupted_by else run_exit([row.status for row in rows])
    if failed_outside_items and not halted_after:
        exit_code = max(exit_code, EXIT_FAILED)
    return RunSummary(run_id=run_id, started_at=started_at, finished_at=finished_at,
                      duration_seconds=round(duration, 3), exit_code=exit_code,
                      totals=RunTotals.of(rows, cache_saved), items=tuple(rows), interrupted_by=interrupted_by,
                      halted_after=halted_after, trace_id=trace_id)


def write_summary(settings: Settings, summary: RunSummary) -> None:
    atomic_write_json(BaseDir(settings.base_dir).run(summary.run_id).summary, summary.to_json())


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


def render_summary(summary: RunSummary, settings: Settings, colour: bool = False,
                   width: int | None = None) -> str:
    """The table, and every line around it, in rows of at most `width` characters (a terminal's, measured as
    it is printed: None for a pipe or a file)."""
    rows = list(summary.items)
    totals = summary.totals
    counts = ", ".join(f"{count} {status.value}" for status, count in totals.counts.items())
    lines = [f"agentos-jobs run {summary.run_id}: {counts or 'nothing to do'} "
             f"({totals.items} item(s)) in {summary.duration_seconds:.1f}s, exit {summary.exit_code}"]
    if summary.halted_after:
        lines.append(f"fail_fast: no item was started after {summary.halted_after} failed")
    table_rows: list[str] = []
    if rows:
        folded = {status: [row for row in rows if row.status is status] for status in _FOLDED}
        shown = [(_cells(row), row.status, row.message) for row in rows
                 if row.status not in _FOLDED or len(folded[row.status]) == 1]
        shown += [_folded_row(many) for many in folded.values() if len(many) > 1]
        if any(row.log for row in rows):  # every log is <ITEM>.log in the run's folder: said once
            logs = display_path(BaseDir(settings.base_dir).run(summary.run_id).logs, settings.root)
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
    if rows and (totals.input_tokens or totals.output_tokens):
        cached = totals.cached_tokens
        after.append(f"tokens: {totals.input_tokens:,} in{f' ({cached:,} cached)' if cached else ''}, "
                     f"{totals.output_tokens:,} out")
        if cached and totals.input_tokens:
            saved = totals.cache_saved_usd
            after.append(f"prompt cache: {100 * cached / totals.input_tokens:.0f}% of the input tokens read from "
                         f"it{f', saving {show_cost(saved)}' if saved else ''}")
    if rows and totals.cost_usd != 0:
        after.append(f"cost: {_cost(totals.cost_usd)} (this run's calls, at the prices of {PRICES_DATE} "
                     "and [tool.agentos_jobs.prices])")
    after.append(f"summary: {display_path(BaseDir(settings.base_dir).run(summary.run_id).summary, settings.root)}")
    fitted = [row for line in lines for row in fit(line, width)] + table_rows
    return "\n".join(fitted + [row for line in after for row in fit(line, width)]) + "\n"
