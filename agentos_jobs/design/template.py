"""The template a draft follows and the rubric its review applies: the built-in ones (package data) or the
repository's own (`lld_template`, `lld_rubric`). The gate reads the required sections from the template in force,
so a repository that brings its own template is gated on its own headings, and finds them in a draft by number
or by title whatever their spelling (`find_sections`)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

from agentos_jobs.core.errors import ConfigError, NotRepoContent
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.design.verdict import split_responses
from agentos_jobs.repo.files import read_repo_file

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)*\.?|[A-Z]\.)\s+")
_AFTERWORD = re.compile(r"\s*\([^()]*\)\s*$")  # '(Pseudocode)', '(Only If Unavoidable)'
_NONE_OFFERED = re.compile(r"\bN/A\b|\bnone\b", re.IGNORECASE)
_INSTRUCTION = re.compile(r"([*_]).+\1")  # a line in italics: what to write, not what is written
_SLOT = re.compile(r"\{[^{}]*\}|<[^<>]*>")  # '{Brief description}', '<number>': the draft fills it in


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # index of the heading's line in the text

    @property
    def key(self) -> str:
        return section_key(self.title)

    @property
    def number(self) -> str:
        """'2.5' of '2.5 Logic Flow', 'A' of 'A. Glossary'; '' when it has none."""
        match = _NUMBER.match(self.title)
        return match.group(1).rstrip(".") if match else ""

    @property
    def words(self) -> tuple[str, ...]:
        """The title's words without its number or a closing parenthesis: 'Logic Flow (Pseudocode)' is
        ('logic', 'flow')."""
        return tuple(section_key(_AFTERWORD.sub("", self.title)).split())


@dataclass(frozen=True)
class Template:
    """A template's text and the sections (its `##`-and-deeper headings) every draft must hold."""

    text: str
    sections: tuple[Heading, ...]
    source: str  # where it came from, as messages show it

    @functools.cached_property
    def guidance(self) -> frozenset[str]:
        """The template's own lines: a draft section holding only these is still empty."""
        return frozenset(line.strip() for line in self.text.splitlines() if line.strip())

    @functools.cached_property
    def cells(self) -> frozenset[str]:
        """The cells of the template's own tables ('Latency', 'Add / Modify / Delete'): a draft row holding
        only these and placeholders says nothing."""
        return frozenset(cell for rows in tables(self.text) for row in rows for cell in row)

    def own_text(self, section: Heading) -> list[str]:
        """The template's lines for `section` up to its first subsection, blank ones left out."""
        lines = self.text.splitlines()
        end = next((h.line for h in headings(self.text) if h.line > section.line), len(lines))
        return [line.strip() for line in lines[section.line + 1 : end] if line.strip()]

    def offers_none(self, section: Heading) -> bool:
        """Whether the template's text for `section` offers 'None' or 'N/A' as an answer, as a Manual Tests or
        Dependencies section does: there a bare 'None.' is an answer."""
        return bool(_NONE_OFFERED.search("\n".join(self.own_text(section))))

    def fixed(self, section: Heading) -> bool:
        """Whether `section` is text a draft copies as it stands (a checklist, a note on what is checked): some
        of it is plain (not a table, a fence, an italic instruction) and none of it is a `{placeholder}`."""
        own = self.own_text(section)
        plain = [line for line in own if not line.startswith(("|", "<!--")) and not FENCE.match(line)
                 and not _INSTRUCTION.fullmatch(line)]
        return bool(plain) and not any(_SLOT.search(line) for line in own)


def section_key(title: str) -> str:
    """What two spellings of one heading share: '2.1 Files Changed', '2.1. Files changed:' and
    '**Files Changed**' are one section."""
    title = _NUMBER.sub("", title.replace("&", " and ")).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", title).split())


def headings(text: str) -> list[Heading]:
    """Markdown ATX headings outside fenced code blocks (a '# comment' in a code block is no heading)."""
    found, fenced = [], False
    for index, line in enumerate(text.splitlines()):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            found.append(Heading(len(match.group(1)), match.group(2).strip(), index))
    return found


def _body(lines: list[str], found: list[Heading], index: int) -> str:
    """A heading's lines up to the next heading of its level or higher (so a section holds its subsections)."""
    heading = found[index]
    end = next((h.line for h in found[index + 1:] if h.level <= heading.level), len(lines))
    return "\n".join(lines[heading.line + 1 : end])


def section_bodies(text: str) -> dict[str, str]:
    """Each heading's body by key. The first of two headings with one key wins."""
    lines, found = text.splitlines(), headings(text)
    bodies: dict[str, str] = {}
    for index, heading in enumerate(found):
        bodies.setdefault(heading.key, _body(lines, found, index))
    return bodies


def _same_words(section: Heading, heading: Heading) -> bool:
    return heading.words == section.words


def _words_first(section: Heading, heading: Heading) -> bool:
    """'Security Considerations' and 'Security: threat model' begin with the words of 'Security'."""
    return bool(section.words) and tuple(heading.key.split()[: len(section.words)]) == section.words


def _same_number(section: Heading, heading: Heading) -> bool:
    """'7. Threat Model' is '7. Security' renamed. Only a top-level number: subsection numbers differ between
    templates ('10.2 Test Commands' where another has '10.2 Manual Tests') and would hide a section that is gone."""
    return bool(section.number) and "." not in section.number and heading.number == section.number


def locate_sections(sections: Sequence[Heading], text: str) -> dict[Heading, int | None]:
    """Which heading of a draft (its index in `headings(text)`) is each template section, None where none is. A
    section is the draft's heading with its title's words (number aside), else one whose title begins with them
    ('Logic Flow (Pseudocode)', 'Security Considerations'), else a top-level one with its number (renamed). Each rule
    is tried for every section before the next, so '10.3 Manual Tests' is 'Manual Tests' whatever '10.2' holds;
    among several, the one with the section's number wins, then the first; one heading serves one section."""
    found = headings(text)
    chosen: dict[Heading, int] = {}
    for rule in (_same_words, _words_first, _same_number):
        for section in sections:
            if section in chosen:
                continue
            free = [i for i, h in enumerate(found) if i not in chosen.values() and rule(section, h)]
            if free:
                chosen[section] = next((i for i in free if found[i].number == section.number), free[0])
    return {section: chosen.get(section) for section in sections}


def find_sections(sections: Sequence[Heading], text: str) -> dict[Heading, str | None]:
    """Each template section's body in a draft (`locate_sections`), None where it has none."""
    lines, found = text.splitlines(), headings(text)
    return {section: None if index is None else _body(lines, found, index)
            for section, index in locate_sections(sections, text).items()}


def tables(text: str) -> Iterator[list[list[str]]]:
    """Markdown tables outside code blocks, as rows of cells (the header first, the separator row left out)."""
    rows: list[list[str]] = []
    fenced = False
    for line in [*text.splitlines(), ""]:
        if FENCE.match(line):
            fenced = not fenced
        stripped = line.strip()
        if not fenced and stripped.startswith("|"):
            cells = table_row(stripped)
            if not is_separator(cells):
                rows.append(cells)
        elif rows:
            yield rows
            rows = []


def table_row(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def is_separator(cells: list[str]) -> bool:
    return all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell)


def parse_template(text: str, source: str) -> Template:
    """The sections are the headings below the title (level 2 and deeper), but not the review log a template
    may end with (`## Appendix: Review Log`): the workflow writes that one, and cuts a draft's own before the
    gate reads it, as `split_responses` does here. A template with none gates nothing, so it is refused."""
    design, _ = split_responses(text)
    sections = tuple(h for h in headings(design) if h.level >= 2)
    if not sections:
        raise ConfigError(f"{source}: the template has no '## ' section headings; add them or remove the setting")
    return Template(text=text, sections=sections, source=source)


@functools.cache  # read once per process: a warm parent reads them for every item it forks
def _builtin(name: str) -> str:
    return (resources.files("agentos_jobs.design") / "templates" / name).read_text(encoding="utf-8")


def _repository_file(settings: Settings, key: str, relative: str) -> str:
    path = settings.root / relative
    shown = display_path(path, settings.root)
    try:
        return read_repo_file(path, settings.root).decode("utf-8")
    except NotRepoContent as exc:
        why = str(exc)
    except OSError as exc:
        why = f"it cannot be read ({exc.strerror})"
    except UnicodeDecodeError:
        why = "it is not UTF-8 text"
    raise ConfigError(f"{key} = {relative!r}: {shown}: {why}; fix the path in [tool.agentos_jobs] or remove it")


def load_template(settings: Settings, workflow: str) -> Template:
    """The LLD template is the repository's `lld_template` when set, else the built-in one; the issue
    workflow always uses the built-in issue template."""
    if workflow == "lld" and settings.lld_template:
        return parse_template(_repository_file(settings, "lld_template", settings.lld_template),
                              settings.lld_template)
    return parse_template(_builtin(f"{workflow}.md"), f"the built-in {workflow} template")


def load_rubric(settings: Settings, workflow: str) -> str:
    if workflow == "lld" and settings.lld_rubric:
        return _repository_file(settings, "lld_rubric", settings.lld_rubric)
    return _builtin(f"{workflow}_rubric.md")
