"""A file too large for its share of the context, cut to what an item needs of it: the definitions of the names
the item mentions, with what goes with them (decorators, comments above, the class they belong to), then an
outline of the rest (its top-level signatures, or a document's headings), each line with its number. A file an
item names is never dropped whole for its size (context.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PYTHON_DEFINES = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)
# A definition in another language starts its line (after modifiers), so a call or a comment is none.
OTHER_DEFINES = re.compile(r"^[ \t]*(?:(?:export|default|pub(?:\([\w ]+\))?|public|private|protected|internal|static|"
                           r"abstract|final|async|unsafe|extern|inline|override|open|sealed|data)\s+)*"
                           r"(?:(?:function\*?|func|fn|class|struct|interface|trait|enum|type|def|module|object)\s+"
                           r"(?:\([^)]*\)\s*)?([A-Za-z_]\w*)|(?:const|let|var)\s+([A-Za-z_]\w*)\s*=\s*"
                           r"(?:async\s*)?(?:\(|function\b))", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6} \S")
OUTLINE_INDENT = 4  # a signature indented deeper (a nested function) is no part of the outline
AROUND = 3  # lines shown either side of a line of a document that mentions a name
_MAX_DEFINITION_LINES = 400  # a longer definition is shown by its head; its outline line says where it is
MIN_CUT_LINE = 80  # characters of a first line too long for the share (minified code, compact JSON) worth showing


@dataclass(frozen=True)
class Excerpt:
    text: str
    defined: tuple[str, ...]  # the names whose definitions it shows (a document: that its lines mention)
    outline: int  # the signatures (headings) of its outline
    head: int  # the lines from its start that fill what is left of its share
    lines: int  # how many of the file's lines it shows in all
    first_line: tuple[int, int] | None = None  # (characters shown, of how many) when only a first line's start fits

    def describe(self, source: bool) -> str:
        """What the cut kept, for the file's label and the context record."""
        kept = [f"the definitions of {', '.join(self.defined)}" if source else
                f"the lines that mention {', '.join(self.defined)}"] if self.defined else []
        kept += [f"an outline of the rest ({'signatures' if source else 'headings'})"] if self.outline else []
        kept += [f"its first {self.head:,} lines"] if self.head else []
        if self.first_line:
            kept.append(f"its first line, cut to {self.first_line[0]:,} of {self.first_line[1]:,} characters")
        return "; ".join(kept or ["nothing"])


def excerpt(text: str, python: bool, source: bool, names: tuple[set[str], set[str]], chars: int) -> Excerpt:
    """`text` cut to about `chars` characters. `names` are the item's main names (`render` of `Report.render`)
    and the others (`Report`). First the definitions of the main names (a document: the lines that mention
    them, with AROUND lines either side), then the outline, then the definitions of the others (a whole class
    may be long: its named methods and its first line are shown first), then the file from its start, in
    order, as far as `chars` goes."""
    main, others = names
    lines = text.splitlines()
    spans = _definitions(lines, python, main) if source else _mentions(lines, main | others)
    outline = [n for n, line in enumerate(lines) if _is_signature(line, python, source)]
    heading = "outline of the rest: its signatures" if source else "outline of the rest: its headings"
    later = _definitions(lines, python, others - main) if source else []
    shown: set[int] = set()
    parts: list[str] = []
    defined: list[str] = []
    left = chars

    def add(numbers: list[int], name: str | None = None, title: str | None = None, again: bool = False) -> int:
        nonlocal left
        wanted = numbers if again else [n for n in numbers if n not in shown]
        taken = _take(lines, wanted, left - len(title or "") - 40)
        if taken:
            part = _numbered(lines, taken, gaps=title is None)
            if title and len(taken) < len(wanted):
                part += f"\n⋮ ({len(wanted) - len(taken):,} more not listed)"
            parts.append(f"⋮ {title}\n{part}" if title else part)
            shown.update(taken)
            left -= len(parts[-1]) + 1
            if name and name not in defined:
                defined.append(name)
        return len(taken)

    for start, end, name in spans:
        add(list(range(start, end)), name)
    outlined = add(outline, title=heading)
    for start, end, name in later:
        add(list(range(start, end)), name)
    head = add(list(range(len(lines))), title="the file from its start, as far as its share goes" if parts else None,
               again=True)  # a signature already shown included: it reads in order
    room = chars - len("1: ") - len(_CUT_LINE.format(count=len(lines[0]) if lines else 0))
    if not parts and lines and MIN_CUT_LINE <= room < len(lines[0]):
        # one long line (minified code, compact JSON): its start, rather than nothing
        text = f"1: {lines[0][:room]}{_CUT_LINE.format(count=len(lines[0]) - room)}"
        return Excerpt(text, (), 0, 0, 1, (room, len(lines[0])))
    return Excerpt("\n".join(parts), tuple(defined), outlined, head, len(shown))


_CUT_LINE = " ⋯ ({count:,} more characters of this line not shown)"


def _is_signature(line: str, python: bool, source: bool) -> bool:
    if not source:
        return bool(_HEADING.match(line))
    pattern = PYTHON_DEFINES if python else OTHER_DEFINES
    return bool(pattern.match(line)) and len(line) - len(line.lstrip()) <= OUTLINE_INDENT


Span = tuple[int, int, str | None]  # lines [start, end) and the name they define or mention


def _definitions(lines: list[str], python: bool, names: set[str]) -> list[Span]:
    """Where each of `names` is defined: from its decorators and comments above to the end of its body, with
    the line of the class it belongs to."""
    pattern = PYTHON_DEFINES if python else OTHER_DEFINES
    spans: list[Span] = []
    for number, line in enumerate(lines):
        match = pattern.match(line)
        name = next((group for group in match.groups() if group), None) if match else None
        if name is None or name not in names:
            continue
        indent = _indent(line)
        start = number
        while start > 0 and lines[start - 1].strip().startswith(("@", "#", "//", "/*", "*", "///")):
            start -= 1
        end = min(_block_end(lines, number, indent, python), number + _MAX_DEFINITION_LINES)
        while end > number + 1 and not lines[end - 1].strip():
            end -= 1
        owner = _owner(lines, number, indent, pattern)
        if owner is not None:
            spans.append((owner, owner + 1, None))
        spans.append((start, end, name))
    return spans


def _block_end(lines: list[str], number: int, indent: int, python: bool) -> int:
    """The line after the definition's body: the next line at its indentation or less (a closing bracket at it
    ends a brace language's body, and goes on a Python signature)."""
    for after in range(number + 1, len(lines)):
        line = lines[after]
        if not line.strip() or _indent(line) > indent:
            continue
        if line.lstrip()[0] in ")]}":
            if python:
                continue
            return after + 1
        return after
    return len(lines)


def _owner(lines: list[str], number: int, indent: int, pattern: re.Pattern[str]) -> int | None:
    """The line of the class (or other definition) an indented definition belongs to."""
    if indent == 0:
        return None
    for before in range(number - 1, -1, -1):
        line = lines[before]
        if line.strip() and _indent(line) < indent:
            return before if pattern.match(line) else None
    return None


def _mentions(lines: list[str], names: set[str]) -> list[Span]:
    """A document's lines that mention one of `names`, with AROUND lines either side: names that tell a place
    (`compute_score`, `RepoContext`), not a word of prose (`issue`) that would mark every other line."""
    names = {name for name in names if len(name) > 3 and ("_" in name or re.search(r"[a-z][A-Z]|\d", name))}
    if not names:
        return []
    words = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b")
    return [(max(0, number - AROUND), min(len(lines), number + AROUND + 1), found.group())
            for number, line in enumerate(lines) if (found := words.search(line))]


def _take(lines: list[str], numbers: list[int], chars: int) -> list[int]:
    """As many of `numbers` as fit in `chars`, counting each line with its number."""
    taken: list[int] = []
    for number in numbers:
        chars -= len(lines[number]) + len(str(number + 1)) + 3
        if chars < 0:
            break
        taken.append(number)
    return taken


def _numbered(lines: list[str], numbers: list[int], gaps: bool = True) -> str:
    """The lines with their numbers; `⋮` where lines are left out between them."""
    out: list[str] = []
    for index, number in enumerate(numbers):
        if gaps and ((index == 0 and number > 0) or (index > 0 and number != numbers[index - 1] + 1)):
            out.append("⋮")
        out.append(f"{number + 1}: {lines[number]}")
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
