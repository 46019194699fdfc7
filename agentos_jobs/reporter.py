"""The doit reporter: holds the run lock, says what it runs, and ends with the summary and the exit code.

doit gives a reporter no say over the exit code (a failed item under the group task `lld` makes doit exit 2),
so `complete_run`, which doit calls last, after saving its dep file, ends the process with our code.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import IO, Any

from doit.exceptions import TaskError, UnmetDependency
from doit.globals import Globals
from doit.reporter import ConsoleReporter
from doit.runner import MRunner

from .config import DEFAULT_PARALLEL, MAX_PARALLEL, ConfigError
from .credentials import CredentialsError
from .depfile import save_dep_file_or_say
from .fsutil import atomic_write_text, describe_os_error, display_path, iso, utc_now
from .ids import WORKFLOWS, prefix_for
from .locks import RunLock, RunLocked
from .procs import STOP_SIGNALS, die_with_parent, stopped_early
from .progress import Progress, progress_mode
from .project import project_settings
from .providers import preflight
from .results import ItemResult
from .run_trace import RunTrace
from .rundir import BaseDir
from .runs import current_run_id
from .status import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REFUSED, Status
from .summary import build_summary, render_summary, wants_colour, write_summary
from .text import CLEAR_LINE, shown_name
from .worker import read_notes, still_running, wrapper_started

RESULT_WAIT_SECONDS = 8.0
WATCH_SECONDS = 0.25
GRACE_SECONDS = 2.0


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


def _up_to_date(task: Any) -> bool:
    """The item task's own `uptodate` check (its marker), as doit will make it."""
    return all(check(*args, **kwargs) for check, args, kwargs in task.uptodate)


def _item_tasks(tasks: dict[str, Any], selected: list[str]) -> list[str]:
    """The item tasks a run selected, directly or through a group task like `lld`."""
    seen: list[str] = []
    stack = list(selected)
    while stack:
        name = stack.pop(0)
        task = tasks.get(name)
        if task is None or name in seen:
            continue
        seen.append(name)
        stack.extend(task.task_dep)
    return [name for name in seen if RunReporter.meta(tasks[name])]


class RunReporter(ConsoleReporter):  # type: ignore[misc]
    desc = "agentos-jobs: item lines, a progress line, a summary table and an honest exit code"

    def __init__(self, outstream: IO[str], options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.settings = project_settings()
        self.run_id = current_run_id()
        self.run = BaseDir(self.settings.base_dir).run(self.run_id)
        self.started_at, self.clock = iso(utc_now()), time.monotonic()
        self.selected: list[Any] = []  # every item task the run was asked for, in doit's order
        self.items: list[Any] = []  # those doit started or found up to date
        self.up_to_date: set[str] = set()
        self.ignored: set[str] = set()
        self.halted_after: str | None = None  # fail_fast: the item whose failure stopped new items starting
        self.ended: set[str] = set()  # those doit saw end: their wrapper has exited
        self.refused = False
        self.interrupted_by: str | None = None
        self.owner = os.getpid()
        self.run_lock = RunLock(self.settings)
        self.progress: Progress | None = None
        self.clear_first = False
        self.trace: RunTrace | None = None
        self.tool_failed = False
        self.console_gone = False
        self.empty_groups: list[str] = []
        self.tasks: dict[str, Any] = {}
        self.worker_deaths: dict[str, str] = {}  # item task -> why: its doit worker died under it
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._queues: list[Any] = []
        self._mask: set[int | signal.Signals] = set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Each signal tells every wrapper to stop and unwinds doit like Ctrl+C, so its workers are stopped and
        its dep file saved; a second one is ignored, so the summary still gets written. Once doit waits on its
        result queue, the stop is posted there, as a worker posts its crash: raised from this handler it could
        land inside a fork hook, where Python swallows it."""
        if self.interrupted_by:
            return
        self.interrupted_by = signal.Signals(signum).name
        with contextlib.suppress(OSError):
            atomic_write_text(self.run.stop_flag, self.interrupted_by)
        if self._queues:
            self._queues[0].put({"exit": KeyboardInterrupt, "exception": self.interrupted_by})
        else:
            raise KeyboardInterrupt

    def _before_fork(self) -> None:
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # until the child has its handlers

    def _after_fork_in_parent(self) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)

    def _in_forked_worker(self) -> None:
        """doit's workers are forks of this process, and stopping the run is this process's job: a worker
        ignores Ctrl+C and a closed terminal (this process terminates it). If this process is killed outright,
        its workers would wait for work forever, holding the run lock's file open: they die with it."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        die_with_parent(signal.SIGKILL, self.owner)

    def write(self, text: str) -> None:
        """Flushed at once: item lines go straight to the console, and a buffered reporter line would
        otherwise show up after them. On a terminal, replace the progress line first."""
        with self._lock:
            if self.console_gone:
                return
            try:
                self.outstream.write((CLEAR_LINE if self.clear_first and text.strip() else "") + text)
                self.outstream.flush()
            except OSError:  # `doit lld | head`: the run goes on; the summary and logs keep the record
                self._console_closed()

    def _console_closed(self) -> None:
        """Point stdout at /dev/null, so that Python's flush at exit cannot fail too (it would exit 120)."""
        self.console_gone = True
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.outstream.fileno())

    @staticmethod
    def meta(task: Any) -> dict[str, str] | None:
        meta = getattr(task, "meta", None) or {}
        return meta.get("agentos")

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        save_dep_file_or_say(Globals.dep_manager)
        items = _item_tasks(tasks, selected_tasks)
        self.selected = [tasks[name] for name in items]
        for signum in STOP_SIGNALS:  # from here on a stop is the run's: every item is stopped and accounted for
            signal.signal(signum, self._on_signal)
        try:
            self.run_lock.acquire(self.run_id)
            if any(not _up_to_date(tasks[name]) for name in items):
                preflight(self.settings)
        except (RunLocked, ConfigError, CredentialsError) as exc:
            self.refused = True
            sys.stderr.write(f"agentos-jobs: {exc.label}{exc}\n")  # whatever its kind, the run did not start
            raise SystemExit(EXIT_REFUSED) from None
        os.register_at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent,
                            after_in_child=self._in_forked_worker)
        self.tasks = tasks
        MRunner.Queue = staticmethod(self._make_queue)  # doit's own hook (MThreadRunner overrides it too)
        threading.Thread(target=self._watch_workers, name="worker-watch", daemon=True).start()
        self.trace = RunTrace(self.settings, self.run_id, self._warn)
        asked = requested_processes(sys.argv[1:])
        if asked and asked > MAX_PARALLEL:
            self.write(f"agentos-jobs: -n {asked} asked for {asked} parallel workflows; at most {MAX_PARALLEL} "
                       "run at once, the others wait for a free slot\n")
        self.empty_groups = [name for name in WORKFLOWS if name in selected_tasks and not tasks[name].task_dep]
        mode = progress_mode(self.settings.progress, self.outstream.isatty())
        if items and mode:
            slots = max(1, min(DEFAULT_PARALLEL if asked is None else asked, MAX_PARALLEL))  # -n 0: one
            self.progress = Progress(self.write, len(items), slots, self.run.waiting,
                                     self.settings.progress_interval_seconds,
                                     self._columns if mode == "tty" else None)
            if mode == "tty":
                self.clear_first = True
                os.environ["AGENTOS_CLEAR_LINE"] = "1"  # its workers tell each wrapper: its lines replace it too
            self.progress.start()

    def _make_queue(self) -> Any:
        """MRunner.run_tasks makes its result queue first, then its job queue: the first is kept, so that a
        dead worker's result can be posted where doit waits for it."""
        queue: Any = multiprocessing.Queue()
        self._queues.append(queue)
        return queue

    def _watch_workers(self) -> None:
        """doit waits for a result from every worker it started, so one killed outright (kill -9, the OOM
        killer) would hang the run for ever. Its item is failed by name through doit's own result queue, and
        the run goes on. A worker is known by its note (worker.py); its exit is read without reaping it, so
        doit still joins it as usual."""
        seen: set[int] = set()
        while not self._watching.wait(WATCH_SECONDS):
            for pid, note in read_notes(self.run).items():
                if pid == self.owner or pid in seen:  # -n 0: the items run in this process
                    continue
                try:
                    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:  # already joined by doit
                    seen.add(pid)
                    continue
                if ended is None:
                    continue
                seen.add(pid)
                killed = ended.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
                if (killed or ended.si_status != 0) and not self.interrupted_by:
                    how = signal.Signals(ended.si_status).name if killed else f"exit code {ended.si_status}"
                    self._worker_died(pid, str(note.get("task")), how)

    def _worker_died(self, pid: int, name: str, how: str) -> None:
        task = self.tasks.get(name)
        if task is None or name in self.ended:
            return  # it died between items: doit hands the next one to another worker
        message = f"its doit worker process (pid {pid}) died ({how}); run again to resume from its checkpoint"
        self.worker_deaths[name] = message
        self._queues[0].put({"name": name, "failure": TaskError(message), "task": task.pickle_safe_dict(),
                             "out": [None] * len(task.actions), "err": [None] * len(task.actions)})

    @staticmethod
    def _stop_workers() -> None:
        """doit terminates its workers on Ctrl+C only once it is waiting for results: a stop while it starts
        them leaves them waiting for work, and the process would wait for them at exit."""
        workers = multiprocessing.active_children()
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(GRACE_SECONDS)

    def _warn(self, text: str) -> None:
        sys.stderr.write(text + "\n")

    def execute_task(self, task: Any) -> None:
        if self.meta(task):
            self.items.append(task)
            if self.progress:
                self.progress.begin(task.name)  # its wrapper says it started, with the item's prefix
        else:
            super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        if self.meta(task):
            self.items.append(task)
            self.up_to_date.add(task.name)
            if self.progress:
                self.progress.skip()
        if task.name not in WORKFLOWS:  # `lld` is up to date when all its items are: the summary says so
            super().skip_uptodate(task)

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.outstream.fileno()).columns or 80  # 0: a terminal that never said
        except (OSError, ValueError):
            return 80

    def skip_ignore(self, task: Any) -> None:
        if self.meta(task):
            self.items.append(task)
            self.ignored.add(task.name)
            if self.progress:
                self.progress.finish(task.name, Status.IGNORED)
        super().skip_ignore(task)

    def _finished(self, task: Any, ok: bool) -> None:
        meta = self.meta(task) or {}
        self.ended.add(task.name)
        if self.progress:
            result = ItemResult.read(self.run.item_result(prefix_for(meta["workflow"], meta["id"])))
            self.progress.finish(task.name, result.status if result else Status.DONE if ok else Status.FAILED)
        if self.trace:
            self.trace.forward(f"{prefix_for(meta['workflow'], meta['id'])}-*.jsonl")

    def add_success(self, task: Any) -> None:
        if self.meta(task):
            self._finished(task, ok=True)

    def add_failure(self, task: Any, fail: Any) -> None:
        if self.meta(task):
            self._finished(task, ok=False)
            meta = self.meta(task) or {}
            if self.settings.fail_fast and not self.halted_after:
                self.halted_after = prefix_for(meta["workflow"], meta["id"])
        elif (getattr(task, "meta", None) or {}).get("agentos_tool"):
            self.tool_failed = True  # it said why in one line already; doit's dump of the command adds nothing
        elif task.name in WORKFLOWS and isinstance(fail, UnmetDependency):
            pass  # `lld` "failed" because an item did: the summary says which and why
        else:
            super().add_failure(task, fail)

    def _row(self, task: Any, deadline: float) -> ItemResult:
        meta = self.meta(task) or {}
        prefix = prefix_for(meta["workflow"], meta["id"])
        if task.name in self.up_to_date:
            status, message = Status.UP_TO_DATE, ""
        elif task.name in self.ignored:
            status, message = Status.IGNORED, f"'doit ignore' set it aside; 'doit forget {task.name}' brings it back"
        elif task not in self.items:
            status, message = Status.NOT_STARTED, (f"fail_fast: not started after {self.halted_after} failed"
                                                   if self.halted_after and not self.interrupted_by else
                                                   f"the run was stopped ({self.interrupted_by}) before it started")
        else:
            result = ItemResult.read(self.run.item_result(prefix))
            while result is None and (task.name not in self.ended or task.name in self.worker_deaths) and \
                    time.monotonic() < deadline and still_running(read_notes(self.run), task.name):
                time.sleep(0.1)  # a stopping wrapper is still writing it
                result = ItemResult.read(self.run.item_result(prefix))
            died = self.worker_deaths.get(task.name)
            if result is not None and (not died or result.status is Status.DONE):
                return result  # (it may have finished in the very moment its worker died)
            if result is not None:
                result.status, result.message = Status.FAILED, died or ""
                return result
            if died:
                status, message = Status.FAILED, died
            elif self.interrupted_by and not wrapper_started(read_notes(self.run), task.name):
                status, message = Status.NOT_STARTED, f"the run was stopped ({self.interrupted_by}) as it started"
            else:
                status = Status.INTERRUPTED if self.interrupted_by else Status.FAILED
                message = "the item's wrapper ended without recording a result"
        return ItemResult(meta["workflow"], meta["id"], status, message, title=task.doc)

    def complete_run(self) -> None:
        self._watching.set()
        if self.refused:
            raise SystemExit(EXIT_REFUSED)
        crash = sys.exc_info()[1]  # doit calls this from a `finally`: our SystemExit must not hide a crash
        if isinstance(crash, SystemExit):
            raise crash  # stopped before the run started (stop_before_start): nothing to account for
        if isinstance(crash, Exception):
            self.tool_failed = True
            self._warn("agentos-jobs: " + (describe_os_error(crash, self.run.base.dep_file) or
                                          f"internal error {type(crash).__name__}: {crash} (please report this)"))
        if self.interrupted_by:
            self._stop_workers()
        if self.progress:
            self.progress.stop()
        self.clear_first = False
        super().complete_run()
        deadline = time.monotonic() + RESULT_WAIT_SECONDS
        rows = [self._row(task, deadline) for task in self.items]
        rows += [self._row(task, deadline) for task in self.selected if task not in self.items]
        summary = build_summary(self.run_id, self.started_at, iso(utc_now()), time.monotonic() - self.clock, rows)
        if self.interrupted_by:
            summary["exit_code"] = EXIT_INTERRUPTED
            summary["interrupted_by"] = self.interrupted_by
        if self.halted_after:
            summary["halted_after"] = self.halted_after
        elif self.failures or self.runtime_errors or self.tool_failed:  # a task that is not an item failed
            summary["exit_code"] = max(summary["exit_code"], EXIT_FAILED)
        if self.trace:
            summary["trace_id"] = self.trace.trace_id
        if rows:
            try:
                write_summary(self.settings, summary)
            except OSError as exc:  # the table still goes to the console
                summary["exit_code"] = max(summary["exit_code"], EXIT_FAILED)
                self._warn(f"agentos-jobs: summary.json not written: {describe_os_error(exc) or exc}")
            self.write("\n" + render_summary(summary, self.settings, wants_colour(self.outstream)))
        elif self.interrupted_by:
            self.write(stopped_early(self.interrupted_by))
        for group in self.empty_groups:
            folder = self.settings.inputs_dir(group)
            expected = "<N>.md, <N>-<slug>.md or <N>.json issues" if group == "lld" else "*.md briefs"
            shown = shown_name(display_path(folder, self.settings.root))
            self.write(f"agentos-jobs: nothing to do for '{group}': {shown} has no {expected}\n")
        if self.trace:
            self.trace.end(summary["exit_code"])
        try:
            self.outstream.flush()
        except OSError:
            self._console_closed()
        for signum in STOP_SIGNALS:  # a late Ctrl+C must not turn exit 130 into a death by SIGINT: Python
            signal.signal(signum, signal.SIG_IGN)  # restores default handlers, not ignored ones, as it exits
        raise SystemExit(summary["exit_code"])
