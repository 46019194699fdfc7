"""LLD workflow: draft, gate, review, revise until approved or out of rounds, then file the approved design
with its review log."""

from __future__ import annotations

import functools

from ..fsutil import display_path
from ..gate import check_lld
from ..prompts import LLD
from ..status import Status
from ..template import load_rubric, load_template
from . import WorkflowContext
from .rounds import Design, run_rounds


def run_lld(ctx: WorkflowContext) -> Status:
    doc, settings = ctx.document, ctx.settings
    number = doc.number if doc.number is not None else int(ctx.item.id)
    lineage = settings.lineage_dir / f"{number}-lld"
    template = load_template(settings, "lld")
    ctx.begin(lineage)
    context = ctx.use_context()
    design = Design("lld", LLD, template, load_rubric(settings, "lld"),
                    lambda draft, findings: check_lld(draft, template, settings.root, findings))
    outcome = run_rounds(ctx, design, lineage)
    ctx.record_context(lineage, context)
    if outcome.status is not Status.DONE:
        return outcome.status
    final = settings.lld_dir / f"LLD-{number:03d}.md"
    reviews = len(outcome.log.reviews)
    header = (f"# LLD Finalized\n\nIssue: #{number} {doc.title}\nStatus: APPROVED\nReviews: {reviews}\n"
              f"Gate: passed\nLineage: {display_path(lineage, settings.root)}\n\n---\n\n")
    text = f"{header}{outcome.design.rstrip()}\n\n---\n\n{outcome.log.appendix()}"
    ctx.engine.step("finalize", functools.partial(ctx.write, final, text), shared=True)
    ctx.say(f"APPROVED in review {reviews}: {display_path(final, settings.root)}")
    return Status.DONE
