"""The doit reporter: a thin shim that forwards doit's callbacks to the run controller (controller.py) and does
what only a doit plug-in can: hook doit's fork and result queue, and end the process with the run's exit code.

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
from types import FrameType
from typing import IO, Any

from doit.exceptions import TaskError, UnmetDependency
from doit.globals import Globals
from doit.reporter import ConsoleReporter
from doit.runner import MRunner

from agentos_jobs.core.errors import AgentosError, say_error
from agentos_jobs.core.fsutil import describe_os_error
from agentos_jobs.core.ids import WORKFLOWS
from agentos_jobs.core.os_process import STOP_SIGNALS, die_with_parent
from agentos_jobs.core.run_id import current_run_id
from agentos_jobs.core.settings import DEFAULT_PARALLEL, MAX_PARALLEL
from agentos_jobs.core.text import CLEAR_LINE, terminal_width
from agentos_jobs.procs import warm_parent
from agentos_jobs.procs.worker import read_notes
from agentos_jobs.run.controller import ItemTask, RunController
from agentos_jobs.run.depfile import save_dep_file_or_say
from agentos_jobs.run.progress import progress_mode
from agentos_jobs.run.project import project_settings
from agentos_jobs.run.summary import wants_colour

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


def always_execute(argv: list[str]) -> bool:
    """`doit -a`: every selected task runs, up to date or not."""
    return any(arg in ("-a", "--always-execute") for arg in argv)


def item_task(task: Any) -> ItemTask | None:
    """The item a doit task runs, from its `meta` (tasks.py); None for a task that is not an item's."""
    meta = (getattr(task, "meta", None) or {}).get("agentos")
    return ItemTask(task.name, meta["workflow"], meta["id"], task.doc or "") if meta else None


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
    return [name for name in seen if item_task(tasks[name])]


class RunReporter(ConsoleReporter):  # type: ignore[misc]
    desc = "agentos-jobs: item lines, a progress line, a summary table and an honest exit code"

    def __init__(self, outstream: IO[str], options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.controller = RunController(project_settings(), current_run_id(), self.write, self._warn)
        self.owner = os.getpid()
        self.refused: int | None = None  # the exit code of an error that kept the run from starting
        self.clear_first = False
        self.console_gone = False
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._queues: list[Any] = []
        self._mask: set[int | signal.Signals] = set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Each signal tells every wrapper to stop and unwinds doit like Ctrl+C, so its workers are stopped and
        its dep file saved; a second one is ignored, so the summary still gets written. Once doit waits on its
        result queue, the stop is posted there, as a worker posts its crash: raised from this handler it could
        land inside a fork hook, where Python swallows it."""
        name = signal.Signals(signum).name
        if not self.controller.request_stop(name):
            return
        if self._queues:
            self._queues[0].put({"exit": KeyboardInterrupt, "exception": name})
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

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        save_dep_file_or_say(Globals.dep_manager)
        names = _item_tasks(tasks, selected_tasks)
        for signum in STOP_SIGNALS:  # from here on a stop is the run's: every item is stopped and accounted for
            signal.signal(signum, self._on_signal)
        pending = any(not _up_to_date(tasks[name]) for name in names)
        try:
            self.controller.start([item for name in names if (item := item_task(tasks[name]))], pending)
        except AgentosError as exc:
            self.refused = say_error(exc)  # the run did not start: 3, or 75 for a lease store out of reach
            raise SystemExit(self.refused) from None
        # These hooks run only when doit's workers are forks: Linux up to Python 3.13. macOS spawns them
        # (multiprocessing's default), Python 3.14 uses forkserver on Linux, and Windows has no register_at_fork:
        # there the worker must set its signals itself, or doit be given multiprocessing.get_context("fork").
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(before=self._before_fork, after_in_parent=self._after_fork_in_parent,
                                after_in_child=self._in_forked_worker)
        self.tasks = tasks
        MRunner.Queue = staticmethod(self._make_queue)  # doit's own hook (MThreadRunner overrides it too)
        # os.waitid with WNOWAIT looks at an exit without reaping it: Linux, and macOS only from Python 3.13; none
        # on Windows. There no watch runs (a worker killed outright hangs the run, as before the watch). Portable:
        # keep doit's Process objects (wrap MRunner.Child as _make_queue wraps the queue) and watch their sentinels
        # with multiprocessing.connection.wait.
        if hasattr(os, "waitid"):
            threading.Thread(target=self._watch_workers, name="worker-watch", daemon=True).start()
        self.controller.open_trace()
        asked = requested_processes(sys.argv[1:])
        if asked and asked > MAX_PARALLEL:
            self.write(f"agentos-jobs: -n {asked} asked for {asked} parallel workflows; at most {MAX_PARALLEL} "
                       "run at once, the others wait for a free slot\n")
        self.controller.empty_groups = [name for name in WORKFLOWS
                                        if name in selected_tasks and not tasks[name].task_dep]
        mode = progress_mode(self.controller.settings.progress, self.outstream.isatty())
        if names and mode:
            if mode == "tty":
                self.clear_first = True
                os.environ["AGENTOS_CLEAR_LINE"] = "1"  # its workers tell each wrapper: its lines replace it too
            slots = max(1, min(DEFAULT_PARALLEL if asked is None else asked, MAX_PARALLEL))  # -n 0: one
            self.controller.show_progress(slots, self._columns if mode == "tty" else None)
        if not pending and not always_execute(sys.argv[1:]):  # none of the selected items will run
            warm_parent.discard()

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
            for pid, note in read_notes(self.controller.run_dir).items():
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
                if (killed or ended.si_status != 0) and not self.controller.interrupted_by:
                    how = signal.Signals(ended.si_status).name if killed else f"exit code {ended.si_status}"
                    self._worker_died(pid, str(note.get("task")), how)

    def _worker_died(self, pid: int, name: str, how: str) -> None:
        task = self.tasks.get(name)
        item = item_task(task) if task is not None else None
        message = self.controller.worker_died(item, pid, how) if item else None
        if task is None or message is None:
            return
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

    def _columns(self) -> int:
        return terminal_width(self.outstream) or 80

    def execute_task(self, task: Any) -> None:
        if item := item_task(task):
            self.controller.item_started(item)  # its wrapper says it started, with the item's prefix
        else:
            super().execute_task(task)

    def skip_uptodate(self, task: Any) -> None:
        if item := item_task(task):
            self.controller.item_up_to_date(item)
        elif task.name not in WORKFLOWS:  # an item, or `lld` (up to date when all its items are): the summary
            super().skip_uptodate(task)  # says so, in one counted row rather than doit's `-- lld:N` line each

    def skip_ignore(self, task: Any) -> None:
        if item := item_task(task):
            self.controller.item_ignored(item)
        super().skip_ignore(task)

    def add_success(self, task: Any) -> None:
        if item := item_task(task):
            self.controller.item_ended(item, ok=True)

    def add_failure(self, task: Any, fail: Any) -> None:
        if item := item_task(task):
            self.controller.item_ended(item, ok=False)
        elif (getattr(task, "meta", None) or {}).get("agentos_tool"):
            self.controller.failed_outside_items = True  # it said why in one line already; doit's dump adds nothing
        elif task.name in WORKFLOWS and isinstance(fail, UnmetDependency):
            pass  # `lld` "failed" because an item did: the summary says which and why
        else:
            super().add_failure(task, fail)

    def complete_run(self) -> None:
        self._watching.set()
        if self.refused is not None:
            raise SystemExit(self.refused)
        crash = sys.exc_info()[1]  # doit calls this from a `finally`: our SystemExit must not hide a crash
        if isinstance(crash, SystemExit):
            raise crash  # stopped before the run started (stop_before_start): nothing to account for
        if isinstance(crash, Exception):
            self.controller.failed_outside_items = True
            self._warn("agentos-jobs: " + (describe_os_error(crash, self.controller.run_dir.base.dep_file) or
                                          f"internal error {type(crash).__name__}: {crash} (please report this)"))
        if self.controller.interrupted_by:
            self._stop_workers()
        self.controller.stop_progress()
        self.clear_first = False
        super().complete_run()
        if self.failures or self.runtime_errors:  # a task that is not an item failed
            self.controller.failed_outside_items = True
        code = self.controller.finish(wants_colour(self.outstream), terminal_width(self.outstream))
        warm_parent.stop(GRACE_SECONDS)  # its wrappers have ended: the run leaves no process behind
        try:
            self.outstream.flush()
        except OSError:
            self._console_closed()
        for signum in STOP_SIGNALS:  # a late Ctrl+C must not turn exit 130 into a death by SIGINT: Python
            signal.signal(signum, signal.SIG_IGN)  # restores default handlers, not ignored ones, as it exits
        raise SystemExit(code)
