"""Issue workflow: turn a rough brief into an issue draft in the same rounds as an LLD (draft, gate, review,
revise), then, with `file_issues`, file the approved draft on GitHub (filing.py)."""

from __future__ import annotations

import functools
from pathlib import Path

from agentos_jobs.core.errors import StepFailed
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.status import Status
from agentos_jobs.design.gate import check_issue
from agentos_jobs.design.prompts import ISSUE
from agentos_jobs.design.template import load_rubric, load_template
from agentos_jobs.design.workflows.base import WorkflowContext
from agentos_jobs.design.workflows.rounds import Design, run_rounds
from agentos_jobs.github.filing import Filed, dedupe_token, file_issue, move_filed, split_draft
from agentos_jobs.items.owned import item_outputs


def run_issue(ctx: WorkflowContext) -> Status:
    settings, slug = ctx.settings, ctx.item.id
    outputs = item_outputs(settings, "issue", slug)
    lineage = outputs.lineage
    template = load_template(settings, "issue")
    ctx.begin(outputs)
    context = ctx.use_context()
    design = Design("issue", ISSUE, template, load_rubric(settings, "issue"),
                    lambda draft, findings: check_issue(draft, template, findings))
    outcome = run_rounds(ctx, design, lineage)
    ctx.record_context(lineage, context)
    if outcome.status is not Status.DONE:
        return outcome.status
    final = outputs.final
    ctx.engine.step("finalize", functools.partial(ctx.write, final, outcome.design), shared=True)
    ctx.say(f"issue draft written: {display_path(final, settings.root)}")
    if settings.file_issues:
        file_draft(ctx, final, outcome.design)
    return Status.DONE


def file_draft(ctx: WorkflowContext, draft: Path, design: str) -> None:
    """File the approved draft: its number and URL are checkpointed the moment gh answers, before the draft
    moves to where the LLD workflow finds it. Both steps hold the worktree lock."""
    settings, slug, labels = ctx.settings, ctx.item.id, ctx.document.labels
    title, body = split_draft(design, ctx.document.title)
    token = dedupe_token(slug, ctx.item.input_hash)
    try:
        filed = Filed.load(ctx.engine.step("file-issue", functools.partial(
            file_issue, settings, title, body, labels, token, ctx.say), shared=True))
    except StepFailed as exc:
        raise StepFailed(f"{exc}; the approved draft {display_path(draft, settings.root)} is kept and the re-run "
                         "files it without drafting again", exc.status) from exc.__cause__
    ctx.say(f"filed as #{filed.number}: {filed.url}")
    moved = ctx.engine.step("filed", functools.partial(move_filed, settings, draft, filed, slug, title, body, labels),
                            shared=True)
    ctx.say(f"the filed issue is an LLD input now: {moved.splitlines()[0]}")
