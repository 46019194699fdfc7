"""Path globs as git reads them, for the `context` setting and for .gitignore patterns read by the walk outside
git: `*` and `?` stay within a folder, `[...]` is a class, `**/` is any folders or none (so `**/x` is `x` at the
top too, and `a/**/b` is `a/b`), another `**` anything, `\\` makes the next character plain."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=512)  # the walk asks for each rule at every file
def glob_regex(pattern: str) -> re.Pattern[str]:
    """The pattern as a regular expression to match a whole slash-separated path with (`fullmatch`)."""
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):  # `\#notes`, `\*`: the next character as itself
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        close = pattern.find("]", index + 2)
        if char == "[" and close > 0:
            inner = pattern[index + 1 : close]
            parts.append("[" + ("^" + inner[1:] if inner.startswith("!") else inner).replace("\\", "\\\\") + "]")
            index = close + 1
            continue
        parts.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        index += 1
    return re.compile("".join(parts))
