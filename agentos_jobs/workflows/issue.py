"""Issue workflow: turn a rough brief into an issue draft: draft, review, revise once if asked, file the draft."""

from __future__ import annotations

import functools

from ..fsutil import display_path
from ..prompts import ISSUE_DRAFTER_SYSTEM, ISSUE_REVIEWER_SYSTEM, brief_prompt, is_approved, revise_prompt
from ..providers import Completion, Request
from ..status import Status
from . import WorkflowContext


def run_issue(ctx: WorkflowContext) -> Status:
    doc, settings, slug = ctx.document, ctx.settings, ctx.item.id
    lineage = settings.lineage_dir / f"{slug}-issue"

    def call(kind: str, system: str, prompt: str, name: str, lineage_name: str, draft: str = "",
             review: str = "", provider_role: str = "drafter") -> str:
        provider = ctx.drafter if provider_role == "drafter" else ctx.reviewer

        def run() -> Completion:
            completion = provider.complete(Request(kind=kind, system=system, prompt=prompt, document=doc,
                                                   item_id=slug, draft=draft, review=review))
            ctx.write(lineage / lineage_name, completion.text)
            return completion
        return ctx.engine.step(name, run)

    draft = call("issue-draft", ISSUE_DRAFTER_SYSTEM, brief_prompt(doc), "draft", "001-draft.md")
    review = call("issue-review", ISSUE_REVIEWER_SYSTEM, brief_prompt(doc) + "\n\nThe draft:\n\n" + draft,
                  "review", "001-verdict.md", draft=draft, provider_role="reviewer")
    if not is_approved(review):
        ctx.say("review: REVISE")
        draft = call("issue-revise", ISSUE_DRAFTER_SYSTEM, revise_prompt(doc, draft, review), "revise",
                     "002-draft.md", draft=draft, review=review)
    else:
        ctx.say("review: APPROVED")
    final = settings.drafts_dir / f"{slug}.md"
    ctx.engine.step("finalize", functools.partial(ctx.write, final, draft), shared=True)
    ctx.say(f"issue draft written: {display_path(final, settings.root)}")
    return Status.DONE
