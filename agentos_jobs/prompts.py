"""What each workflow step asks a model, and how a review's verdict is read."""

from __future__ import annotations

import re

from .items import Document

LLD_SECTIONS = (
    "1. Context & Goal",
    "2. Proposed Changes",
    "3. Requirements",
    "4. Open Questions",
    "5. Test Scenarios",
    "6. Risks & Security",
)

DRAFTER_SYSTEM = (
    "You are a senior engineer writing a Low-Level Design (LLD) for one issue of a software repository. "
    "Write Markdown with exactly these numbered sections: " + "; ".join(LLD_SECTIONS) + ". "
    "Requirements restate the issue's acceptance criteria, each testable; every requirement gets a row in the "
    "test scenario table. Do not invent facts the issue does not give: list them as open questions."
)
REVIEWER_SYSTEM = (
    "You review a Low-Level Design against its issue. List concrete findings as a checklist. "
    "End with exactly one line: 'VERDICT: APPROVED' if the design can be implemented as written, "
    "otherwise 'VERDICT: REVISE'. Never approve a design with unanswered blocking questions."
)
ISSUE_DRAFTER_SYSTEM = (
    "You turn a rough brief into a GitHub issue: a '# Title' line, then sections Problem, Proposal, "
    "Acceptance criteria (a '- [ ]' checklist, each item testable) and Out of scope."
)
ISSUE_REVIEWER_SYSTEM = (
    "You review a drafted GitHub issue for clarity, scope and testable acceptance criteria. List findings, "
    "then end with exactly one line: 'VERDICT: APPROVED' or 'VERDICT: REVISE'."
)


def issue_text(doc: Document) -> str:
    labels = f"\nLabels: {', '.join(doc.labels)}" if doc.labels else ""
    number = f"#{doc.number} " if doc.number is not None else ""
    return f"Issue {number}{doc.title}{labels}\n\n{doc.body}"


def draft_prompt(doc: Document) -> str:
    return f"Write the LLD for this issue.\n\n{issue_text(doc)}"


def review_prompt(doc: Document, draft: str) -> str:
    return f"The issue:\n\n{issue_text(doc)}\n\nThe design to review:\n\n{draft}"


def revise_prompt(doc: Document, draft: str, review: str) -> str:
    return (f"Revise the design so that every finding of the review is addressed. Return the whole design.\n\n"
            f"The issue:\n\n{issue_text(doc)}\n\nThe design:\n\n{draft}\n\nThe review:\n\n{review}")


def brief_prompt(doc: Document) -> str:
    return f"Draft the issue for this brief.\n\n# {doc.title}\n\n{doc.body}"


_VERDICT_LINE = re.compile(r"^[\s>*_#-]*verdict[\s*_]*:[\s*_]*(approved|revise)\b", re.IGNORECASE | re.MULTILINE)
_CHECKED_APPROVED = re.compile(r"\[[xX]\]\s*\*\*APPROVED\*\*")


def is_approved(review: str) -> bool:
    """APPROVED only when the review says so explicitly and says nothing else; anything else means REVISE."""
    verdicts = {match.lower() for match in _VERDICT_LINE.findall(review)}
    if "revise" in verdicts or re.search(r"\[[xX]\]\s*\*\*REVISE\*\*", review):
        return False
    return "approved" in verdicts or bool(_CHECKED_APPROVED.search(review))
