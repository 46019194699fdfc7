"""What each workflow step asks a model: one function per step, each built from named parts.

The parts go out stable first: the system prompt, the template, the rubric (together the system turn, the same
for every item of a workflow), then the repository context (`WorkflowContext.prefix`, shared by the item's
calls), and last the text of this one call. Providers' prompt caches serve a shared beginning, so nothing
item-specific may come before a stable part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from agentos_jobs.design.template import Template
from agentos_jobs.design.verdict import RESPONSES_HEADING, SCHEMA, Finding, shown
from agentos_jobs.items.discovery import Document


@dataclass(frozen=True)
class Prompt:
    system: str
    item: str  # this call's own text: the issue, the draft, the findings
    template: str = ""
    rubric: str = ""
    schema: dict[str, Any] | None = None  # the structured answer asked for (a review's verdict)

    @property
    def system_text(self) -> str:
        """The system turn: the role, then the template and the rubric in labelled blocks."""
        blocks = [self.system]
        if self.template:
            blocks.append(f"<template>\n{self.template.strip()}\n</template>")
        if self.rubric:
            blocks.append(f"<rubric>\n{self.rubric.strip()}\n</rubric>")
        return "\n\n".join(blocks)


@dataclass(frozen=True)
class Roles:
    """One workflow's wording: what its drafter and reviewer are, and how its input is shown."""

    drafter: str
    reviewer: str
    task: str
    noun: str  # what is drafted: "design", "issue"
    subject: Callable[[Document], str]


_ANSWER = (f"A revision ends with a section '## {RESPONSES_HEADING}' that answers every open review finding by "
           "its id, one line each: '- R1.1: addressed — what changed' or '- R1.1: not addressed — why'.")


def json_shape(schema: dict[str, Any]) -> str:
    """A JSON schema as the shape of the value it asks for, for a prompt to show: `{"tier": "blocking" | "high",
    "text": "..."}`. Made from the schema, so that what the reviewer is shown is what it is held to."""
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if schema.get("type") == "object":
        return "{" + ", ".join(f"{json.dumps(key)}: {json_shape(value)}"
                               for key, value in schema.get("properties", {}).items()) + "}"
    if schema.get("type") == "array":
        return f"[{json_shape(schema.get('items', {}))}]"
    return '"..."' if schema.get("type") == "string" else "..."


_JSON = json_shape(SCHEMA)
_VERDICT = (f"Answer with this JSON object and nothing else: {_JSON}, tiers as the rubric below defines them. "
            "APPROVED only when no blocking or high finding is left; REVISE when the drafter can fix what you found; "
            "DISCUSS when a person must decide (ask the question in a finding); BLOCKED when it cannot be done as "
            "asked (say why in a finding). Everything you have to say goes in a finding. A finding's \"reopens\" is "
            "\"\", or the id of a previous review's finding that is still not fixed.")


def issue_text(doc: Document) -> str:
    labels = f"\nLabels: {', '.join(doc.labels)}" if doc.labels else ""
    number = f"#{doc.number} " if doc.number is not None else ""
    return f"Issue {number}{doc.title}{labels}\n\n{doc.body}"


def brief_text(doc: Document) -> str:
    return f"# {doc.title}\n\n{doc.body}"


LLD = Roles(
    drafter=("You are a senior engineer writing a Low-Level Design (LLD) for one issue of a software repository. "
             "Write Markdown that follows the template below: every heading, in its order, each with real content "
             "in place of the template's italic guidance. Name the requirements REQ-1, REQ-2, ...; every "
             "requirement gets at least one test-scenario row that names it. In the files-changed table mark a "
             "file Modify or Delete only if it exists in the repository, Add only if it does not, and never write "
             "a placeholder path. Do not invent facts the issue does not give: list them as open questions. "
             + _ANSWER),
    reviewer=("You review a Low-Level Design against its issue, the template and the rubric below: security, "
              "correctness against the issue and the repository, a requirement no test proves, manual-only tests, "
              "test quality, offline or mocked testing, data handling, then performance and maintainability. "
              "Never approve a design with unanswered blocking questions. " + _VERDICT),
    task="Write the LLD for this issue.",
    noun="design",
    subject=issue_text,
)
ISSUE = Roles(
    drafter=("You turn a rough brief into a GitHub issue that follows the template below: a '# Title' line, then "
             "every section of the template. The acceptance criteria are a '- [ ]' checklist, each item one "
             "testable outcome. " + _ANSWER),
    reviewer=("You review a drafted GitHub issue against its brief, the template and the rubric below, for "
              "clarity, scope and testable acceptance criteria. " + _VERDICT),
    task="Draft the issue for this brief.",
    noun="issue",
    subject=brief_text,
)


def draft_prompt(roles: Roles, doc: Document, template: Template) -> Prompt:
    return Prompt(roles.drafter, f"{roles.task}\n\n{roles.subject(doc)}", template=template.text)


def review_prompt(roles: Roles, doc: Document, draft: str, template: Template, rubric: str,
                  earlier: tuple[Finding, ...] = (), answers: dict[str, str] | None = None) -> Prompt:
    """The draft to review (without its answers to findings), then the previous review's findings, each with
    the drafter's answer, to confirm or reopen."""
    item = f"The input:\n\n{roles.subject(doc)}\n\nThe {roles.noun} to review:\n\n{draft}"
    if earlier:
        said = answers or {}
        item += (f"\n\nThe previous review's findings, each with the drafter's answer. Check each against the "
                 f"{roles.noun} above: confirm a fix (or a reason the drafter rightly gives for declining) by leaving "
                 "the finding out; reopen one that is still not fixed with a finding whose \"reopens\" is its id, "
                 "saying what is still wrong.\n"
                 + "\n".join(f"- {f.id} [{f.tier}] {shown(f)}\n  The drafter: {said.get(f.id) or '(no answer)'}"
                             for f in earlier))
    return Prompt(roles.reviewer, item, template=template.text, rubric=rubric, schema=SCHEMA)


def repair_prompt(review: Prompt, reply: str, problem: str) -> Prompt:
    """A review asked again, the same up to its end (so caches still serve it), with what was wrong."""
    return replace(review, item=f"{review.item}\n\nYour previous answer could not be used: {problem}. It was:\n\n"
                                f"{reply}\n\nAnswer again with only the JSON object: {_JSON}.")


def revise_prompt(roles: Roles, doc: Document, draft: str, template: Template, gate: list[str],
                  findings: tuple[Finding, ...]) -> Prompt:
    """Gate findings first (the draft was not reviewed), then the open review findings to answer by id."""
    asks = [f"Revise the {roles.noun}. Return the whole {roles.noun}, every section of the template."]
    if gate:
        asks.append("A mechanical check rejected it before review:\n" + "\n".join(f"- {line}" for line in gate))
    if findings:
        asks.append(f"Open review findings; answer each by id under '## {RESPONSES_HEADING}':\n"
                    + "\n".join(f"- {f.id} [{f.tier}] {shown(f)}" for f in findings))
    return Prompt(roles.drafter, f"The input:\n\n{roles.subject(doc)}\n\nThe {roles.noun}:\n\n{draft}\n\n"
                  + "\n\n".join(asks), template=template.text)
