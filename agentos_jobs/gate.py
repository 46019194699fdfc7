"""The mechanical gate: what can be checked in a draft without a model, checked before any review is paid for.

A draft that fails goes back to its drafter with these findings; a review is never asked for it, and it is
never filed. The checks: every section of the template in force is present and holds more than the template's
own guidance; each Modify or Delete path of the files-changed table exists in the repository, no Add path does,
no path is a placeholder or leads outside it; every requirement has an id and is named by a test scenario; a
revision answers every open review finding by id; an issue's acceptance criteria are `- [ ]` items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from .fsutil import parse_json
from .template import FENCE, Template, headings, section_bodies, section_key
from .verdict import RESPONSES_HEADING, Finding, split_responses

_REQ = re.compile(r"\bREQ-(\d+)\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(?:\d+[.)]|[-*+])\s+(.*)$")
_CHECKBOX = re.compile(r"^[-*+]\s+\[[ xX]\]\s*(.*)$")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_PLACEHOLDER = re.compile(r"path/to|\btbd\b|\btodo\b|\bxxx\b|\.\.\.|…|[<>{}*?]|^n/?a$|^none$|^-+$", re.IGNORECASE)
_VAGUE = re.compile(r"\btbd\b|\btodo\b|^(?:\.\.\.|…)$", re.IGNORECASE)
_CHANGES = {"add": "Add", "added": "Add", "new": "Add", "create": "Add", "modify": "Modify", "modified": "Modify",
            "update": "Modify", "change": "Modify", "edit": "Modify", "delete": "Delete", "deleted": "Delete",
            "remove": "Delete"}


def dump_findings(findings: list[str]) -> str:
    """What a gate step checkpoints."""
    return json.dumps(findings, ensure_ascii=False)


def read_gate(text: str) -> list[str]:
    """A gate step's checkpointed output: its findings (none: the draft passed)."""
    data = parse_json(text)
    return [str(item) for item in data] if isinstance(data, list) else [f"unreadable gate record: {text[:80]}"]


def gate_report(draft_no: int, findings: list[str], banner: str = "") -> str:
    """What the lineage keeps of a failed gate, `NNN-gate.md`; `banner` says whose draft it was when that
    matters (the offline stand-in's)."""
    lines = [f"# Gate: draft {draft_no} failed", "", *([banner, ""] if banner else []),
             "Checked without a model before any review. The draft goes back to the drafter; no review was asked "
             "for it.", ""]
    lines += [f"- G{draft_no}.{n}: {finding}" for n, finding in enumerate(findings, 1)]
    return "\n".join(lines) + "\n"


def check_lld(draft: str, template: Template, root: Path, open_findings: tuple[Finding, ...]) -> list[str]:
    design, answers = split_responses(draft)
    return [*check_sections(design, template), *check_files(design, root), *check_requirements(design),
            *check_answers(answers, open_findings)]


def check_issue(draft: str, template: Template, open_findings: tuple[Finding, ...]) -> list[str]:
    design, answers = split_responses(draft)
    return [*check_sections(design, template), *check_criteria(design), *check_answers(answers, open_findings)]


def check_sections(draft: str, template: Template) -> list[str]:
    bodies = section_bodies(draft)
    findings = []
    for section in template.sections:
        body = bodies.get(section.key)
        if body is None:
            findings.append(f"section '{section.title}' is missing")
        elif not _content(body, template):
            findings.append(f"section '{section.title}' is empty (it holds nothing but the template's own text)")
    return findings


def _content(body: str, template: Template) -> list[str]:
    found = {h.line for h in headings(body)}
    guidance = template.guidance
    return [line for index, line in enumerate(body.splitlines())
            if line.strip() and index not in found and line.strip() not in guidance]


def tables(text: str) -> Iterator[list[list[str]]]:
    """Markdown tables outside code blocks, as rows of cells (the header first, the separator row left out)."""
    rows: list[list[str]] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if FENCE.match(line):
            fenced = not fenced
        stripped = line.strip()
        if not fenced and stripped.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", stripped.strip("|"))]
            if not all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
                rows.append(cells)
        elif rows:
            yield rows
            rows = []


def _column(header: list[str], *words: str) -> int | None:
    """The first column whose header has a word starting with one of `words` ('Files', 'Change Type')."""
    return next((i for i, cell in enumerate(header)
                 if any(part.startswith(words) for part in section_key(cell).split())), None)


def _path(cell: str) -> str:
    return _LINK.sub(r"\1", cell).replace("`", "").replace("**", "").strip()


def check_files(draft: str, root: Path) -> list[str]:
    """Every table with a file (or path) column and a change column is a files-changed table."""
    findings = []
    for rows in tables(draft):
        file_col, change_col = _column(rows[0], "file", "path"), _column(rows[0], "change", "action")
        if file_col is None or change_col is None or file_col == change_col:
            continue
        for row in rows[1:]:
            if len(row) <= max(file_col, change_col):
                continue
            words = section_key(row[change_col]).split()
            change = _CHANGES.get(words[0]) if words else None
            findings += _file_problems(_path(row[file_col]), change, row[change_col], root)
    return findings


def _file_problems(path: str, change: str | None, said: str, root: Path) -> list[str]:
    shown = f"`{path}`" if path else "an empty file cell"
    if not path or _PLACEHOLDER.search(path) or " " in path:
        return [f"{shown} in the files-changed table is a placeholder: name the real file"]
    pure = PurePosixPath(path.removeprefix("./"))
    if pure.is_absolute() or ".." in pure.parts:
        return [f"`{path}` in the files-changed table is outside the repository: give its path from the root"]
    if change is None:
        return [f"`{path}`: change type '{said}' is not Add, Modify or Delete"]
    exists = (root / pure).exists()
    if change == "Add" and exists:
        return [f"`{path}` is marked Add but already exists in the repository: mark it Modify"]
    if change != "Add" and not exists:
        return [f"`{path}` is marked {change} but does not exist in the repository: check the path, or mark it Add"]
    return []


def _requirements_body(draft: str) -> str | None:
    bodies = section_bodies(draft)
    return next((body for key, body in bodies.items() if key.endswith("requirements")), None)


def check_requirements(draft: str) -> list[str]:
    """Each item of the requirements section carries a REQ id, and every id is named by a test-scenario row (a
    table row under a heading about tests or verification); a scenario names no requirement that is not there."""
    body = _requirements_body(draft)
    if body is None:
        return []
    findings, ids = [], []
    for line in body.splitlines():
        item = _LIST_ITEM.match(line)  # top-level items only: an indented line explains its requirement
        if not item:
            continue
        found = _REQ.findall(item.group(1))
        if not found:
            findings.append(f"requirement '{item.group(1)[:80]}' has no id: name it REQ-<n>")
        ids += [int(n) for n in found[:1]]
    for rows in tables(body):  # or a table of requirements: each row's first id
        ids += [int(found[0]) for row in rows[1:] if (found := _REQ.findall(" ".join(row)))]
    tested: set[int] = set()
    for key, text in section_bodies(draft).items():
        if any(word in key for word in ("test", "verification", "scenario")):
            tested |= {int(n) for rows in tables(text) for row in rows[1:] for cell in row for n in _REQ.findall(cell)}
    findings += [f"REQ-{n} is proved by no test scenario: add a row naming it to the test-scenario table"
                 for n in dict.fromkeys(ids) if n not in tested]
    findings += [f"a test scenario names REQ-{n}, which is not a requirement" for n in sorted(tested - set(ids))]
    return findings


def check_answers(answers: dict[str, str], open_findings: tuple[Finding, ...]) -> list[str]:
    return [f"review finding {f.id} is not answered: add '- {f.id}: addressed — how' or '- {f.id}: not addressed "
            f"— why' under '## {RESPONSES_HEADING}'" for f in open_findings if not answers.get(f.id)]


def check_criteria(draft: str) -> list[str]:
    """An issue's acceptance criteria: at least one, each a `- [ ]` checklist item that says something."""
    body = next((b for key, b in section_bodies(draft).items() if key == "acceptance criteria"), None)
    if body is None:
        return []
    items = [line.strip() for line in body.splitlines() if _LIST_ITEM.match(line.strip())]
    if not items:
        return ["the acceptance criteria hold no '- [ ]' checklist item"]
    findings = []
    for line in items:
        box = _CHECKBOX.match(line)
        text = box.group(1).strip() if box else ""
        if not box:
            findings.append(f"acceptance criterion '{line[:80]}' is not a '- [ ]' checklist item")
        elif len(text.split()) < 2 or re.fullmatch(r"[(<\[].*[)>\]]", text) or _VAGUE.search(text):
            findings.append(f"acceptance criterion '{text[:80]}' is a placeholder, not a testable outcome")
    return findings
