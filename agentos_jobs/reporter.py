"""The doit reporter: holds the run lock, says what it runs, and ends with the summary and the exit code.

doit gives a reporter no say over the exit code (a failed item under the group task `lld` makes doit exit 2),
so `complete_run`, which doit calls last, after saving its dep file, ends the process with our code.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType
from typing import IO, Any

from doit.reporter import ConsoleReporter

from .config import MAX_PARALLEL
from .fsutil import iso, utc_now
from .ids import prefix_for
from .locks import RunLock, RunLocked
from .runs import current_run_id
from .status import EXIT_INTERRUPTED, EXIT_REFUSED, Status
from .summary import build_summary, read_item_result, render_summary, write_summary
from .tasks import project_settings

RESULT_WAIT_SECONDS = 8.0


def requested_processes(argv: list[str]) -> int | None:
    """The `-n`/`--process` value on doit's command line, if any."""
    for index, arg in enumerate(argv):
        value = None
        if arg in ("-n", "--process") and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--process="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-n") and len(arg) > 2:
            value = arg[2:].lstrip("=")
        if value is not None and value.isdigit():
            return int(value)
    return None


class RunReporter(ConsoleReporter):  # type: ignore[misc]
    desc = "agentos-jobs: item lines, a summary table and an honest exit code"

    def __init__(self, outstream: IO[str], options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.settings = project_settings()
        self.run_id = current_run_id()
        self.started_at, self.clock = iso(utc_now()), time.monotonic()
        self.items: list[Any] = []
        self.running: set[str] = set()
        self.outcome: dict[str, Status] = {}
        self.refused = False
        self.interrupted_by: str | None = None
        self.owner = os.getpid()
        self.run_lock = RunLock(self.settings)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """In the doit process both signals unwind doit like Ctrl+C, so its workers are stopped and its dep
        file saved; doit's forked workers keep the default behaviour."""
        if os.getpid() != self.owner:
            if signum == signal.SIGTERM:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            raise KeyboardInterrupt
        self.interrupted_by = self.interrupted_by or signal.Signals(signum).name
        raise KeyboardInterrupt

    def write(self, text: str) -> None:
        """Flushed at once: item lines go straight to the console, and a buffered reporter line would
        otherwise show up after them."""
        self.outstream.write(text)
        self.outstream.flush()

    @staticmethod
    def _meta(task: Any) -> dict[str, str] | None:
        meta = getattr(task, "meta", None) or {}
        return meta.get("agentos")

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        try:
            self.run_lock.acquire(self.run_id)
        except RunLocked as exc:
            self.refused = True
            sys.stderr.write(f"agentos-jobs: {exc}\n")
            raise SystemExit(EXIT_REFUSED) from None
        asked = requested_processes(sys.argv[1:])
        if asked and asked > MAX_PARALLEL:
            self.write(f"agentos-jobs: -n {asked} asked for {asked} parallel workflows; at most {MAX_PARALLEL} "
                       "run at once, the others wait for a free slot\n")

    def execute_task(self, task: Any) -> None:
        meta = self._meta(task)
        if meta:
            self.running.add(task.name)
            self.items.append(task)
            self.write(f".  {task.name}  {task.doc or ''}\n".rstrip() + "\n")
        else:
            super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        if self._meta(task):
            self.items.append(task)
            self.outcome[task.name] = Status.UP_TO_DATE
        super().skip_uptodate(task)

    def add_success(self, task: Any) -> None:
        self.running.discard(task.name)

    def add_failure(self, task: Any, fail: Any) -> None:
        if self._meta(task):
            self.running.discard(task.name)
            self.outcome[task.name] = Status.FAILED
        else:
            super().add_failure(task, fail)

    def _row(self, task: Any, deadline: float) -> dict[str, Any]:
        meta = self._meta(task) or {}
        prefix = prefix_for(meta["workflow"], meta["id"])
        if self.outcome.get(task.name) is Status.UP_TO_DATE:
            status, message = Status.UP_TO_DATE, ""
        else:
            result = read_item_result(self.settings, self.run_id, prefix)
            while result is None and time.monotonic() < deadline:  # a stopping wrapper is still writing it
                time.sleep(0.1)
                result = read_item_result(self.settings, self.run_id, prefix)
            if result is not None:
                return result
            status = Status.INTERRUPTED if self.interrupted_by else Status.FAILED
            message = "the item's wrapper ended without recording a result"
        return {"workflow": meta["workflow"], "id": meta["id"], "prefix": prefix, "title": task.doc,
                "status": status.value, "duration_seconds": None, "steps_done": None, "log": None,
                "message": message}

    def complete_run(self) -> None:
        if self.refused:
            raise SystemExit(EXIT_REFUSED)
        super().complete_run()
        deadline = time.monotonic() + RESULT_WAIT_SECONDS
        rows = [self._row(task, deadline) for task in self.items]
        summary = build_summary(self.run_id, self.started_at, iso(utc_now()), time.monotonic() - self.clock, rows)
        if self.interrupted_by:
            summary["exit_code"] = EXIT_INTERRUPTED
            summary["interrupted_by"] = self.interrupted_by
        if rows:
            write_summary(self.settings, summary)
            self.write("\n" + render_summary(summary, self.settings))
        self.outstream.flush()
        raise SystemExit(summary["exit_code"])
