"""The gate's corpus: design documents in the shapes real repositories use (`fixtures/designs/complete`: number
suffixes, parenthetical headings, REQ-n items and numbered requirements, their own appendices, files tables headed
Change Type, Change, Type or Action), each named `<template>--<name>.md` after the template it follows (the built-in
one, or a repository's own in `fixtures/designs/templates`), and the hollow variants made from each: a section
holding only a placeholder, a section gone, an Add under a folder that does not exist, an Add of a file that does,
a Modify of one that does not, a change type that is none, an open question left open, a requirement no scenario
proves. A complete document has no finding; every variant is caught by the finding it should raise. Used by
`test_gate_corpus.py` and `bench/gate_corpus.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.gate import check_lld
from agentos_jobs.design.template import Heading, Template, headings, load_template, locate_sections, parse_template

DESIGNS = Path(__file__).parent / "fixtures" / "designs"
PLACEHOLDERS = ["TBD", "TODO: write this", "N/A", "[UNCHANGED]", "...", "- TBD\n- TBD",
                "| Item | Detail |\n|------|--------|\n| TBD | TBD |", "TEMPLATE", "(TBD)",
                "<!--\n  Fill in once the approach is settled.\n-->"]
ALSO_BUILTIN = {"feature-lld"}  # a template shaped like the built-in one: its documents meet both
_ROW = re.compile(r"^\| `?([\w./-]+)`? \| (Add|New|Modify|Modified|Delete|Removed)\b[^|]*\|", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    templates: tuple[str, ...]  # the template it follows, then any other it must also pass


@dataclass(frozen=True)
class Variant:
    document: str
    kind: str
    text: str
    expected: str  # the start of the finding that catches it


def make_repository(root: Path) -> Path:
    """The repository the documents describe, its files as `repository.txt` lists them."""
    for line in (DESIGNS / "repository.txt").read_text().split():
        (root / line).parent.mkdir(parents=True, exist_ok=True)
        (root / line).write_text("")
    return root


def templates(root: Path) -> dict[str, Template]:
    found = {"builtin": load_template(load_settings(root, {}), "lld")}
    for path in sorted((DESIGNS / "templates").glob("*.md")):
        found[path.stem] = parse_template(path.read_text(), path.name)
    return found


def documents() -> list[Document]:
    found = []
    for path in sorted((DESIGNS / "complete").glob("*.md")):
        own = path.name.split("--")[0]
        found.append(Document(path.name, path.read_text(), (own, "builtin") if own in ALSO_BUILTIN else (own,)))
    return found


def gate(text: str, template: Template, root: Path) -> list[str]:
    return check_lld(text, template, root, ())


def variants(doc: Document, template: Template) -> Iterator[Variant]:
    """Every hollow variant of `doc` in the template it follows."""
    lines = doc.text.splitlines()
    found = headings(doc.text)
    located = {s: i for s, i in locate_sections(template.sections, doc.text).items() if i is not None}
    for n, (section, index) in enumerate(located.items()):
        heading = found[index]
        end = found[index + 1].line if index + 1 < len(found) else len(lines)
        if index + 1 < len(found) and found[index + 1].level > heading.level:
            continue  # a section with subsections is not hollow while they are full
        body = _placeholder(PLACEHOLDERS[n % len(PLACEHOLDERS)], template, section)
        hollow = [*lines[: heading.line + 1], body, "", *lines[end:]]
        yield Variant(doc.name, f"placeholder ({body.splitlines()[0][:14]})", "\n".join(hollow),
                      f"section '{section.title}' is empty")
        yield Variant(doc.name, "section deleted", "\n".join([*lines[: heading.line], *lines[end:]]),
                      f"section '{section.title}' is missing")
    yield from _file_variants(doc)
    if any(s.words == ("open", "questions") for s in located):
        question = "Should the limit be configurable per tenant?"
        text = re.sub(r"^(#+ Open Questions\n)", rf"\1\n- [ ] {question}\n", doc.text, count=1, flags=re.MULTILINE)
        yield Variant(doc.name, "open question left open", text, f"open question '{question}' is unresolved")
    yield _unproved(doc)


def _placeholder(kind: str, template: Template, section: Heading) -> str:
    """A placeholder for `section`: a bare N/A only where the template does not offer it, the template's own
    text only where it is guidance (not text to copy)."""
    own = template.own_text(section)
    if kind == "N/A" and template.offers_none(section):
        return "TBD"
    if kind == "TEMPLATE":
        return "\n".join(own) if own and not template.fixed(section) else "TODO"
    return kind


def _file_variants(doc: Document) -> Iterator[Variant]:
    rows = list(_ROW.finditer(doc.text))
    add = next((m for m in rows if m.group(2) in ("Add", "New") and not m.group(1).endswith("/")), None)
    modify = next((m for m in rows if m.group(2) in ("Modify", "Modified")), None)
    if add:
        name = add.group(1).rsplit("/", 1)[-1]
        yield Variant(doc.name, "Add under a missing folder", _swap(doc.text, add, 1, f"nowhere/{name}"),
                      "`nowhere/` neither exists nor is added")
        yield Variant(doc.name, "Add of an existing file", _swap(doc.text, add, 1, "pyproject.toml"),
                      "`pyproject.toml` is marked Add but already exists")
    if modify:
        yield Variant(doc.name, "Modify of a missing file", _swap(doc.text, modify, 1, "src/gone.py"),
                      "`src/gone.py` is marked Modify but does not exist")
    if rows:
        yield Variant(doc.name, "change type that is none", _swap(doc.text, rows[0], 2, "Rename"),
                      f"`{rows[0].group(1)}`: change type 'Rename'")


def _swap(text: str, match: re.Match[str], group: int, value: str) -> str:
    return text[: match.start(group)] + value + text[match.end(group):]


def _unproved(doc: Document) -> Variant:
    """One more requirement, in the list's own style, that no scenario names."""
    heading = re.search(r"^#+ (?:\d+\. )?Requirements\n", doc.text, re.MULTILINE)
    assert heading, doc.name
    body = doc.text[heading.end():]
    last = [line for line in body.split("\n#")[0].splitlines() if re.match(r"(?:\d+\.|-) ", line)][-1]
    req = re.search(r"REQ-(\d+)", last)
    if req:
        n = int(req.group(1)) + 1
        added = re.sub(r"REQ-\d+.*", f"REQ-{n}:** every refusal is logged", last)
    else:
        n = int(last.split(".")[0]) + 1
        added = f"{n}. Every refusal is logged."
    return Variant(doc.name, "requirement no scenario proves", doc.text.replace(last, f"{last}\n{added}", 1),
                   f"REQ-{n} is proved by no test scenario")
