"""The built-in stand-in: no keys, no network, the same answer every time.

It fills the template in force from the issue's own title, body and acceptance criteria (tables and code blocks
kept as written), and reviews drafts with strict structural checks, answering with the review schema's JSON, so a
new user sees the whole run (drafts, the gate, verdicts, a revision, a finished LLD with its review log) in
seconds. Every draft it writes says it is a stand-in, and the workflow says so above each of its reviews.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from agentos_jobs.design.gate import questions_left, requirement_ids
from agentos_jobs.design.template import FENCE, Heading, headings, section_bodies
from agentos_jobs.design.verdict import APPROVED, RESPONSES_HEADING, REVISE
from agentos_jobs.items.discovery import Document
from agentos_jobs.providers.base import Completion, OpenFinding, Provider, Request
from agentos_jobs.repo.files import listed_files
from agentos_jobs.tracing.spans import llm_span, record_answer

MODEL = "offline-stand-in"
BANNER = ("> Written by the offline stand-in provider: no model was called. It is filled from the item's own text; "
          "set `provider` in `[tool.agentos_jobs]` for a real design.")
RUN_BANNER = ("> A run of the offline stand-in provider: no model was called; set `provider` in `[tool.agentos_jobs]` "
              "for a real design.")
UNFILLED = "Not filled by the stand-in: the issue gives nothing for this section. A real model writes it."

_CHECKBOX = re.compile(r"^\s*[-*]\s*\[[ xX]\]\s*(.+)$")
_BULLET = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(.+)$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_PATH = re.compile(r"`(?:\./)?([\w.-]+(?:/[\w.-]+)*\.[A-Za-z0-9]{1,5})`")
_IDENTIFIER = re.compile(r"`([A-Za-z_][\w.]*)(?:\(\))?`")


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
    for block in _blocks(body):
        if block.startswith(("|", "```", "~~~")):
            continue
        for line in block.splitlines():
            candidate = (_BULLET.match(line) or _CHECKBOX.match(line) or re.match(r"(.*)", line))
            text = candidate.group(1).strip() if candidate else ""
            if text.endswith("?") and not _HEADING.match(line):
                questions.append(text)
    return list(dict.fromkeys(questions))


def _blocks(body: str) -> list[str]:
    """Paragraphs split at blank lines, a fenced code block kept whole whatever it holds."""
    blocks: list[str] = []
    current: list[str] = []
    fenced = False
    for line in body.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _prose(body: str) -> tuple[str | None, list[str]]:
    """The issue's own description: its first paragraph of text, and the rest, paragraphs (whitespace folded),
    tables and code blocks (kept as written); not headings, lists or questions, which the design shows
    elsewhere."""
    kept = []
    for block in _blocks(body):
        if block.lstrip().startswith(("|", "```", "~~~")):
            kept.append(block)
        elif not any(_BULLET.match(line) or _HEADING.match(line) for line in block.splitlines()) \
                and not block.rstrip().endswith("?"):
            kept.append(" ".join(block.split()))
    first = next((b for b in kept if not b.lstrip().startswith(("|", "```", "~~~"))), None)
    return first, [b for b in kept if b is not first]


def _named_files(body: str) -> dict[str, str]:
    """Paths the issue names in backticks (a dotted name with no folder, `pkg.mod.func`, is code), each as the
    repository holds it, with its change: Modify for a file there is, else Add; once each, in the order first
    named. `cart.py` is a path the issue names too (`src/shop/cart.py`), else the one file of the repository
    called that. Workflows run in the repository's root."""
    named = list(dict.fromkeys(p for p in _PATH.findall(body) if "/" in p or p.count(".") == 1))
    found: dict[str, str] = {}
    for path in named:
        hits = [path] if Path(path).is_file() else [p for p in named if p.endswith("/" + path)] or [
            f for f in listed_files(Path.cwd())[0] if f.endswith("/" + path)]
        real = hits[0] if len(hits) == 1 else path
        if not Path(real).is_file():  # a new file in a new folder: the folders first, each added (the gate asks)
            for folder in reversed(PurePosixPath(real).parents[:-1]):
                if not Path(folder).is_dir():
                    found.setdefault(f"{folder}/", "Add")
        found.setdefault(real, "Modify" if Path(real).is_file() else "Add")
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _lld_sections(doc: Document, number: str, assume: bool) -> dict[str, list[str]]:
    """What the stand-in writes under each section of the built-in template, by section key."""
    criteria, questions, (first, rest) = acceptance_criteria(doc.body), open_questions(doc.body), _prose(doc.body)
    files = _named_files(doc.body)
    named = set(_PATH.findall(doc.body))
    names = [n for n in dict.fromkeys(_IDENTIFIER.findall(doc.body)) if n not in named and "/" not in n]
    reqs = list(zip([f"REQ-{n}" for n in range(1, len(criteria) + 1)], criteria, strict=True))
    assumed = "**Assumed:** the simplest reading of the issue; confirm with its author."
    if questions and assume:
        asked = [f"- [x] {q} {assumed}" for q in questions]
    else:
        asked = [f"- [ ] {q}" for q in questions] or ["None."]
    return {
        "context and goal": [f"* **Issue:** #{number} {doc.title}", f"* **Objective:** {first or doc.title}",
                             *([f"* **Labels:** {', '.join(doc.labels)}"] if doc.labels else [])],
        "open questions": asked,
        "proposed changes": ["What the issue asks for, in its own words:", "", *_spaced(rest or [doc.title])],
        "files changed": ["| File | Change Type | Description |", "|------|-------------|-------------|",
                          *[f"| `{path}` | {change} | As the issue describes |" for path, change in files.items()]]
        if files else [
            "The issue names no files: the implementer chooses where this lives."],
        "dependencies": ["None: the issue names no new package or service."],
        "data structures": ["None new: the issue defines none, so the existing ones are kept."],
        "function signatures": [f"- `{name}`: changed as the issue describes" for name in names] or [
            "None named by the issue."],
        "logic flow": [f"{n}. Make it so that {c}" for n, c in enumerate(criteria, 1)] or ["As the issue describes."],
        "technical approach": ["Follow the repository's existing structure; the issue sets no other constraint."],
        "requirements": [f"{n}. **{req}:** {c}" for n, (req, c) in enumerate(reqs, 1)]
        or ["None given: the issue has no acceptance criteria."],
        "alternatives considered": ["| Option | Pros | Cons | Decision |", "|---|---|---|---|",
                                    "| As the issue describes | Does what it asks | - | **Selected** |",
                                    "| Leave it as it is | No work | The issue stays open | Rejected |"],
        "data and fixtures": ["Tests make their own data in a temporary directory; no real user data is read."],
        "diagram": ["```mermaid", "flowchart LR", "    Issue --> Change --> Tests", "```"],
        "security": ["- Inputs from the issue are treated as untrusted text.",
                     "- No secret is written to logs or outputs."],
        "performance": ["The issue sets no budget; the change must not slow the existing paths measurably."],
        "risks and mitigations": ["| Risk | Impact | Likelihood | Mitigation |", "|---|---|---|---|",
                                  "| The issue is read too literally | Medium | Medium | Review against its author |"],
        "verification and testing": ["Every requirement is shown by an automated test."],
        "test scenarios": ["| ID | Requirement | Scenario | Type | Input | Pass Criteria |",
                           "|----|-------------|----------|------|-------|---------------|",
                           *[f"| {n * 10:03d} | {req} | {_cell(c)} | Auto | As the requirement states | "
                             "Shown by an automated test |" for n, (req, c) in enumerate(reqs, 1)]]
        if criteria else ["No scenarios: the issue has no requirements to prove."],
        "manual tests": ["None: every scenario is automated."],
        "definition of done": [*[f"- [ ] {req} holds and its scenario passes" for req, _ in reqs],
                               "- [ ] Tests, linters and type checks pass", "- [ ] Documentation updated"],
    }


def _spaced(blocks: list[str]) -> list[str]:
    return [line for block in blocks for line in (block, "")][:-1]


def _fill(title: str, template: str, sections: dict[str, list[str]], notes: list[str]) -> str:
    """The template's headings, in its order, each with what the stand-in has for it."""
    lines = [title, "", BANNER]
    for heading in _sections(template):
        lines += ["", f"{'#' * heading.level} {heading.title}", *sections.get(heading.key, [UNFILLED])]
    if notes:
        lines += ["", f"## {RESPONSES_HEADING}", *notes]
    return "\n".join(lines).rstrip() + "\n"


def _sections(template: str) -> list[Heading]:
    return [h for h in headings(template) if h.level >= 2]


def _answers(findings: tuple[OpenFinding, ...], answer: Callable[[OpenFinding], str]) -> list[str]:
    return [f"- {f.id}: {answer(f)}" for f in findings]


def draft_lld(doc: Document, item_id: str, template: str, assume: bool = False,
              findings: tuple[OpenFinding, ...] = ()) -> str:
    number = str(doc.number if doc.number is not None else item_id)
    title = f"# LLD-{int(number):03d}: {doc.title}" if number.isdigit() else f"# LLD: {doc.title}"

    def answer(finding: OpenFinding) -> str:
        if finding.text.startswith("Open question"):
            return "addressed — recorded as an assumption under Open Questions"
        return "not addressed — the stand-in writes what the issue gives; edit the issue, or use a real model"

    return _fill(title, template, _lld_sections(doc, number, assume), _answers(findings, answer))


def _verdict(findings: list[tuple[str, str]]) -> str:
    """A review as the schema's JSON. It reopens nothing: each review is judged afresh, so an issue it cannot
    approve still ends needs-revision after max_iterations."""
    verdict = REVISE if any(tier == "blocking" for tier, _ in findings) else APPROVED
    return json.dumps({"verdict": verdict, "findings": [{"id": str(n), "tier": tier, "text": text, "reopens": ""}
                                                        for n, (tier, text) in enumerate(findings, 1)]}, indent=2)


def review_lld(draft: str) -> str:
    """Blocking findings for what the gate would also refuse (read as the gate reads it): an open question left
    `- [ ]`, a requirements section that names none."""
    findings = [("blocking", f"Open question unanswered: {q} Answer it or record an assumption.")
                for q in questions_left(draft)]
    if "requirements" in section_bodies(draft) and not requirement_ids(draft):
        findings.append(("blocking", "No requirements: the issue needs acceptance criteria (a '- [ ]' checklist) "
                                     "before it can be designed."))
    return _verdict(findings)


def draft_issue(doc: Document, template: str, revised: bool = False, findings: tuple[OpenFinding, ...] = ()) -> str:
    criteria = acceptance_criteria(doc.body) or [line for line in
                                                 (m.group(1) for m in map(_BULLET.match, doc.body.splitlines()) if m)]
    if revised and not criteria:
        criteria = [f"{doc.title} works end to end and is covered by a test"]
    first, rest = _prose(doc.body)
    sections = {
        "problem": [first or doc.title],
        "proposal": _spaced(rest) or ["As the brief describes; the implementer proposes the details."],
        "acceptance criteria": [f"- [ ] {c}" for c in criteria] or ["The brief gives none."],
        "out of scope": ["Anything the brief does not mention."],
    }
    return _fill(f"# {doc.title}", template, sections, _answers(
        findings, lambda f: "not addressed — the stand-in writes what the brief gives; edit the brief"))


def review_issue(draft: str) -> str:
    criteria = section_bodies(draft).get("acceptance criteria", "")
    findings = [] if re.search(r"^- \[ \] \S", criteria, re.M) else [
        ("blocking", "No testable acceptance criteria: add a '- [ ]' checklist of outcomes.")]
    return _verdict(findings)


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
        doc, template = request.document, request.template
        texts = {
            "lld-draft": lambda: draft_lld(doc, request.item_id, template),
            "lld-review": lambda: review_lld(request.draft),
            "lld-revise": lambda: draft_lld(doc, request.item_id, template, assume=True, findings=request.findings),
            "issue-draft": lambda: draft_issue(doc, template),
            "issue-review": lambda: review_issue(request.draft),
            "issue-revise": lambda: draft_issue(doc, template, revised=True, findings=request.findings),
        }
        return Completion(text=texts[request.kind](), model=MODEL)


def stand_in_banner(provider: Provider) -> str:
    """What every file of an offline run says when no stand-in wrote it (a gate's report, the context record),
    so no file of such a run passes for a real one."""
    return RUN_BANNER if provider.name == OfflineProvider.name else ""
