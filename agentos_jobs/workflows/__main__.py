"""The workflow process: `python -m agentos_jobs.workflows <workflow> <id>`, started by the wrapper.

It reads its checkpoint path and ids from the environment the wrapper sets, prints plain lines (the wrapper
prefixes and logs them) and reports its outcome as an exit code (see status.py).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

from ..budget import OverBudget
from ..checkpoint import Checkpoint, CheckpointBusy
from ..config import ConfigError, Settings, load_settings
from ..credentials import CredentialsError
from ..engine import Engine, Interrupted, StepFailed
from ..fsutil import describe_os_error
from ..ids import InvalidItemId, prefix_for, validate_item_id, validate_workflow
from ..items import InputError, find_item, load_document
from ..procs import die_with_parent
from ..providers import make_providers
from ..providers.errors import NoKeyAvailable
from ..status import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OVER_BUDGET, EXIT_TEMPFAIL, WORKFLOW_EXITS, Status
from ..text import shown_name
from ..tracing import spans_dir, start_tracing
from . import WorkflowContext, get_workflow

_EXIT_OF = {status: code for code, status in WORKFLOW_EXITS.items()}


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> int:
    print(f"error: {text}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def _who(settings: Settings, role: str) -> str:
    choice = settings.role(role)
    return f"{choice.provider}/{choice.model}" if choice.model else choice.provider


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str]) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    wrapper = os.environ.get("AGENTOS_WRAPPER_PID", "")
    if wrapper.isdigit():  # a killed wrapper must not leave its workflow paying for calls nobody will record
        die_with_parent(signal.SIGTERM, int(wrapper))
    if len(argv) != 2:
        return fail("usage: python -m agentos_jobs.workflows <lld|issue> <id>")
    workflow, item_id = argv
    try:
        return _run(workflow, item_id)
    except Interrupted:
        return EXIT_INTERRUPTED
    except (InvalidItemId, ConfigError, InputError, CredentialsError, CheckpointBusy) as exc:
        return fail(str(exc))
    except Exception as exc:
        return fail(describe_os_error(exc) or f"internal error {type(exc).__name__}: {exc} (the checkpoint keeps "
                    "the finished steps; please report this)")


def _run(workflow: str, item_id: str) -> int:
    validate_workflow(workflow)
    validate_item_id(item_id)
    settings = load_settings(Path.cwd())
    item = find_item(settings, workflow, item_id)
    document = load_document(item)
    run_id = os.environ.get("AGENTOS_RUN_ID", "-")
    prefix = prefix_for(workflow, item_id)
    start_tracing(spans_dir(settings, run_id) / f"{prefix}-workflow-{os.getpid()}.jsonl", "workflow")
    drafter, reviewer = make_providers(settings, prefix, run_id, say)
    db = Path(os.environ.get("AGENTOS_WORKFLOW_DB") or settings.checkpoint_path(workflow, item_id))
    checkpoint = Checkpoint.open(db, item.input_hash, say)
    engine = Engine(settings, checkpoint, say)
    try:
        ctx = WorkflowContext(settings=settings, item=item, document=document, engine=engine,
                              drafter=drafter, reviewer=reviewer, say=say)
        say(f"{workflow} workflow for {shown_name(item.source.name)}: {document.title!r} "
            f"(drafter {_who(settings, 'drafter')}, reviewer {_who(settings, 'reviewer')}, run {run_id})")
        status = get_workflow(workflow)(ctx)
    except Interrupted:
        return EXIT_INTERRUPTED  # the wrapper says it, once, with the number of checkpointed steps
    except StepFailed as exc:
        fail(f"{exc} (checkpoint kept: {db.name}; re-run resumes after the last finished step)")
        if isinstance(exc.__cause__, OverBudget):
            return EXIT_OVER_BUDGET
        return EXIT_TEMPFAIL if isinstance(exc.__cause__, NoKeyAvailable) else EXIT_FAILED
    finally:
        checkpoint.close()
    if status is Status.FAILED:
        return fail(ctx.reason)
    if ctx.reason:  # the wrapper shows the last line on stderr as the item's message
        print(ctx.reason, file=sys.stderr, flush=True)
    return _EXIT_OF[status]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
