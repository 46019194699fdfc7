"""LLD workflow: draft, review, revise until approved or out of rounds, then file the approved design."""

from __future__ import annotations

import functools

from ..fsutil import display_path
from ..prompts import DRAFTER_SYSTEM, REVIEWER_SYSTEM, draft_prompt, is_approved, review_prompt, revise_prompt
from ..status import Status
from . import WorkflowContext


def run_lld(ctx: WorkflowContext) -> Status:
    doc, settings = ctx.document, ctx.settings
    number = doc.number if doc.number is not None else int(ctx.item.id)
    lineage = settings.lineage_dir / f"{number}-lld"
    ctx.begin(lineage)

    draft = ctx.model_step("draft-1", ctx.drafter, ctx.request("lld-draft", DRAFTER_SYSTEM, draft_prompt(doc)),
                           lineage / "001-draft.md")
    rounds = settings.max_iterations
    for round_no in range(1, rounds + 1):
        review = ctx.model_step(f"review-{round_no}", ctx.reviewer, ctx.request(
            "lld-review", REVIEWER_SYSTEM, review_prompt(doc, draft), draft=draft),
            lineage / f"{round_no:03d}-verdict.md")
        if is_approved(review):
            final = settings.lld_dir / f"LLD-{number:03d}.md"
            header = (f"# LLD Finalized\n\nIssue: #{number} {doc.title}\nStatus: APPROVED\nReviews: {round_no}\n"
                      f"Lineage: {display_path(lineage, settings.root)}\n\n---\n\n")
            ctx.engine.step("finalize", functools.partial(ctx.write, final, header + draft), shared=True)
            ctx.say(f"APPROVED in review {round_no}: {display_path(final, settings.root)}")
            return Status.DONE
        ctx.say(f"review {round_no}: REVISE")
        if round_no < rounds:
            draft = ctx.model_step(f"revise-{round_no + 1}", ctx.drafter, ctx.request(
                "lld-revise", DRAFTER_SYSTEM, revise_prompt(doc, draft, review), draft=draft),
                lineage / f"{round_no + 1:03d}-draft.md")
    ctx.say(f"not approved after {rounds} review(s): read {display_path(lineage, settings.root)}/"
            f"{rounds:03d}-verdict.md, then edit the issue or raise max_iterations and run again "
            "(finished rounds are kept)")
    return Status.NEEDS_REVISION
