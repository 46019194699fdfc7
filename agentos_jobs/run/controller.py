"""The run controller: what a run is besides doit's loop. It holds the run lock, takes the stop request (the
stop flag every wrapper watches), keeps the progress line and the run's trace, and turns every item's
ItemResult (or what is known of an item that has none) into the summary and the run's exit code.

doit's reporter (reporter.py) only forwards doit's callbacks here, so a run can be driven, and tested, without
doit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from agentos_jobs.core.fsutil import atomic_write_text, describe_os_error, display_path, iso, utc_now
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.os_process import stopped_early
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.run_locks import RunLock
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import EXIT_FAILED, Status
from agentos_jobs.core.text import shown_name
from agentos_jobs.pool.budget import read_spend
from agentos_jobs.procs.worker import read_notes, still_running, wrapper_started
from agentos_jobs.providers.registry import preflight
from agentos_jobs.run.progress import Progress
from agentos_jobs.run.summary import build_summary, render_summary, write_summary
from agentos_jobs.tracing.run_trace import RunTrace

RESULT_WAIT_SECONDS = 8.0


@dataclass(frozen=True)
class ItemTask:
    """One item as the run selected it: doit's task name (`lld:42`) and the item it runs."""

    name: str
    workflow: str
    id: str
    title: str

    @property
    def prefix(self) -> str:
        return prefix_for(self.workflow, self.id)


class RunController:
    def __init__(self, settings: Settings, run_id: str, write: Callable[[str], None],
                 warn: Callable[[str], None]) -> None:
        self.settings = settings
        self.run_dir = BaseDir(settings.base_dir).run(run_id)
        self.write = write
        self.warn = warn
        self.started_at, self.clock = iso(utc_now()), time.monotonic()
        self.selected: list[ItemTask] = []  # every item the run was asked for, in doit's order
        self.items: list[ItemTask] = []  # those doit started or found up to date or ignored
        self.up_to_date: set[str] = set()
        self.ignored: set[str] = set()
        self.ended: set[str] = set()  # those doit saw end: their wrapper has exited
        self.worker_deaths: dict[str, str] = {}  # item -> why: its doit worker died under it
        self.halted_after: str | None = None  # fail_fast: the item whose failure stopped new items starting
        self.interrupted_by: str | None = None
        self.failed_outside_items = False  # a task that is not an item failed, or doit itself crashed
        self.empty_groups: list[str] = []
        self.run_lock = RunLock(settings)
        self.progress: Progress | None = None
        self.trace: RunTrace | None = None

    @property
    def run_id(self) -> str:
        return self.run_dir.run_id

    def start(self, selected: list[ItemTask], pending: bool) -> None:
        """Take the run lock and, when an item will run, check the providers' keys. Raises AgentosError
        (RunLocked, ConfigError, CredentialsError, StoreUnavailable): the run does not start, and exits with its
        exit code."""
        self.selected = selected
        self.run_lock.acquire(self.run_id)
        if pending:
            preflight(self.settings)

    def show_progress(self, slots: int, columns: Callable[[], int] | None) -> None:
        """The status line: in place on a terminal (`columns` given), else a plain line now and then."""
        self.progress = Progress(self.write, len(self.selected), slots, self.run_dir,
                                 self.settings.progress_interval_seconds, columns)
        self.progress.start()

    def open_trace(self) -> None:
        self.trace = RunTrace(self.settings, self.run_id, self.warn)

    def request_stop(self, signal_name: str) -> bool:
        """The first stop request tells every wrapper to stop (the stop flag); False for a later one."""
        if self.interrupted_by:
            return False
        self.interrupted_by = signal_name
        with contextlib.suppress(OSError):
            atomic_write_text(self.run_dir.stop_flag, signal_name)
        return True

    def item_started(self, item: ItemTask) -> None:
        self.items.append(item)
        if self.progress:
            self.progress.begin(item.name)

    def item_up_to_date(self, item: ItemTask) -> None:
        self.items.append(item)
        self.up_to_date.add(item.name)
        if self.progress:
            self.progress.skip()

    def item_ignored(self, item: ItemTask) -> None:
        self.items.append(item)
        self.ignored.add(item.name)
        if self.progress:
            self.progress.finish(item.name, Status.IGNORED)

    def item_ended(self, item: ItemTask, ok: bool) -> None:
        self.ended.add(item.name)
        if self.progress:
            result = ItemResult.read(self.run_dir.item_result(item.prefix))
            self.progress.finish(item.name, result.status if result else Status.DONE if ok else Status.FAILED)
        if self.trace:
            self.trace.forward(f"{item.prefix}-*.jsonl")
        if not ok and self.settings.fail_fast and not self.halted_after:
            self.halted_after = item.prefix

    def worker_died(self, item: ItemTask, pid: int, how: str) -> str | None:
        """The message that fails an item whose doit worker died under it; None when it had ended already (it
        died between items: doit hands the next one to another worker)."""
        if item.name in self.ended:
            return None
        message = f"its doit worker process (pid {pid}) died ({how}); run again to resume from its checkpoint"
        self.worker_deaths[item.name] = message
        return message

    def row(self, item: ItemTask, deadline: float) -> ItemResult:
        """The item's summary row: its ItemResult, waited for while its wrapper is still writing it, else what
        the run knows of it."""
        if item.name in self.up_to_date:
            status, message = Status.UP_TO_DATE, ""
        elif item.name in self.ignored:
            status, message = Status.IGNORED, f"'doit ignore' set it aside; 'doit forget {item.name}' brings it back"
        elif item not in self.items:
            status, message = Status.NOT_STARTED, (f"fail_fast: not started after {self.halted_after} failed"
                                                   if self.halted_after and not self.interrupted_by else
                                                   f"the run was stopped ({self.interrupted_by}) before it started")
        else:
            result = ItemResult.read(self.run_dir.item_result(item.prefix))
            while result is None and (item.name not in self.ended or item.name in self.worker_deaths) and \
                    time.monotonic() < deadline and still_running(read_notes(self.run_dir), item.name):
                time.sleep(0.1)  # a stopping wrapper is still writing it
                result = ItemResult.read(self.run_dir.item_result(item.prefix))
            died = self.worker_deaths.get(item.name)
            if result is not None and (not died or result.status is Status.DONE):
                return result  # (it may have finished in the very moment its worker died)
            if result is not None:
                return dataclasses.replace(result, status=Status.FAILED, message=died or "")
            if died:
                status, message = Status.FAILED, died
            elif self.interrupted_by and not wrapper_started(read_notes(self.run_dir), item.name):
                status, message = Status.NOT_STARTED, f"the run was stopped ({self.interrupted_by}) as it started"
            else:
                status = Status.INTERRUPTED if self.interrupted_by else Status.FAILED
                message = "the item's wrapper ended without recording a result"
        return ItemResult(item.workflow, item.id, status, message, title=item.title)

    def stop_progress(self) -> None:
        if self.progress:
            self.progress.stop()

    def finish(self, colour: bool, width: int | None = None) -> int:
        """Rows -> summary -> exit code: `summary.json` written, the table shown (in rows of at most `width`
        characters: a terminal's), the trace ended."""
        deadline = time.monotonic() + RESULT_WAIT_SECONDS
        rows = [self.row(item, deadline) for item in self.items]
        rows += [self.row(item, deadline) for item in self.selected if item not in self.items]
        spend = read_spend(self.run_dir.budget)  # what the prompt cache saved, as the calls settled it
        summary = build_summary(self.run_id, self.started_at, iso(utc_now()), time.monotonic() - self.clock, rows,
                                spend.saved if spend else 0.0, interrupted_by=self.interrupted_by,
                                halted_after=self.halted_after, failed_outside_items=self.failed_outside_items,
                                trace_id=self.trace.trace_id if self.trace else None)
        if rows:
            try:
                write_summary(self.settings, summary)
            except OSError as exc:  # the table still goes to the console
                summary = dataclasses.replace(summary, exit_code=max(summary.exit_code, EXIT_FAILED))
                self.warn(f"agentos-jobs: summary.json not written: {describe_os_error(exc) or exc}")
            self.write("\n" + render_summary(summary, self.settings, colour, width))
        elif self.interrupted_by:
            self.write(stopped_early(self.interrupted_by))
        for group in self.empty_groups:
            folder = self.settings.inputs_dir(group)
            expected = "<N>.md, <N>-<slug>.md or <N>.json issues" if group == "lld" else "*.md briefs"
            shown = shown_name(display_path(folder, self.settings.root))
            self.write(f"agentos-jobs: nothing to do for '{group}': {shown} has no {expected}\n")
        if self.trace:
            self.trace.end(summary.exit_code)
        return summary.exit_code

