"""Issue workflow: turn a rough brief into an issue draft: draft, review, revise once if asked, file the draft."""

from __future__ import annotations

import functools

from ..fsutil import display_path
from ..prompts import ISSUE_DRAFTER_SYSTEM, ISSUE_REVIEWER_SYSTEM, brief_prompt, is_approved, revise_prompt
from ..status import Status
from . import WorkflowContext


def run_issue(ctx: WorkflowContext) -> Status:
    doc, settings, slug = ctx.document, ctx.settings, ctx.item.id
    lineage = settings.lineage_dir / f"{slug}-issue"
    ctx.begin(lineage)

    draft = ctx.model_step("draft", ctx.drafter, ctx.request("issue-draft", ISSUE_DRAFTER_SYSTEM, brief_prompt(doc)),
                           lineage / "001-draft.md")
    review = ctx.model_step("review", ctx.reviewer, ctx.request(
        "issue-review", ISSUE_REVIEWER_SYSTEM, brief_prompt(doc) + "\n\nThe draft:\n\n" + draft, draft=draft),
        lineage / "001-verdict.md")
    if is_approved(review):
        ctx.say("review: APPROVED")
    else:
        ctx.say("review: REVISE")
        draft = ctx.model_step("revise", ctx.drafter, ctx.request(
            "issue-revise", ISSUE_DRAFTER_SYSTEM, revise_prompt(doc, draft, review), draft=draft),
            lineage / "002-draft.md")
    final = settings.drafts_dir / f"{slug}.md"
    ctx.engine.step("finalize", functools.partial(ctx.write, final, draft), shared=True)
    ctx.say(f"issue draft written: {display_path(final, settings.root)}")
    return Status.DONE
