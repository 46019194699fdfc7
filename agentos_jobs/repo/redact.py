"""Credentials written inside ordinary files, found by what they look like and redacted before a file is sent.

A small rule table of our own rather than a scanner package: the shapes below are the providers' published
formats (the ones detect-secrets and gitleaks match too), each found fast from its literal start (some 35 MB a
second against detect-secrets' 0.12, as many hits on the same files), and no dependency comes with it (README,
"What the models see"). A hit becomes `<redacted: RULE>`; only the rule's name is ever said, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# (rule, pattern): the providers' published formats, each redacted whole. Each pattern starts with a literal,
# which the regular expression engine finds fast; that no word goes on before it is checked apart.
RULES = (
    ("private-key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?-----END (?:[A-Z0-9]+ )*PRIVATE "
                    r"KEY(?: BLOCK)?-----|.*)"),
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai-key", r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("google-api-key", r"AIza[0-9A-Za-z_-]{35}"),
    ("github-token", r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("github-token", r"github_pat_[A-Za-z0-9_]{22,}"),
    ("aws-access-key", r"A(?:KI|SI|BI|CC)A[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-token", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    ("stripe-key", r"[rs]k_live_[0-9A-Za-z]{20,}"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)
_FORMATS = tuple((rule, re.compile(pattern)) for rule, pattern in RULES)
# A password in a URL (`postgres://app:PASSWORD@db`, or with no user name `redis://:PASSWORD@cache`): the
# password alone is redacted.
_URL_PASSWORD = re.compile(r"://[^\s:/@'\"]*:([^\s:/@'\"]{3,})@")
# A value assigned to a secret's name (`DB_PASSWORD=...`, `token: ...`, `"api_key": "..."`) when it looks random:
# the value alone is redacted. The names are looked for in the text lowercased (one fast pass), then each place
# is read with the whole pattern.
_SECRET_NAME = re.compile(r"(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                          r"auth[_-]?key|credential)s?[\w.-]*[\"']?[ \t]*(?::=|=>|=|:(?!:))")
_ASSIGNED = re.compile(r"[\w.-]*[\"']?[ \t]*(?::=|=>|=|:(?!:))[ \t]*"
                       r"(?:\"([^\"\n]{8,})\"|'([^'\n]{8,})'|([^\s'\",;#(){}\[\]<>]{8,}))")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# A value that names another (`${DB_PASSWORD}`, `%(token)s`, `{{ secret }}`, `settings.token`), a path or a date.
_REFERENCE = re.compile(r"^[~.]?/|^\d{4}-\d\d-\d\d|^\$\{?\w+\}?$|^%\(?\w+\)?s?$|^\{\{.*\}\}$|"
                        r"^(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*$")
MIN_ENTROPY = 3.0  # bits a character: random keys and passwords are above it, words and names below


def redact(text: str) -> tuple[str, list[str]]:
    """The text with every credential it holds as `<redacted: RULE>`, and the rules that hit, in the text's
    order."""
    spans: list[tuple[int, int, int, str]] = []  # (start, rank, end, rule): of overlapping ones, the first kept
    for rule, pattern in _FORMATS:
        spans += [(m.start(), 0, m.end(), rule) for m in pattern.finditer(text) if _starts_word(text, m.start())]
    spans += [(m.start(1), 1, m.end(1), "url-password") for m in _URL_PASSWORD.finditer(text)]
    lowered = text.lower()
    lowered = lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)
    for hit in _SECRET_NAME.finditer(lowered):
        start = hit.start()
        while start > 0 and _in_name(text[start - 1]):  # the name's start: `DB_` of `DB_PASSWORD`
            start -= 1
        match = _ASSIGNED.match(text, start)
        group = next((n for n in (1, 2, 3) if match and match.group(n) is not None), 0)
        if match and group and _looks_random(match.group(group)):
            spans.append((match.start(group), 2, match.end(group), "assigned-secret"))
    out, hits, at = [], [], 0
    for start, _, end, rule in sorted(spans):
        if start < at:
            continue
        out += [text[at:start], f"<redacted: {rule}>"]
        hits.append(rule)
        at = end
    return "".join([*out, text[at:]]), hits


def counted(rules: list[str]) -> str:
    """The rules that hit, each once with its count, in order: `github-token (1), url-password (2)`."""
    return ", ".join(f"{rule} ({rules.count(rule)})" for rule in dict.fromkeys(rules))


def _starts_word(text: str, at: int) -> bool:
    return at == 0 or not (text[at - 1].isalnum() or text[at - 1] in "_-")


def _in_name(char: str) -> bool:
    return char.isalnum() or char in "_.-"


def _looks_random(value: str) -> bool:
    """A value assigned to a secret's name that is no reference (`${DB_PASSWORD}`, `settings.token`, a path)
    and mixes letters with digits or symbols at MIN_ENTROPY or more: a real one, not a placeholder word."""
    if _REFERENCE.match(value) or " " in value.strip():
        return False
    letters = any(char.isalpha() for char in value)
    others = any(not char.isalpha() for char in value.replace("_", "").replace("-", "").replace(".", ""))
    return letters and others and _entropy(value) >= MIN_ENTROPY


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
