"""The workflow process: forked by the item's wrapper (wrapper.py), or `python -m agentos_jobs.procs.workflow <workflow>
<id> [<hand-off>]` started by hand.

Its hand-off (handoff.py) names the item's files, the run, its wrapper and where its outcome goes; its checkpoint
is the contract's AGENTOS_WORKFLOW_DB. It prints plain lines (the wrapper prefixes and logs them) and writes its
outcome (an ItemResult: status and message) where its wrapper said; its exit code says only done (0) or not (1).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType

from agentos_jobs.core.errors import AgentosError, Interrupted, StepFailed
from agentos_jobs.core.fsutil import describe_os_error
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.os_process import STOP_SIGNALS, die_with_parent, exit_now, unblock_stop_signals
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import EXIT_FAILED, EXIT_OK, Status
from agentos_jobs.core.text import shown_name
from agentos_jobs.design.roles import make_providers
from agentos_jobs.design.workflows.base import WorkflowContext, model_name
from agentos_jobs.design.workflows.registry import get_workflow
from agentos_jobs.items.discovery import Document, Item, load_document, open_item
from agentos_jobs.procs.handoff import Handoff
from agentos_jobs.providers.registry import keep_batches_in
from agentos_jobs.repo.redact import counted, redact
from agentos_jobs.steps.checkpoint import Checkpoint
from agentos_jobs.steps.engine import Engine
from agentos_jobs.tracing.spans import start_tracing

_MESSAGES = {Status.NEEDS_REVISION: "the reviewer did not approve within max_iterations",
             Status.NEEDS_HUMAN: "the reviewer asked for a person's decision"}


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> tuple[Status, str]:
    print(f"error: {text}", file=sys.stderr, flush=True)
    return Status.FAILED, text


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    for signum in STOP_SIGNALS:  # before anything else: a stop while the hand-off is read still checkpoints
        signal.signal(signum, _interrupt)
    try:
        handoff = Handoff.from_arg(argv[2]) if len(argv) == 3 else None
    except ValueError as exc:
        fail(str(exc))
        return EXIT_FAILED
    if len(argv) not in (2, 3):
        fail("usage: python -m agentos_jobs.procs.workflow <lld|issue> <id> [<hand-off JSON>]")
        return EXIT_FAILED
    return run(argv[0], argv[1], handoff)


def run(workflow: str, item_id: str, handoff: Handoff | None, opened: tuple[Settings, Item] | None = None) -> int:
    """The workflow process's life, started afresh or forked from its wrapper; the exit code: 0 done, else 1.

    A forked one comes here with its stop signals held back (blocked): they arrive once its handlers are in
    place, inside `_outcome`, and end as an interrupted item like any other; and with the settings and the
    item its wrapper opened (`opened`): one reading of them for the item, not one a process."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    if handoff and handoff.parent:  # a killed wrapper must not leave its workflow paying for calls nobody records
        die_with_parent(signal.SIGTERM, handoff.parent)
    status, message = _outcome(workflow, item_id, handoff, opened)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # decided: a late stop must not cut its record short
    if handoff and handoff.outcome:
        try:
            ItemResult(workflow, item_id, status, message).write(Path(handoff.outcome))
        except OSError as exc:  # the wrapper falls back to the exit code, and says the item failed
            fail(f"its outcome ({status.value}) is not recorded: {describe_os_error(exc) or exc}")
            return EXIT_FAILED
    return EXIT_OK if status is Status.DONE else EXIT_FAILED


def _outcome(workflow: str, item_id: str, handoff: Handoff | None,
             opened: tuple[Settings, Item] | None) -> tuple[Status, str]:
    try:
        unblock_stop_signals()  # a signal held back while a forked process started arrives now, handled
        return run_steps(workflow, item_id, handoff, opened)
    except Interrupted:
        return Status.INTERRUPTED, ""  # the wrapper says it, once, with the number of checkpointed steps
    except AgentosError as exc:
        fail(str(exc))
        return exc.item_status, str(exc)
    except Exception as exc:
        return fail(describe_os_error(exc) or f"internal error {type(exc).__name__}: {exc} (the checkpoint keeps "
                    "the finished steps; please report this)")


def _without_credentials(document: Document, workflow: str) -> Document:
    """The item's title and body with every credential they hold redacted (redact.py), once, before any prompt
    or the lineage's copy of the input is made of them; said in the item's log by rule, never by value."""
    title, in_title = redact(document.title)
    body, in_body = redact(document.body)
    if in_title or in_body:
        say(f"the {'issue' if workflow == 'lld' else 'brief'}'s text holds credentials, redacted before any request "
            f"or copy: {counted(in_title + in_body)}")
    return replace(document, title=title, body=body)


def run_steps(workflow: str, item_id: str, handoff: Handoff | None,
              opened: tuple[Settings, Item] | None) -> tuple[Status, str]:
    """The item's steps in this process, and how they ended; a failure the item cannot recover from raises."""
    settings, item = opened or open_item(workflow, item_id, handoff.sources if handoff else ())
    document = _without_credentials(load_document(item), workflow)
    run_id = handoff.run_id if handoff else os.environ.get("AGENTOS_RUN_ID", "-")
    prefix = prefix_for(workflow, item_id)
    base = BaseDir(settings.base_dir)
    start_tracing(base.run(run_id).spans / f"{prefix}-workflow-{os.getpid()}.jsonl", "workflow")
    drafter, reviewer = make_providers(settings, prefix, run_id, say)
    db = Path(os.environ.get("AGENTOS_WORKFLOW_DB") or base.checkpoint(workflow, item_id))
    checkpoint = Checkpoint.open(db, item.input_hash, say, run_id)
    engine = Engine(settings, checkpoint, say)
    keep_batches_in(checkpoint, drafter, reviewer)  # a batch's id is the item's: checkpointed with its steps
    try:
        ctx = WorkflowContext(settings=settings, item=item, document=document, engine=engine,
                              drafter=drafter, reviewer=reviewer, say=say)
        say(f"{workflow} workflow for {shown_name(item.source.name)}: {document.title!r} "
            f"(drafter {model_name(settings, 'drafter')}, reviewer {model_name(settings, 'reviewer')}, run {run_id})")
        status = get_workflow(workflow)(ctx)
    except StepFailed as exc:
        if exc.status is Status.WAITING:  # nothing is wrong, and the wrapper says it: the next run takes the answer
            return exc.status, str(exc)
        _, message = fail(f"{exc} (checkpoint kept: {db.name}; re-run resumes after the last finished step)")
        return exc.status, message
    finally:
        checkpoint.close()
    if status is Status.FAILED:
        return fail(ctx.reason)
    if ctx.reason:  # said in the log too, where the rounds before it are
        print(ctx.reason, file=sys.stderr, flush=True)
    return status, ctx.reason or _MESSAGES.get(status, "")


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
