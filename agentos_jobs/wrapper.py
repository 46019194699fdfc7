"""The wrapper: one process per item, between doit and the workflow.

It gives the workflow its environment, prefixes and logs its output, enforces the timeout, forwards Ctrl+C and
SIGTERM, stops the workflow when doit goes away, and writes the completion marker last, on success only.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from opentelemetry.trace import StatusCode

from .checkpoint import delete_checkpoint, summarize
from .config import MAX_PARALLEL, ConfigError, Settings, load_settings
from .fsutil import atomic_write_json, describe_os_error, display_path, iso, utc_now
from .ids import InvalidItemId, prefix_for, validate_item_id, validate_workflow
from .items import InputError, Item, find_item
from .locks import acquire_slot
from .markers import write_marker
from .prefixer import STDERR, STDOUT, PrefixedOutput
from .procs import STOP_SIGNALS, pid_alive, unblock_stop_signals
from .runs import current_run_id, item_results_dir, log_dir, stop_flag
from .status import EXIT_FAILED, EXIT_USAGE, WORKFLOW_EXITS, Status, item_exit
from .tracing import env_carrier, spans_dir, start_tracing, trace_id, tracer

GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1



@dataclass
class Supervisor:
    settings: Settings
    workflow: str
    item_id: str
    run_id: str
    out: PrefixedOutput
    parent: int  # whose exit stops the item: the doit worker, or doit itself with -n 0
    stop_reason: str | None = None
    last_error: str = ""
    workflow_started_at: str | None = None
    workflow_finished_at: str | None = None

    def __post_init__(self) -> None:
        run_pid = os.environ.get("AGENTOS_RUN_PID", "")
        self.doit_pid = int(run_pid) if run_pid.isdigit() else None
        self.db = self.settings.checkpoint_path(self.workflow, self.item_id)
        self.stop_flag = stop_flag(self.settings, self.run_id)

    def say(self, text: str) -> None:
        self.out.line(text, STDOUT)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_reason = self.stop_reason or signal.Signals(signum).name

    def _orphaned(self) -> bool:
        if os.getppid() != self.parent:
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
            "AGENTOS_WORKFLOW_ID": self.item_id,
            "AGENTOS_RUN_ID": self.run_id,
            "AGENTOS_WRAPPER_PID": str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
        })
        env.pop("TRACESTATE", None)
        env.update(env_carrier())  # the item's span is the workflow's parent
        return env

    def _signal_group(self, proc: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    def _remember_error(self, text: str) -> None:
        if text.strip():
            self.last_error = text.strip().removeprefix("error: ")

    def run_workflow(self) -> tuple[Status, int | None]:
        """Start the workflow in its own process group and watch it; return its status and exit code."""
        slot = acquire_slot(self.settings, lambda: self.say(
            f"waiting for a slot: {MAX_PARALLEL} workflows are already running (agentos-jobs runs at most "
            f"{MAX_PARALLEL} at once)"),
            self._cancelled, self.say)
        if slot is None:
            return Status.INTERRUPTED, None
        self.workflow_started_at = iso(utc_now())
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agentos_jobs.workflows", self.workflow, self.item_id],
                cwd=self.settings.root, env=self._environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            pumps = [self.out.pump(proc.stdout, STDOUT), self.out.pump(proc.stderr, STDERR, self._remember_error)]  # type: ignore[arg-type]
            timeout = self.settings.worker_timeout_seconds
            deadline = time.monotonic() + timeout
            timed_out = False
            forwarded_at: float | None = None
            exited = threading.Event()

            def reap() -> None:
                proc.wait()
                exited.set()

            threading.Thread(target=reap, daemon=True).start()
            while not exited.is_set():
                self._check_parent()
                now = time.monotonic()
                if not timed_out and not self.stop_reason and now > deadline:
                    timed_out = True
                    self.say(f"timed out after {timeout:g}s (worker_timeout_seconds); stopping the workflow")
                    self.stop_reason = "timeout"
                if self.stop_reason and forwarded_at is None:
                    self._signal_group(proc, signal.SIGTERM)
                    forwarded_at = now
                elif forwarded_at is not None and now - forwarded_at > GRACE_SECONDS:
                    self.say(f"the workflow did not stop within {GRACE_SECONDS:g}s; killed it")
                    self._signal_group(proc, signal.SIGKILL)
                    forwarded_at = float("inf")
                exited.wait(POLL_SECONDS)  # wakes the moment the workflow exits, not at the next poll
            self._signal_group(proc, signal.SIGKILL)  # anything the workflow left behind in its group
            for pump in pumps:
                pump.join(GRACE_SECONDS)
        finally:
            self.workflow_finished_at = iso(utc_now())  # while the slot is still held: the interval it covered
            slot.release()
        code = proc.returncode
        if code == 0:
            return Status.DONE, code
        if timed_out:
            return Status.TIMEOUT, code
        if self.stop_reason:
            return Status.INTERRUPTED, code
        return WORKFLOW_EXITS.get(code, Status.FAILED), code

    def run(self, item: Item | None) -> dict[str, Any]:
        started, clock = utc_now(), time.monotonic()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        unblock_stop_signals()  # a Ctrl+C that came while this process started arrives now, handled
        code: int | None = None
        if item is None:
            status = Status.FAILED
        else:
            self.say(f"started: {item.title}")
            status, code = self.run_workflow()
        summary = summarize(self.db, self.run_id)  # tokens of this run's calls, none of a resumed step
        outputs = summary.outputs if summary else []
        if status is Status.DONE and item is not None:
            try:
                self._finish(item, summary.input_hash if summary and summary.input_hash else item.input_hash,
                             outputs)
            except OSError as exc:  # a full disk: the checkpoint is kept, so the re-run finishes without paying
                status, self.last_error = Status.FAILED, f"not marked done: {describe_os_error(exc) or exc}"
        duration = time.monotonic() - clock
        message = self._message(status, code, summary.steps_done if summary else 0)
        self.say(f"{status.value} in {duration:.1f}s" + (f": {message}" if message else ""))
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "workflow": self.workflow, "id": self.item_id, "prefix": prefix_for(self.workflow, self.item_id),
            "title": item.title if item else "", "status": status.value, "exit_code": item_exit(status),
            "workflow_exit_code": code, "started_at": iso(started),
            "workflow_started_at": self.workflow_started_at, "workflow_finished_at": self.workflow_finished_at,
            "finished_at": iso(utc_now()),
            "duration_seconds": round(duration, 3),
            "steps_done": summary.steps_done if summary else 0,
            "failed_step": summary.failed_step if summary else None,
            "input_tokens": summary.input_tokens if summary else 0,
            "output_tokens": summary.output_tokens if summary else 0,
            "cached_tokens": summary.cached_tokens if summary else 0,
            "cost_usd": summary.cost_usd if summary else 0.0,  # this run's calls; None: unknown (prices.py)
            "outputs": outputs, "message": message,
            "log": display_path(self.out.log_path, self.settings.root),
            "checkpoint": display_path(self.db, self.settings.root) if self.db.exists() else None,
            "peak_rss_kb": {"wrapper": own, "workflow": rss},
        }

    def _finish(self, item: Item, input_hash: str, outputs: list[str]) -> None:
        """Marker first (atomic), checkpoint after: a crash between leaves a finished item, never a lost one."""
        if moved := write_marker(self.settings.marker_path(self.workflow, self.item_id), workflow=self.workflow,
                                 item_id=self.item_id, sources=[display_path(p, self.settings.root)
                                                                for p in item.sources],
                                 input_hash=input_hash, run_id=self.run_id, outputs=outputs):
            self.say(f"{moved} and made a new one")
        delete_checkpoint(self.db)

    def _message(self, status: Status, code: int | None, steps: int) -> str:
        if status is Status.TIMEOUT:
            return f"killed after worker_timeout_seconds={self.settings.worker_timeout_seconds:g}"
        if status is Status.INTERRUPTED:
            why = self.stop_reason or "a signal from outside this run reached the workflow"
            return f"stopped ({why}); {steps} finished step(s) checkpointed, run again to resume"
        if status is Status.NEEDS_REVISION:
            return "the reviewer did not approve within max_iterations"
        if status is Status.NEEDS_HUMAN:  # the workflow's last line on stderr is the reviewer's question
            return self.last_error or "the reviewer asked for a person's decision"
        if status in (Status.FAILED, Status.NO_KEY) and code is not None and code < 0:
            return f"the workflow process was killed by {signal.Signals(-code).name}; run again to resume"
        if status in (Status.FAILED, Status.NO_KEY, Status.OVER_BUDGET):
            return self.last_error or f"the workflow exited with code {code}"
        return ""


def run_item(workflow: str, item_id: str, parent: int | None = None) -> int:
    """Run one item end to end; the exit code is the item's (see status.py). Bad ids raise InvalidItemId."""
    validate_workflow(workflow)
    validate_item_id(item_id)
    settings = load_settings()
    run_id = current_run_id()
    prefix = prefix_for(workflow, item_id)
    start_tracing(spans_dir(settings, run_id) / f"{prefix}-wrapper-{os.getpid()}.jsonl", "wrapper")
    out = PrefixedOutput(prefix, log_dir(settings, run_id) / f"{prefix}.log")
    supervisor = Supervisor(settings, workflow, item_id, run_id, out, parent or os.getppid())
    try:
        item: Item | None = find_item(settings, workflow, item_id)
    except InputError as exc:
        supervisor.last_error = str(exc)
        item = None
    attributes = {"agentos.workflow": workflow, "agentos.item": item_id, "agentos.run_id": run_id}
    try:
        with tracer().start_as_current_span(f"item {prefix}", attributes=attributes) as span:
            out.log_only(f"trace {trace_id()} run {run_id} item {prefix}")
            result = supervisor.run(item)
            for key in ("status", "steps_done", "input_tokens", "output_tokens", "duration_seconds"):
                span.set_attribute(f"agentos.{key}", result[key])
            if result["status"] != Status.DONE:
                span.set_status(StatusCode.ERROR, str(result["message"]))
        try:
            atomic_write_json(item_results_dir(settings, run_id) / f"{prefix}.json", result)
        except OSError as exc:  # the console line above said how the item ended; the summary will say it failed
            out.line(f"its result is not recorded: {describe_os_error(exc) or exc}", STDERR)
    finally:
        out.close()
    return int(result["exit_code"])


def main(argv: list[str]) -> int:
    """`python -m agentos_jobs.wrapper <workflow> <id> <parent pid>`: what a doit task runs (lighter than the
    full CLI). The parent is named, not asked for: it may already be gone when this process starts."""
    if len(argv) != 3 or not argv[2].isdigit():
        print("usage: python -m agentos_jobs.wrapper <lld|issue> <id> <parent pid>", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run_item(argv[0], argv[1], int(argv[2]))
    except (InvalidItemId, ConfigError) as exc:
        print(f"agentos-jobs: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
