"""The built-in stand-in: no keys, no network, the same answer every time.

It builds a design skeleton from the issue's own title, body and acceptance criteria and reviews drafts with
structural checks, so a new user sees the whole run (drafts, verdicts, a revision, a finished LLD) in seconds.
Every text it writes says it is a stand-in.
"""

from __future__ import annotations

import re
import time

from ..items import Document
from ..prompts import LLD_SECTIONS
from ..tracing import llm_span, record_answer
from .base import Completion, Request

MODEL = "offline-stand-in"
BANNER = ("> Written by the offline stand-in provider: no model was called. It is filled from the item's own text; "
          "set `provider` in `[tool.agentos_jobs]` for a real design.")
REVIEW_BANNER = BANNER.replace("It is filled from the item's own text", "It checks structure only")

_CHECKBOX = re.compile(r"^\s*[-*]\s*\[[ xX]\]\s*(.+)$")
_BULLET = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(.+)$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_PATH = re.compile(r"`([\w./-]+\.[A-Za-z0-9]{1,5})`")


def acceptance_criteria(body: str) -> list[str]:
    """Checklist items anywhere, plus bullets under a heading that mentions acceptance or criteria."""
    found: list[str] = []
    in_section = False
    for line in body.splitlines():
        heading = _HEADING.match(line)
        if heading:
            in_section = bool(re.search(r"acceptance|criteria|definition of done", heading.group(1), re.I))
            continue
        checkbox = _CHECKBOX.match(line)
        bullet = _BULLET.match(line)
        if checkbox:
            found.append(checkbox.group(1).strip())
        elif in_section and bullet:
            found.append(bullet.group(1).strip())
    return list(dict.fromkeys(found))


def open_questions(body: str) -> list[str]:
    questions = []
    for line in body.splitlines():
        text = (_BULLET.match(line) or _CHECKBOX.match(line) or re.match(r"(.*)", line))
        candidate = text.group(1).strip() if text else ""
        if candidate.endswith("?") and not _HEADING.match(line):
            questions.append(candidate)
    return list(dict.fromkeys(questions))


def _prose(body: str) -> list[str]:
    """Paragraphs that are neither lists, headings nor questions: the issue's own description."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    return [p for p in paragraphs
            if not any(_BULLET.match(line) or _HEADING.match(line) for line in p.splitlines())
            and not p.endswith("?")]


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def draft_lld(doc: Document, item_id: str, assume: bool = False, notes: str = "") -> str:
    number = doc.number if doc.number is not None else item_id
    criteria = acceptance_criteria(doc.body)
    questions = open_questions(doc.body)
    prose = _prose(doc.body)
    files = list(dict.fromkeys(_PATH.findall(doc.body)))
    lines = [f"# LLD-{int(number):03d}: {doc.title}" if str(number).isdigit() else f"# LLD: {doc.title}", "",
             BANNER, "", f"## {LLD_SECTIONS[0]}", f"* **Issue:** #{number} {doc.title}",
             f"* **Objective:** {prose[0] if prose else doc.title}"]
    if doc.labels:
        lines.append(f"* **Labels:** {', '.join(doc.labels)}")
    lines += ["", f"## {LLD_SECTIONS[1]}", "| File | Change |", "|---|---|"]
    lines += [f"| `{path}` | Modify or add, as the issue describes |" for path in files] or [
        "| (none named) | The issue names no files: the implementer chooses where this lives |"]
    lines += [""] + [f"{paragraph}" for paragraph in prose[1:]]
    lines += ["", f"## {LLD_SECTIONS[2]}"]
    lines += [f"{n}. {criterion}" for n, criterion in enumerate(criteria, 1)] or [
        "None given: the issue has no acceptance criteria."]
    lines += ["", f"## {LLD_SECTIONS[3]}"]
    if questions and assume:
        lines += [f"- [x] {q} **Assumed:** the simplest reading of the issue; confirm with its author."
                  for q in questions]
    else:
        lines += [f"- [ ] {q}" for q in questions] or ["None."]
    lines += ["", f"## {LLD_SECTIONS[4]}", "| ID | Scenario | Pass criteria |", "|---|---|---|"]
    lines += [f"| {n * 10:03d} | {criterion} | Shown by an automated test |"
              for n, criterion in enumerate(criteria, 1)]
    lines += ["", f"## {LLD_SECTIONS[5]}",
              "- Inputs from the issue are treated as untrusted text.",
              "- No secret is written to logs or outputs."]
    if notes:
        lines += ["", "## Revision notes", notes]
    return "\n".join(lines).rstrip() + "\n"


def review_lld(draft: str) -> str:
    requirements = [line for line in _section(draft, LLD_SECTIONS[2]).splitlines() if re.match(r"\d+\.", line)]
    scenarios = [line for line in _section(draft, LLD_SECTIONS[4]).splitlines()
                 if re.match(r"\|\s*\d{3}\s*\|", line)]
    unresolved = [line for line in _section(draft, LLD_SECTIONS[3]).splitlines() if line.startswith("- [ ]")]
    missing = [title for title in LLD_SECTIONS if f"## {title}" not in draft]
    checks = [
        (not missing, "all six sections are present" if not missing else f"missing sections: {', '.join(missing)}"),
        (bool(requirements), f"{len(requirements)} requirement(s)" if requirements else
         "no requirements: the issue needs acceptance criteria (a '- [ ]' checklist) before it can be designed"),
        (len(scenarios) >= len(requirements), f"{len(scenarios)} test scenario(s) for {len(requirements)} "
         "requirement(s)"),
        (not unresolved, "no open questions" if not unresolved else
         f"{len(unresolved)} open question(s) unanswered: answer them or record an assumption"),
    ]
    approved = all(ok for ok, _ in checks)
    lines = ["# Review of the draft", "", REVIEW_BANNER, "", "## Checks"]
    lines += [f"- [{'x' if ok else ' '}] {text}" for ok, text in checks]
    lines += ["", f"VERDICT: {'APPROVED' if approved else 'REVISE'}"]
    return "\n".join(lines) + "\n"


def draft_issue(doc: Document, revised: bool = False) -> str:
    criteria = acceptance_criteria(doc.body) or [line for line in
                                                 (m.group(1) for m in map(_BULLET.match, doc.body.splitlines()) if m)]
    prose = _prose(doc.body)
    lines = [f"# {doc.title}", "", BANNER, "", "## Problem", prose[0] if prose else doc.title, "", "## Proposal"]
    lines += prose[1:] or ["As the brief describes; the implementer proposes the details."]
    lines += ["", "## Acceptance criteria"]
    lines += [f"- [ ] {c}" for c in criteria] or ["- [ ] (the brief gives none: write at least one)"]
    if revised and not criteria:
        lines[-1] = f"- [ ] {doc.title} works end to end and is covered by a test"
    lines += ["", "## Out of scope", "Anything the brief does not mention."]
    return "\n".join(lines) + "\n"


def review_issue(draft: str) -> str:
    has_criteria = bool(re.search(r"^- \[ \] (?!\(the brief gives none)", _section(draft, "Acceptance criteria"), re.M))
    lines = ["# Review of the issue draft", "", REVIEW_BANNER, "", "## Checks",
             f"- [{'x' if has_criteria else ' '}] testable acceptance criteria",
             "", f"VERDICT: {'APPROVED' if has_criteria else 'REVISE'}"]
    return "\n".join(lines) + "\n"


class OfflineProvider:
    name = "offline"

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds

    def complete(self, request: Request) -> Completion:
        with llm_span(self.name, MODEL, None, 1) as span:
            if self.latency_seconds:
                time.sleep(self.latency_seconds)  # the documented simulated per-call latency (demos, benchmarks)
            completion = self._answer(request)
            record_answer(span, completion.model, 0, 0)
            return completion

    def _answer(self, request: Request) -> Completion:
        doc = request.document
        texts = {
            "lld-draft": lambda: draft_lld(doc, request.item_id),
            "lld-review": lambda: review_lld(request.draft),
            "lld-revise": lambda: draft_lld(doc, request.item_id, assume=True,
                                            notes="Open questions are now recorded as assumptions."),
            "issue-draft": lambda: draft_issue(doc),
            "issue-review": lambda: review_issue(request.draft),
            "issue-revise": lambda: draft_issue(doc, revised=True),
        }
        return Completion(text=texts[request.kind](), model=MODEL)
