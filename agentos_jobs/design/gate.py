"""The mechanical gate: what can be checked in a draft without a model, checked before any review is paid for.

A draft that fails goes back to its drafter with these findings; a review is never asked for it, and it is
never filed. Strict on substance, tolerant of form. The checks: every section of the template in force is there
(found by number or by title, `template.find_sections`) and holds more than placeholders (TBD, (TBD), TODO, N/A,
..., [UNCHANGED], an HTML comment) and the template's own text; in each files-changed table (a file or path column
and a change, action or type column) a Modify or Delete path exists in the repository, an Add path does not and
its folder exists or is added in that table, no path is a placeholder or leads outside it; every requirement
(`REQ-n`, or item n of a numbered list) is proved by a test scenario; no open question is left `- [ ]`; a revision
answers every open review finding by id; an issue's acceptance criteria are `- [ ]` items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

from agentos_jobs.core.fsutil import parse_json
from agentos_jobs.design.template import (
    FENCE,
    Heading,
    Template,
    find_sections,
    headings,
    is_separator,
    locate_sections,
    section_bodies,
    section_key,
    table_row,
    tables,
)
from agentos_jobs.design.verdict import RESPONSES_HEADING, Finding, split_responses

_REQ = re.compile(r"\bREQ-(\d+)\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(?:(\d+)[.)]|[-*+])\s+(.*)$")
_NUMBERS = re.compile(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?")  # '1, 3' or '2-4' in a Requirement column
_CHECKBOX = re.compile(r"^[-*+]\s+\[[ xX]\]\s*(.*)$")
_OPEN = re.compile(r"^\s*[-*+]\s+\[ \]\s*(.*)$")
_QUESTION = "open question '"
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_PLACEHOLDER = re.compile(r"path/to|(?:^|/)(?:tbd|todo|xxx)(?:/|$)|\.\.\.|…|[<>{}*?]|^n/?a$|^none$|^-+$",
                          re.IGNORECASE)
_VAGUE = re.compile(r"\btbd\b|\btodo\b|^(?:\.\.\.|…)$", re.IGNORECASE)
_MARKUP = re.compile(r"<!--.*?-->|^(?:[-*+]\s+(?:\[[ xX]\]\s*)?|\d+[.)]\s+|>\s*)|[*_`~]")
_FILLER = re.compile(r"(?:tbd|tba|todo|fixme|xxx|\[?unchanged\]?|\.{3}|…|[-—\u2013]+|\?+|[{<\[][^{}<>\[\]]*[}>\]])"
                     r"[.:;!]*", re.IGNORECASE)
_WRAPPED = re.compile(r"\((.*)\)")  # '(TBD)': a placeholder in parentheses is still one
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)  # a comment, over as many lines as it takes, says nothing
_LATER = re.compile(r"(?:tbd|tba|todo|fixme)\b", re.IGNORECASE)  # 'TBD: after profiling' still says nothing
_NOTHING = re.compile(r"(?:n/?a|none|not applicable)\b[\s.:;,!—\u2013-]*", re.IGNORECASE)
_CHANGES = {"add": "Add", "added": "Add", "new": "Add", "create": "Add", "modify": "Modify", "modified": "Modify",
            "update": "Modify", "change": "Modify", "edit": "Modify", "delete": "Delete", "deleted": "Delete",
            "remove": "Delete", "removed": "Delete",
            "exists": "Exists", "existing": "Exists"}  # a folder listed for context ('Exists (Directory)')


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
            *check_questions(design, template), *check_answers(answers, open_findings)]


def check_issue(draft: str, template: Template, open_findings: tuple[Finding, ...]) -> list[str]:
    design, answers = split_responses(draft)
    return [*check_sections(design, template), *check_criteria(design), *check_answers(answers, open_findings)]


def check_sections(draft: str, template: Template) -> list[str]:
    """Each template section is found (`locate_sections`) and says something: its own text or one of its
    subsections does, each judged by its own template section. An HTML comment, however many lines it spans,
    says nothing: its lines are read as blank (headings are found as the template's are, comments or not)."""
    lines = _COMMENT.sub(lambda comment: "\n" * comment.group().count("\n"), draft).splitlines()
    found = headings(draft)
    located = locate_sections(template.sections, draft)
    sections = {index: section for section, index in located.items() if index is not None}

    def says(index: int) -> bool:
        end = found[index + 1].line if index + 1 < len(found) else len(lines)
        return _says_something(lines[found[index].line + 1 : end], template, sections.get(index))

    findings = []
    for section, index in located.items():
        if index is None:
            findings.append(f"section '{section.title}' is missing")
            continue
        level, family = found[index].level, [index]
        while family[-1] + 1 < len(found) and found[family[-1] + 1].level > level:
            family.append(family[-1] + 1)
        if not any(says(i) for i in family):
            findings.append(f"section '{section.title}' is empty (it holds only placeholders or the template's own "
                            "text)")
    return findings


def _says_something(lines: list[str], template: Template, section: Heading | None) -> bool:
    """Whether a section's own lines (up to its first subsection) hold one of their own: not a fence, a table's
    header or separator, the template's own text (unless the section is text to copy, `Template.fixed`), nor a
    placeholder. 'N/A' or 'None' followed by a reason ('N/A - all scenarios are automated') is an answer anywhere;
    bare, only where the template offers it (`Template.offers_none`)."""
    bare_none = section is not None and template.offers_none(section)
    fixed = section is not None and template.fixed(section)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or FENCE.match(line) or (stripped in template.guidance and not fixed):
            continue
        if stripped.startswith("|"):
            cells = table_row(stripped)
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if is_separator(cells) or (following.startswith("|") and is_separator(table_row(following))):
                continue  # a table's separator or header row names columns, it says nothing
            if any(cell not in template.cells and _answer(cell, bare_none) for cell in cells):
                return True
        elif _answer(stripped, bare_none):
            return True
    return False


def _answer(text: str, bare_none: bool) -> bool:
    """Whether a line or a cell says something: not a placeholder, nor a bare 'N/A' where none is offered."""
    plain = " ".join(_MARKUP.sub("", text).split())
    if wrapped := _WRAPPED.fullmatch(plain):
        return _answer(wrapped.group(1), bare_none)
    if not plain or _FILLER.fullmatch(plain) or _LATER.match(plain):
        return False
    nothing = _NOTHING.match(plain)
    if not nothing:
        return True
    reason = plain[nothing.end():]  # "None known", "N/A - all scenarios are automated"
    return bare_none or _answer(reason, False)


def _column(header: list[str], *words: str) -> int | None:
    """The first column whose header starts with one of `words` ('Files', 'Change Type')."""
    return next((i for i, cell in enumerate(header) if section_key(cell).startswith(words)), None)


def _path(cell: str) -> str:
    return _LINK.sub(r"\1", cell).replace("`", "").replace("**", "").strip()


def check_files(draft: str, root: Path) -> list[str]:
    """Every table with a file (or path) column and a change or action column is a files-changed table; so is
    one with a Type column, unless it is a table of test scenarios (a Scenario, Test or Requirement column:
    there Type says Auto or Manual)."""
    findings = []
    for rows in tables(draft):
        file_col = _column(rows[0], "file", "path")
        typed = None if _column(rows[0], "scenario", "test", "req") is not None else _column(rows[0], "type")
        change_col = next((c for c in (_column(rows[0], "change", "action"), typed) if c is not None), None)
        if file_col is None or change_col is None or file_col == change_col:
            continue
        listed = [(_path(row[file_col]), row[change_col]) for row in rows[1:] if len(row) > max(file_col, change_col)]
        for path, said in listed:
            findings += _file_problems(path, _change(said), said, root)
        findings += _new_folders([path for path, said in listed if _change(said) == "Add"], root)
    return findings


def _new_folders(added: list[str], root: Path) -> list[str]:
    """An Add path's folder exists, or is itself added in the same table (a row `folder/`, Add); one finding
    for each folder that is neither, naming the paths in it."""
    pures = [PurePosixPath(path.removeprefix("./")) for path in added if path and not _PLACEHOLDER.search(path)]
    listed = {str(pure) for pure in pures}
    missing: dict[str, list[str]] = {}
    for pure in pures:
        folder = pure.parent
        if not pure.is_absolute() and ".." not in pure.parts and str(folder) not in listed \
                and not (root / folder).is_dir():
            missing.setdefault(str(folder), []).append(f"`{pure}`")
    return [f"`{folder}/` neither exists nor is added in the files-changed table, yet {', '.join(paths)} "
            f"{'is' if len(paths) == 1 else 'are'} added in it: check the path, or add a row `{folder}/` (Add)"
            for folder, paths in missing.items()]


def _change(said: str) -> str | None:
    words = section_key(said).split()
    return _CHANGES.get(words[0]) if words else None


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


def _section(draft: str, title: str) -> str | None:
    """A section of the draft found as a template's is (`find_sections`), else the first below the document's
    title whose name ends with `title` ('Functional Requirements'); a document titled '... Open Questions' is
    not its Open Questions section."""
    wanted = Heading(2, title, -1)
    found = find_sections([wanted], draft)[wanted]
    if found is None:
        named = [h for h in headings(draft) if h.level >= 2 and h.key.endswith(section_key(title))]
        found = find_sections(named[:1], draft)[named[0]] if named else None
    return found


def check_requirements(draft: str) -> list[str]:
    """Each top-level item of the requirements section is a requirement: REQ-n when it names one, else n when it
    is item n of a numbered list; a bullet naming no id is a finding. Each is proved by a test-scenario row (a
    table under a heading about tests or verification) naming REQ-n, or n in its Requirement column; a scenario
    names no requirement that is not there."""
    body = _section(draft, "Requirements")
    if body is None:
        return []
    ids, findings = _requirements(body)
    tested: set[int] = set()
    for key, text in section_bodies(draft).items():
        if any(word in key for word in ("test", "verification", "scenario")):
            for rows in tables(text):
                tested |= _proved(rows, len(set(ids)))
    unproved = [f"REQ-{n}" for n in dict.fromkeys(ids) if n not in tested]
    if len(unproved) == 1:
        findings.append(f"{unproved[0]} is proved by no test scenario: add a row naming it to the test-scenario "
                        "table")
    elif unproved:
        findings.append(f"{len(unproved)} requirements are proved by no test scenario ({', '.join(unproved)}): name "
                        "each in a row of the test-scenario table, as REQ-n or its number in a Requirement column")
    findings += [f"a test scenario names REQ-{n}, which is not a requirement" for n in sorted(tested - set(ids))]
    return findings


def requirement_ids(draft: str) -> list[int]:
    """The requirements a draft names, as `check_requirements` reads them (none: it has no such section)."""
    body = _section(draft, "Requirements")
    return _requirements(body)[0] if body is not None else []


def _requirements(body: str) -> tuple[list[int], list[str]]:
    """A requirements section's ids (its top-level items', then a table's rows'), and a finding for each item
    that names none."""
    findings, ids = [], []
    for line in body.splitlines():
        item = _LIST_ITEM.match(line)  # top-level items only: an indented line explains its requirement
        if not item:
            continue
        found = _REQ.findall(item.group(2))
        if found or item.group(1):
            ids.append(int(found[0] if found else item.group(1)))
        else:
            findings.append(f"requirement '{item.group(2)[:80]}' has no id: name it REQ-<n>, or number the list")
    for rows in tables(body):  # or a table of requirements: each row's first id
        ids += [int(found[0]) for row in rows[1:] if (found := _REQ.findall(" ".join(row)))]
    return ids, findings


def _proved(rows: list[list[str]], count: int) -> set[int]:
    """The requirements a scenario table names: REQ-n in any cell ('Happy path (REQ-1)'), or bare numbers and
    ranges ('1, 3-4') in its Requirement column. A range longer than the `count` of requirements names none
    ('see issue 10-2000' is not 1,991 requirements)."""
    column = _column(rows[0], "req")
    proved = {int(n) for row in rows[1:] for cell in row for n in _REQ.findall(cell)}
    for row in rows[1:]:
        if column is not None and column < len(row) and not _REQ.search(row[column]):
            for first, last in _NUMBERS.findall(row[column]):
                start, end = int(first), int(last or first)
                if end - start < max(count, 1):
                    proved |= set(range(start, end + 1))
    return proved


def check_questions(draft: str, template: Template) -> list[str]:
    """An open question left `- [ ]` goes back to the drafter, to answer or settle with an assumption; one still
    open after the last round is for a person (`unresolved_questions`). Never filed."""
    return [f"{_QUESTION}{q}' is unresolved: answer it, or settle it as `- [x]` with the assumption in bold"
            for q in questions_left(draft, template.guidance)]


def questions_left(draft: str, guidance: frozenset[str] = frozenset()) -> list[str]:
    """The questions a draft's Open Questions section leaves `- [ ]`, but for the template's own (`guidance`)."""
    body = _section(draft, "Open Questions") or ""
    return [m.group(1).strip() for line in body.splitlines()
            if (m := _OPEN.match(line)) and line.strip() not in guidance]


def unresolved_questions(findings: list[str]) -> list[str]:
    """The open questions among a gate's findings, as the draft asked them."""
    return [f[len(_QUESTION):f.rindex("' is unresolved")] for f in findings if f.startswith(_QUESTION)]


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
