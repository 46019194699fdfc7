"""LLD workflow: draft, gate, review, revise until approved or out of rounds, then file the approved design
as a team commits it: YAML front matter (the issue, the status, the date, the models, the reviews, the commit it
was drafted against, the issue's URL when known), the design, its review log."""

from __future__ import annotations

import functools
import json
import re

from agentos_jobs.core.fsutil import display_path, utc_now
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import Status
from agentos_jobs.design.gate import check_lld
from agentos_jobs.design.prompts import LLD
from agentos_jobs.design.template import load_rubric, load_template
from agentos_jobs.design.workflows.base import WorkflowContext, model_name
from agentos_jobs.design.workflows.rounds import Design, Outcome, run_rounds
from agentos_jobs.items.discovery import Document
from agentos_jobs.items.owned import item_outputs


def run_lld(ctx: WorkflowContext) -> Status:
    settings = ctx.settings
    outputs = item_outputs(settings, "lld", ctx.item.id)
    template = load_template(settings, "lld")
    ctx.begin(outputs)
    context = ctx.use_context()
    design = Design("lld", LLD, template, load_rubric(settings, "lld"),
                    lambda draft, findings: check_lld(draft, template, settings.root, findings))
    outcome = run_rounds(ctx, design, outputs.lineage)
    ctx.record_context(outputs.lineage, context)
    if outcome.status is not Status.DONE:
        return outcome.status
    front = front_matter(ctx, outcome, display_path(outputs.lineage, settings.root))
    text = f"{front}\n{outcome.design.rstrip()}\n\n---\n\n{outcome.log.appendix()}"
    ctx.engine.step("finalize", functools.partial(ctx.write, outputs.final, text), shared=True)
    ctx.say(f"APPROVED in review {len(outcome.log.reviews)}: {display_path(outputs.final, settings.root)}")
    return Status.DONE


def front_matter(ctx: WorkflowContext, outcome: Outcome, lineage: str) -> str:
    """The filed LLD's head, YAML that any front-matter reader takes (strings quoted as JSON, a subset of YAML)."""
    doc, settings = ctx.document, ctx.settings
    fields: dict[str, object] = {
        "issue": doc.number if doc.number is not None else int(ctx.item.id),
        "title": doc.title,
        "status": "APPROVED",
        "date": f"{utc_now():%Y-%m-%d}",
        "drafter": model_name(settings, "drafter"),
        "reviewer": model_name(settings, "reviewer"),
        "reviews": len(outcome.log.reviews),
        "commit": ctx.commit or None,
        "issue_url": issue_url(doc, settings, int(ctx.item.id)),
        "lineage": lineage,
    }
    lines = [f"{key}: {_scalar(value)}" for key, value in fields.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


def _scalar(value: object) -> str:
    """Plain where YAML reads it unquoted as meant (a number, a date, `APPROVED`, a path, a model), else quoted as
    JSON, which YAML reads as a double-quoted string."""
    text = str(value)
    plain = isinstance(value, int) or _DATE.fullmatch(text) or (
        _WORD.fullmatch(text) and text.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "y", "n"))
    return text if plain else json.dumps(text, ensure_ascii=False)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WORD = re.compile(r"[A-Za-z][\w./+-]*")


def issue_url(doc: Document, settings: Settings, number: int) -> str | None:
    """The issue's own URL (its file says it), else the one the `repo` setting gives, else unknown."""
    if doc.url:
        return doc.url
    if settings.repo:
        host, path = ("github.com", settings.repo) if settings.repo.count("/") == 1 else settings.repo.split("/", 1)
        return f"https://{host}/{path}/issues/{number}"
    return None
