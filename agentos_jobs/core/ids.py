"""Item ids: the one piece of outside input that becomes part of file paths and process arguments."""

from __future__ import annotations

import hashlib
import re

from agentos_jobs.core.errors import InvalidItemId

MAX_ID_LENGTH = 100
WORKFLOWS = ("lld", "issue")

_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RULE = "ids are issue numbers or slugs of letters, digits, '.', '_' and '-'"


def validate_item_id(raw: str) -> str:
    """Return `raw` unchanged if it is safe to use in a path and a command line, else raise InvalidItemId."""
    shown = ascii(raw)
    problem = None
    if not raw:
        problem = "it is empty"
    elif len(raw) > MAX_ID_LENGTH:
        problem = f"it is {len(raw)} characters long (at most {MAX_ID_LENGTH})"
    elif "\x00" in raw or "\n" in raw or "\r" in raw:
        problem = "it contains a NUL or newline character"
    elif "/" in raw or "\\" in raw:
        problem = "it contains a path separator"
    elif ".." in raw:
        problem = "it contains '..'"
    elif raw.startswith("-"):
        problem = "it starts with '-'"
    elif not _VALID.fullmatch(raw):
        problem = "it contains characters other than letters, digits, '.', '_' and '-'"
    if problem:
        raise InvalidItemId(f"invalid item id {shown}: {problem}; {_RULE} (at most {MAX_ID_LENGTH} characters)")
    return raw


def validate_workflow(name: str) -> str:
    if name not in WORKFLOWS:
        raise InvalidItemId(f"unknown workflow {name!a}: use one of {', '.join(WORKFLOWS)}")
    return name


def slugify(text: str) -> str:
    """The id of a brief: its file stem in lower case, runs of anything else folded to '-'. A name with no
    ASCII letter or digit (`日本語.md`) gets a stable `brief-<hash>` id rather than being passed over."""
    slug = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-._")
    slug = re.sub(r"\.{2,}", ".", slug)[:MAX_ID_LENGTH].strip("-._")
    return slug or f"brief-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def prefix_for(workflow: str, item_id: str) -> str:
    """`LLD-42`, `ISSUE-add-oauth`: the tag on every output line, log file name and summary row."""
    return f"{workflow.upper()}-{item_id}"
