"""The template a draft follows and the rubric its review applies: the built-in ones (package data) or the
repository's own (`lld_template`, `lld_rubric`). The gate reads the required sections from the template in force,
so a repository that brings its own template is gated on its own headings."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from .config import ConfigError, Settings
from .fsutil import display_path
from .repofiles import NotRepoContent, read_repo_file

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[A-Z]\.)\s+")


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # index of the heading's line in the text

    @property
    def key(self) -> str:
        return section_key(self.title)


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


def section_bodies(text: str) -> dict[str, str]:
    """Each heading's body by key: its lines up to the next heading of its level or higher (so a section holds
    its subsections). The first of two headings with one key wins."""
    lines = text.splitlines()
    found = headings(text)
    bodies: dict[str, str] = {}
    for index, heading in enumerate(found):
        end = next((h.line for h in found[index + 1:] if h.level <= heading.level), len(lines))
        bodies.setdefault(heading.key, "\n".join(lines[heading.line + 1 : end]))
    return bodies


def parse_template(text: str, source: str) -> Template:
    """The sections are the headings below the title (level 2 and deeper); a template with none gates nothing,
    so it is refused."""
    sections = tuple(h for h in headings(text) if h.level >= 2)
    if not sections:
        raise ConfigError(f"{source}: the template has no '## ' section headings; add them or remove the setting")
    return Template(text=text, sections=sections, source=source)


@functools.cache  # read once per process: a warm parent reads them for every item it forks
def _builtin(name: str) -> str:
    return (resources.files("agentos_jobs") / "templates" / name).read_text(encoding="utf-8")


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
