"""The step engine: run a workflow's steps in order, each once, resuming from the checkpoint."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable

from agentos_jobs.core.errors import AgentosError, StepFailed
from agentos_jobs.core.fsutil import describe_os_error, iso, utc_now
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import Status
from agentos_jobs.providers.base import Completion
from agentos_jobs.steps import spill
from agentos_jobs.steps.checkpoint import Checkpoint
from agentos_jobs.tracing.spans import record_cost, tracer


class Engine:
    def __init__(self, settings: Settings, checkpoint: Checkpoint, say: Callable[[str], None]) -> None:
        self.settings = settings
        self.checkpoint = checkpoint
        self.say = say
        self.resumed = 0
        self.ran = 0

    def step(self, name: str, run: Callable[[], Completion | str], shared: bool = False) -> str:
        """Return the step's output: from the checkpoint if it finished before, else by running it now."""
        with tracer().start_as_current_span(f"step {name}", attributes={"agentos.step": name}) as span:
            record = self.checkpoint.get(name)
            if not (record and record.status == "done") and (spilled := self._read_back(name)):
                return spilled
            if record and record.status == "done":
                self.resumed += 1
                span.set_attribute("agentos.resumed", True)
                self.say(f"{name}: resumed from checkpoint")
                return record.output
            span.set_attribute("agentos.resumed", False)
            completion = self._run(name, run, shared)
            span.set_attribute("agentos.input_tokens", completion.input_tokens)
            span.set_attribute("agentos.output_tokens", completion.output_tokens)
            record_cost(span, completion.cost_usd)
            return completion.text

    def _run(self, name: str, run: Callable[[], Completion | str], shared: bool) -> Completion:
        started, clock = iso(utc_now()), time.monotonic()
        guard: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if shared:
            from agentos_jobs.core.run_locks import worktree_lock  # most steps never lock

            guard = worktree_lock(self.settings, self.say)
        try:
            with guard:
                result = run()
        except Exception as exc:
            if isinstance(exc, AgentosError) and exc.item_status is Status.WAITING:  # not failed: under way
                raise StepFailed(f"step {name}: {exc}", Status.WAITING) from exc
            self._record(name, "failed", Completion(text=f"{type(exc).__name__}: {exc}", model=""), started)
            status = exc.item_status if isinstance(exc, AgentosError) else Status.FAILED
            raise StepFailed(f"step {name} failed: {describe_os_error(exc) or exc}", status) from exc
        completion = result if isinstance(result, Completion) else Completion(text=result, model="")
        self._record(name, "done", completion, started)
        self.ran += 1
        tokens = (f", {completion.input_tokens}+{completion.output_tokens} tokens"
                  if completion.input_tokens or completion.output_tokens else "")
        self.say(f"{name}: done in {time.monotonic() - clock:.1f}s{tokens}")
        return completion

    def _read_back(self, name: str) -> str | None:
        """A paid answer an earlier run could not checkpoint (spill.py): into the checkpoint now, then its spill
        file goes. None when there is none (or it cannot be checkpointed yet: it stays where it is)."""
        answer, source, found = spill.take(self.checkpoint.path, self.checkpoint.meta("input_sha256") or "", name)
        completion = Completion(**answer) if answer is not None else None
        if completion is not None:
            self._record(name, "done", completion, iso(utc_now()))
            self.resumed += 1
            self.say(f"{name}: read back from {source} (paid for by an earlier run, which could not checkpoint it)")
        for place in found:
            place.unlink(missing_ok=True)  # read back, or for another input
        return completion.text if completion is not None else None

    def _record(self, name: str, status: str, completion: Completion, started: str) -> None:
        """Save the step; a checkpoint that cannot be written (a full disk) fails the step in one line, and a
        paid answer is first kept in a spill file that the next run reads back (spill.py)."""
        try:
            self.checkpoint.record(name, status, completion.text, started, completion.input_tokens,
                                   completion.output_tokens, completion.cached_tokens, completion.cost_usd)
        except sqlite3.OperationalError as exc:
            why = describe_os_error(exc, self.checkpoint.path) or f"{self.checkpoint.path}: {exc}"
            kept = ""
            if status == "done" and completion.model:  # a model's answer, paid for
                place, failed = spill.keep(self.checkpoint.path, self.checkpoint.meta("input_sha256") or "", name,
                                           {key: getattr(completion, key) for key in spill.FIELDS})
                kept = (f"; its answer is kept in {place}, and the next run reads it back instead of paying again"
                        if place else f"; its answer could not be kept either ({failed})")
            raise StepFailed(f"step {name} {status} but could not be checkpointed: {why}{kept}") from exc
