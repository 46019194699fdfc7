"""The wrapper: one process per item, between doit and the workflow.

It gives the workflow its environment, prefixes and logs its output, enforces the timeout, forwards Ctrl+C and
SIGTERM, stops the workflow when doit goes away, and writes the completion marker last, on success only.

The workflow process is forked from the wrapper, which has imported everything a workflow needs: no second
interpreter to start, no second round of imports. It forks while it is still the only thread (its output
pumps and its watch start after), and the child never comes back into the wrapper's code (see `_fork`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import IO, NoReturn

from opentelemetry.trace import StatusCode

from agentos_jobs.core.errors import AgentosError, say_error
from agentos_jobs.core.fsutil import describe_os_error, display_path, iso, utc_now
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir, RunDir
from agentos_jobs.core.os_process import (
    STOP_SIGNALS,
    end_forked_child,
    exit_now,
    peak_rss_kb,
    pid_alive,
    set_title,
    signal_group,
    stop_process_group,
    unblock_stop_signals,
)
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.run_locks import acquire_slot
from agentos_jobs.core.settings import MAX_PARALLEL, Settings
from agentos_jobs.core.status import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Status
from agentos_jobs.design.workflows.registry import get_workflow
from agentos_jobs.items.discovery import Item, open_item
from agentos_jobs.items.markers import write_marker
from agentos_jobs.procs import workflow as workflow_process
from agentos_jobs.procs.handoff import Handoff
from agentos_jobs.procs.prefixer import STDERR, STDOUT, PrefixedOutput
from agentos_jobs.steps.checkpoint import delete_checkpoint, summarize
from agentos_jobs.tracing.spans import env_carrier, start_tracing, trace_id, tracer

GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1



@dataclass
class Supervisor:
    settings: Settings
    workflow: str
    item_id: str
    run_dir: RunDir
    out: PrefixedOutput
    parent: int  # whose exit stops the item: its doit worker, doit itself with -n 0, or `agentos-jobs run`'s caller
    doit_pid: int | None = None  # the run's doit process; None for `agentos-jobs run`
    stop_reason: str | None = None
    workflow_started_at: str | None = None
    workflow_finished_at: str | None = None

    def __post_init__(self) -> None:
        self.db = self.run_dir.base.checkpoint(self.workflow, self.item_id)
        self.stop_flag = self.run_dir.stop_flag
        self.outcome_file = self.run_dir.outcome(prefix_for(self.workflow, self.item_id))

    def say(self, text: str) -> None:
        self.out.line(text, STDOUT)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_reason = self.stop_reason or signal.Signals(signum).name

    def _orphaned(self) -> bool:
        if not pid_alive(self.parent):  # not its parent when the run's warm parent forked it (warm_parent.py)
            return True
        return self.doit_pid is not None and self.doit_pid != self.parent and not pid_alive(self.doit_pid)

    def _check_parent(self) -> None:
        if self.stop_reason:
            return
        if self._orphaned():
            self.stop_reason = "doit exited" if self.doit_pid is None or not pid_alive(self.doit_pid) else \
                "its doit worker process died"
        elif self.stop_flag.exists():
            self.stop_reason = f"{self.stop_flag.read_text(encoding='utf-8', errors='replace').strip()} to the run"

    def _cancelled(self) -> bool:
        self._check_parent()
        return self.stop_reason is not None

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "AGENTOS_BASE_DIR": str(self.settings.base_dir),
            "AGENTOS_WORKFLOW_DB": str(self.db),
            "AGENTOS_RUN_ID": self.run_dir.run_id,
            "PYTHONUNBUFFERED": "1",
        })
        env.pop("TRACESTATE", None)
        env.update(env_carrier())  # the item's span is the workflow's parent
        return env

    def run_workflow(self, item: Item) -> ItemResult:
        """Start the workflow in its own process group and watch it; return its outcome: status and message."""
        slot = acquire_slot(self.settings, lambda: self.say(
            f"waiting for a slot: {MAX_PARALLEL} workflows are already running (agentos-jobs runs at most "
            f"{MAX_PARALLEL} at once)"),
            self._cancelled, self.say)
        if slot is None:
            return ItemResult(self.workflow, self.item_id, Status.INTERRUPTED)
        self.workflow_started_at = iso(utc_now())
        self.outcome_file.unlink(missing_ok=True)
        handoff = Handoff(self.run_dir.run_id, tuple(str(path) for path in item.sources), parent=os.getpid(),
                          outcome=str(self.outcome_file))
        try:
            pid, stdout, stderr, wait = self._fork(handoff, item)
            pumps = [self.out.pump(stdout, STDOUT), self.out.pump(stderr, STDERR)]
            timeout = self.settings.worker_timeout_seconds
            deadline = time.monotonic() + timeout
            timed_out = False
            exited = threading.Event()
            returncode = 0

            def reap() -> None:
                nonlocal returncode
                returncode = wait()
                exited.set()

            threading.Thread(target=reap, daemon=True).start()
            while not exited.is_set():
                self._check_parent()
                if not timed_out and not self.stop_reason and time.monotonic() > deadline:
                    timed_out = True
                    self.say(f"timed out after {timeout:g}s (worker_timeout_seconds); stopping the workflow")
                    self.stop_reason = "timeout"
                if self.stop_reason:
                    if not stop_process_group(pid, exited.wait, GRACE_SECONDS):
                        self.say(f"the workflow did not stop within {GRACE_SECONDS:g}s; killed it")
                    exited.wait()
                exited.wait(POLL_SECONDS)  # wakes the moment the workflow exits, not at the next poll
            signal_group(pid, signal.SIGKILL)  # anything the workflow left behind in its group
            for pump in pumps:
                pump.join(GRACE_SECONDS)
        finally:
            self.workflow_finished_at = iso(utc_now())  # while the slot is still held: the interval it covered
            slot.release()
        return self._outcome(returncode, timed_out)

    def _fork(self, handoff: Handoff, item: Item) -> tuple[int, IO[bytes], IO[bytes], Callable[[], int]]:
        """The workflow's pid (the leader of its own process group), its stdout and stderr, and how to wait for
        its exit code (-N for a death by signal N). Forked while the wrapper has no second thread (a fork would
        copy one half-way through whatever it was doing), with its stop signals held back: until its own
        handlers are in place (a signal then arrives as Interrupted, and it checkpoints), a signal must neither
        be lost to the wrapper's handlers it inherits nor kill it half-started."""
        # fork + setpgid: Linux and macOS. On macOS a fork after Apple frameworks are initialised is unsafe (httpx's
        # getproxies() reaches CoreFoundation through _scproxy), so the fresh interpreter is the safer door there;
        # Windows has no fork: `python -m agentos_jobs.procs.workflow` with CREATE_NEW_PROCESS_GROUP.
        if threading.active_count() != 1:  # the wrapper starts its threads after this; keep it that way
            raise RuntimeError("internal error: a thread is running in the wrapper before the workflow is forked")
        env = self._environment()
        with contextlib.suppress(KeyError):  # its modules too are imported here, not in every child
            get_workflow(self.workflow)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice, once by each process
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        pipes = [os.pipe(), os.pipe()]  # (read, write) for its stdout and its stderr
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                os.close(pipes[0][0])  # its own copies of the read ends would keep a write from failing once
                os.close(pipes[1][0])  # the wrapper is gone
                self._child(handoff, item, env, pipes[0][1], pipes[1][1])
        except OSError:
            for fd in (*pipes[0], *pipes[1]):
                os.close(fd)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # in the wrapper only: the child never returns
        with contextlib.suppress(OSError):  # the child does it too: whichever comes first, no signal misses it
            os.setpgid(pid, pid)
        for _, write in pipes:
            os.close(write)

        def wait() -> int:
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

        return pid, os.fdopen(pipes[0][0], "rb"), os.fdopen(pipes[1][0], "rb"), wait

    def _child(self, handoff: Handoff, item: Item, env: dict[str, str], stdout: int, stderr: int) -> NoReturn:
        """The forked workflow process: its own process group, the pipes to the wrapper's prefixer as fd 1 and
        2, the environment and folder it would have been started with, then the workflow (which starts its own
        tracing and dies with the wrapper). It ends here, whatever happens: never back in the wrapper's code.

        The wrapper's other files stay open here, unused, until this process ends: closing them under the
        wrapper's file objects would let one's finalizer later close a number this process has reused."""
        def body() -> int:
            os.setpgid(0, 0)
            set_title([sys.executable, "-m", "agentos_jobs.procs.workflow", self.workflow, self.item_id])
            null = os.open(os.devnull, os.O_RDONLY)
            for fd, target in ((null, 0), (stdout, 1), (stderr, 2)):
                os.dup2(fd, target)
                os.close(fd)
            sys.stdout = _text_stream(1, sys.stdout)
            sys.stderr = _text_stream(2, sys.stderr)
            os.chdir(self.settings.root)
            os.environ.clear()
            os.environ.update(env)
            return workflow_process.run(self.workflow, self.item_id, handoff, (self.settings, item))

        end_forked_child(body, EXIT_FAILED, lambda exc: f"error: internal error {type(exc).__name__}: {exc} (the "
                         "checkpoint keeps the finished steps; please report this)")

    def _outcome(self, code: int, timed_out: bool) -> ItemResult:
        """The workflow's own record; the timeout and a stop of the run override all but done. Only when the
        workflow died without writing one is its exit code read: 0 done, a signal's death, or failed."""
        written = ItemResult.read(self.outcome_file)
        done = written.status is Status.DONE if written else code == 0
        if done:
            status, message = Status.DONE, ""
        elif timed_out:
            status, message = Status.TIMEOUT, ""
        elif self.stop_reason:
            status, message = Status.INTERRUPTED, ""
        elif written:
            status, message = written.status, written.message
        elif code < 0:
            status = Status.FAILED
            message = f"the workflow process was killed by {signal.Signals(-code).name}; run again to resume"
        else:
            status, message = Status.FAILED, f"the workflow exited with code {code}"
        return ItemResult(self.workflow, self.item_id, status, message, workflow_exit_code=code)

    def run(self, item: Item) -> ItemResult:
        """The item's result: the workflow's outcome with this process's facts (timings, tokens, the log)."""
        started, clock = utc_now(), time.monotonic()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        unblock_stop_signals()  # a Ctrl+C that came while this process started arrives now, handled
        self.say(f"started: {item.title}")
        result = self.run_workflow(item)
        summary = summarize(self.db, self.run_dir.run_id)  # tokens of this run's calls, none of a resumed step
        outputs = summary.outputs if summary else []
        status, message = result.status, result.message
        if status is Status.DONE:
            try:
                self._finish(item, summary.input_hash if summary and summary.input_hash else item.input_hash,
                             outputs)
            except OSError as exc:  # a full disk: the checkpoint is kept, so the re-run finishes without paying
                status, message = Status.FAILED, f"not marked done: {describe_os_error(exc) or exc}"
        duration = time.monotonic() - clock
        message = self._message(status, message, summary.steps_done if summary else 0)
        self.say(f"{status.value} in {duration:.1f}s" + (f": {message}" if message else ""))
        if summary:  # this run's calls: none when the workflow died before its checkpoint was made
            result = dataclasses.replace(
                result, failed_step=summary.failed_step, input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens, cached_tokens=summary.cached_tokens, cost_usd=summary.cost_usd)
        return dataclasses.replace(
            result, status=status, message=message, outputs=tuple(outputs), title=item.title, started_at=iso(started),
            finished_at=iso(utc_now()), workflow_started_at=self.workflow_started_at,
            workflow_finished_at=self.workflow_finished_at, duration_seconds=round(duration, 3),
            steps_done=summary.steps_done if summary else 0,
            log=display_path(self.out.log_path, self.settings.root),
            checkpoint=display_path(self.db, self.settings.root) if self.db.exists() else None,
            peak_rss_kb=peak_rss_kb())

    def _finish(self, item: Item, input_hash: str, outputs: list[str]) -> None:
        """Marker first (atomic), checkpoint after: a crash between leaves a finished item, never a lost one."""
        if moved := write_marker(self.run_dir.base.marker(self.workflow, self.item_id), workflow=self.workflow,
                                 item_id=self.item_id, sources=[display_path(p, self.settings.root)
                                                                for p in item.sources],
                                 input_hash=input_hash, run_id=self.run_dir.run_id, outputs=outputs):
            self.say(f"{moved} and made a new one")
        delete_checkpoint(self.db)

    def _message(self, status: Status, message: str, steps: int) -> str:
        """The wrapper's own facts (a timeout, a stop); otherwise what the workflow said."""
        if status is Status.TIMEOUT:
            return f"killed after worker_timeout_seconds={self.settings.worker_timeout_seconds:g}"
        if status is Status.INTERRUPTED:
            why = self.stop_reason or "a signal from outside this run reached the workflow"
            return f"stopped ({why}); {steps} finished step(s) checkpointed, run again to resume"
        return "" if status is Status.DONE else message


def _text_stream(fd: int, like: IO[str]) -> IO[str]:
    """A standard stream on `fd`, unbuffered as PYTHONUNBUFFERED makes it, in the encoding it had."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding=getattr(like, "encoding", None) or "utf-8",
                            errors=getattr(like, "errors", None) or "backslashreplace", write_through=True)


def run_item(workflow: str, item_id: str, handoff: Handoff) -> int:
    """Run one item end to end; the exit code is the item's (see status.py). Raises AgentosError for a bad id
    or setting, or an item that cannot be found."""
    settings, item = open_item(workflow, item_id, handoff.sources)
    prefix = prefix_for(workflow, item_id)
    run = BaseDir(settings.base_dir).run(handoff.run_id)
    start_tracing(run.spans / f"{prefix}-wrapper-{os.getpid()}.jsonl", "wrapper")
    out = PrefixedOutput(prefix, run.log(prefix), handoff.clear_line)
    supervisor = Supervisor(settings, workflow, item_id, run, out, handoff.parent or os.getppid(), handoff.doit_pid)
    attributes = {"agentos.workflow": workflow, "agentos.item": item_id, "agentos.run_id": run.run_id}
    try:
        with tracer().start_as_current_span(f"item {prefix}", attributes=attributes) as span:
            out.log_only(f"trace {trace_id()} run {run.run_id} item {prefix}")
            result = supervisor.run(item)
            span.set_attribute("agentos.status", result.status.value)
            span.set_attribute("agentos.steps_done", result.steps_done or 0)
            span.set_attribute("agentos.input_tokens", result.input_tokens)
            span.set_attribute("agentos.output_tokens", result.output_tokens)
            span.set_attribute("agentos.duration_seconds", result.duration_seconds or 0.0)
            if result.status is not Status.DONE:
                span.set_status(StatusCode.ERROR, result.message)
        try:
            result.write(run.item_result(prefix))
        except OSError as exc:  # the console line above said how the item ended; the summary will say it failed
            out.line(f"its result is not recorded: {describe_os_error(exc) or exc}", STDERR)
    finally:
        out.close()
    return result.exit_code


def main(argv: list[str]) -> int:
    """`python -m agentos_jobs.procs.wrapper <workflow> <id> <hand-off>`: what a doit task runs (lighter than the full
    CLI). The hand-off (handoff.py) names the parent: it may already be gone when this process starts."""
    try:
        handoff = Handoff.from_arg(argv[2]) if len(argv) == 3 else None
    except ValueError:
        handoff = None
    if handoff is None:
        print("usage: python -m agentos_jobs.procs.wrapper <lld|issue> <id> <hand-off JSON>", file=sys.stderr)
        return EXIT_USAGE
    try:
        code = run_item(argv[0], argv[1], handoff)
    except AgentosError as exc:
        return say_error(exc)
    return EXIT_OK if code == EXIT_OK else EXIT_FAILED  # its worker needs to know only: done, or not


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
