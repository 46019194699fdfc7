"""The YAML front matter issue files often start with (`---` ... `---`), read without a YAML library.

Issue files hold a handful of flat keys (`title`, `number`, `labels`, `state`, `url` ...), so only that subset
is read: `key: value` lines whose value is plain, 'single' or "double" quoted, a flow list (`[bug, "needs
design"]`), a block list (`- bug` lines, or `- name: bug` as `gh` exports labels) or text folded over indented
lines (`|` and `>` included). Whatever else a key holds (a nested mapping, an anchor, a tag) is an error only
when a caller reads that key. Nothing is ever constructed from a tag, unlike a full YAML loader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from agentos_jobs.core.errors import FrontMatterError

_KEY = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)\s*:(?:\s+(?P<value>.*?))?\s*")
_FENCES = ("---", "...")
_BLOCK_SCALAR = re.compile(r"[|>][+-]?")
_NULL = ("", "~", "null", "Null", "NULL")


@dataclass
class _Field:
    line: int  # where the key is, 1-based in the file
    inline: str  # what follows `key:` on its own line
    more: list[str] = field(default_factory=list)  # the indented (or `- `) lines under it


@dataclass(frozen=True)
class FrontMatter:
    """The keys of one file's front matter; read them with `text` and `names`."""

    fields: dict[str, _Field]

    def text(self, key: str) -> str | None:
        """A key's value as one string (folded lines joined by spaces); None when absent or null."""
        found = self.fields.get(key)
        if found is None:
            return None
        if found.more and _is_list(found.more):
            raise FrontMatterError(f"line {found.line}: '{key}' is a list; write one value")
        if _BLOCK_SCALAR.fullmatch(found.inline) or (not found.inline and found.more):
            return " ".join(line.strip() for line in found.more) or None
        if found.inline.startswith(("[", "{")):
            raise FrontMatterError(f"line {found.line}: '{key}' must be one value, not {found.inline[0]}...")
        value = _scalar(found.inline, found.line, key)
        return " ".join([value or "", *(line.strip() for line in found.more)]).strip() or None

    def names(self, key: str) -> list[str] | None:
        """A key's value as a list of names: a flow or block list, `- name: x` items, or one comma-separated
        string; None when absent or null."""
        found = self.fields.get(key)
        if found is None:
            return None
        if found.more and not found.inline:
            if not _is_list(found.more):
                raise FrontMatterError(f"line {found.line}: '{key}' must be a list ('- name' lines or [a, b])")
            return [name for item in _block_items(found.more) if (name := _item_name(item, found.line, key))]
        text = " ".join([found.inline, *(line.strip() for line in found.more)]).strip()
        if text.startswith("["):
            if not text.endswith("]"):
                raise FrontMatterError(f"line {found.line}: '{key}': the list opened with '[' is not closed")
            return [name for item in _split_flow(text[1:-1], found.line) if (name := _item_name(item, found.line,
                                                                                             key))]
        value = _scalar(text, found.line, key)
        return [part.strip() for part in (value or "").split(",") if part.strip()] if value else None


def split_front_matter(text: str) -> tuple[FrontMatter | None, str]:
    """(the front matter, the text after it) when the text opens with a `---` line; else (None, the text)."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return None, text
    end = next((n for n in range(1, len(lines)) if lines[n].rstrip() in _FENCES), None)
    if end is None:
        raise FrontMatterError("opened by '---' on line 1 but never closed; end it with a '---' line")
    fields: dict[str, _Field] = {}
    current: _Field | None = None
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t" or line.startswith("- ") or line == "-":
            if current is None:
                raise FrontMatterError(f"line {number}: an indented or '- ' line before any 'key:' line")
            current.more.append(line)
            continue
        match = _KEY.fullmatch(line)
        if not match:
            raise FrontMatterError(f"line {number}: expected 'key: value', got {line.strip()[:60]!r}")
        current = _Field(number, _strip_comment(match.group("value") or ""))
        fields[match.group("key")] = current
    return FrontMatter(fields), "\n".join(lines[end + 1 :])


def _strip_comment(value: str) -> str:
    """A plain value ends where ` #` starts a comment; quoted values keep theirs."""
    if value.startswith(("'", '"')):
        return value
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _scalar(value: str, line: int, key: str) -> str | None:
    value = value.strip()
    if value in _NULL:
        return None
    if value.startswith('"'):
        try:
            parsed = json.loads(value)  # YAML's double-quoted escapes, as far as issue files use them
        except ValueError:
            raise FrontMatterError(f"line {line}: '{key}': a double-quoted value that is not closed or has an "
                                   "escape JSON does not know") from None
        return str(parsed)
    if value.startswith("'"):
        if len(value) < 2 or not value.endswith("'"):
            raise FrontMatterError(f"line {line}: '{key}': a single-quoted value that is not closed")
        return value[1:-1].replace("''", "'")
    if value[0] in "&*!|>%@`":
        raise FrontMatterError(f"line {line}: '{key}': anchors, aliases, tags and reserved characters are not "
                               "read; write the value plainly or quote it")
    return value


def _is_list(lines: list[str]) -> bool:
    return lines[0].lstrip().startswith("- ") or lines[0].strip() == "-"


def _block_items(lines: list[str]) -> list[str]:
    """`- a` lines, each with the deeper lines under it (a `- name: bug` item's `color: ...`) folded in."""
    items: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("- ") or stripped == "-":
            items.append(stripped[2:])
        else:
            items[-1] += "\n" + stripped
    return items


def _split_flow(inner: str, line: int) -> list[str]:
    """The items of `[a, "b, c", {name: d}]` between the brackets, split at commas outside quotes and braces."""
    items, current, quote, depth = [], "", "", 0
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += char
    if quote or depth:
        raise FrontMatterError(f"line {line}: a list with an unclosed quote or bracket")
    return [item.strip() for item in [*items, current] if item.strip()]


def _item_name(item: str, line: int, key: str) -> str | None:
    """A list item as a name: a scalar, or the `name` of a mapping (`{name: bug}`, `name: bug`)."""
    mapping = item.strip()
    if mapping.startswith("{") and mapping.endswith("}"):
        mapping = "\n".join(part.strip() for part in _split_flow(mapping[1:-1], line))
    pairs = [_KEY.fullmatch(part.strip()) for part in mapping.splitlines()]
    if pairs and all(pairs) and not mapping.startswith(("'", '"')):
        named = {pair.group("key"): pair.group("value") or "" for pair in pairs if pair}
        if "name" not in named:
            raise FrontMatterError(f"line {line}: '{key}': an item that is a mapping needs a 'name'")
        return _scalar(_strip_comment(named["name"]), line, key)
    return _scalar(_strip_comment(item), line, key)
