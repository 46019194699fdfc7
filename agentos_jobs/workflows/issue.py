"""Issue workflow: turn a rough brief into an issue draft in the same rounds as an LLD (draft, gate, review,
revise), then file the approved draft."""

from __future__ import annotations

import functools

from ..fsutil import display_path
from ..gate import check_issue
from ..prompts import ISSUE
from ..status import Status
from ..template import load_rubric, load_template
from . import WorkflowContext
from .rounds import Design, run_rounds


def run_issue(ctx: WorkflowContext) -> Status:
    settings, slug = ctx.settings, ctx.item.id
    lineage = settings.lineage_dir / f"{slug}-issue"
    template = load_template(settings, "issue")
    ctx.begin(lineage)
    context = ctx.use_context()
    design = Design("issue", ISSUE, template, load_rubric(settings, "issue"),
                    lambda draft, findings: check_issue(draft, template, findings))
    outcome = run_rounds(ctx, design, lineage)
    ctx.record_context(lineage, context)
    if outcome.status is not Status.DONE:
        return outcome.status
    final = settings.drafts_dir / f"{slug}.md"
    ctx.engine.step("finalize", functools.partial(ctx.write, final, outcome.design), shared=True)
    ctx.say(f"issue draft written: {display_path(final, settings.root)}")
    return Status.DONE
