"""Discovery: which issues and briefs exist, what each is called, and the hash that says if it changed."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .fsutil import parse_json
from .ids import InvalidItemId, slugify, validate_item_id
from .text import one_line

_ISSUE_FILE = re.compile(r"(?P<number>\d+)(?:-[^/\\]*)?\.md|(?P<jnumber>\d+)\.json")


class InputError(Exception):
    """An input file that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Document:
    """What a workflow reads from an item's input file."""

    title: str
    body: str
    labels: tuple[str, ...] = ()
    number: int | None = None


@dataclass(frozen=True)
class Item:
    """One unit of work: one doit task, one wrapper process, one checkpoint, one marker."""

    workflow: str
    id: str
    title: str
    sources: tuple[Path, ...]
    input_hash: str
    error: str | None = field(default=None, compare=False)

    @property
    def source(self) -> Path:
        return self.sources[0]


def _hash(paths: tuple[Path, ...]) -> str:
    """Of names and contents; an unreadable file hashes by name only (its item fails, naming the file)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0unreadable")
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None


def _split_heading(text: str, path: Path, fix: str) -> tuple[str, str]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        match = re.fullmatch(r"#\s+(.+?)\s*#*\s*", line)
        if not match:
            break
        return one_line(match.group(1)), "\n".join(lines[index + 1 :]).strip()
    raise InputError(f"{path}: the first line is not a '# Title' heading; {fix}")


def parse_issue(path: Path) -> Document:
    """Read an issue file: `<N>.md`/`<N>-<slug>.md` with a `# Title` heading, or `<N>.json` as `gh` writes it."""
    text = _read_text(path)
    if path.suffix == ".md":
        title, body = _split_heading(text, path, "start the file with '# <issue title>'")
        return Document(title=title, body=body, number=int(path.name.split("-")[0].split(".")[0]))
    return _parse_issue_json(path, text)


def _parse_issue_json(path: Path, text: str) -> Document:
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); "
                         "write one object as 'gh issue list --json number,title,body,labels' gives it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected one JSON object with number, title, body and labels, "
                         f"got {type(data).__name__}")
    number, title = data.get("number"), data.get("title")
    body, labels = data.get("body") or "", data.get("labels") or []
    expected = int(path.stem)
    if not isinstance(number, int) or isinstance(number, bool) or number != expected:
        raise InputError(f"{path}: 'number' is {number!r} but the file name says {expected}; make them agree")
    if not isinstance(title, str) or not one_line(title):
        raise InputError(f"{path}: 'title' must be a non-empty string")
    if not isinstance(body, str) or not isinstance(labels, list):
        raise InputError(f"{path}: 'body' must be a string and 'labels' a list")
    names = tuple(str(label.get("name", "")) if isinstance(label, dict) else str(label) for label in labels)
    return Document(title=one_line(title), body=body.strip(), labels=names, number=number)


def parse_brief(path: Path) -> Document:
    """Read a brief: any Markdown; its `# Title` heading if it has one, else its file name."""
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path}: the brief is empty; write a few lines about the idea")
    try:
        title, body = _split_heading(text, path, "")
    except InputError:
        title, body = one_line(path.stem.replace("-", " ").replace("_", " ")).capitalize(), text.strip()
    return Document(title=title, body=body)


def _make_item(workflow: str, item_id: str, paths: list[Path]) -> Item:
    sources = tuple(sorted(paths))
    error = None
    title = ""
    if len(sources) > 1:
        names = ", ".join(str(p) for p in sources)
        error = f"{names}: several files give item {item_id}; keep one"
    else:
        try:
            title = _parse(workflow, sources[0]).title
        except InputError as exc:
            error = str(exc)
    return Item(workflow=workflow, id=item_id, title=title or f"(cannot be read: {sources[0].name})",
                sources=sources, input_hash=_hash(sources), error=error)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def _input_files(settings: Settings, workflow: str) -> dict[str, list[Path]]:
    """Item id -> its input files, in a stable order (issue number, then brief slug); reads no file."""
    groups: dict[str, list[Path]] = defaultdict(list)
    if workflow == "lld":
        for path in _files(settings.inputs_dir(workflow)):
            match = _ISSUE_FILE.fullmatch(path.name)
            if match:
                groups[str(int(match.group("number") or match.group("jnumber")))].append(path)
        order = sorted(groups, key=int)
    else:
        for path in _files(settings.inputs_dir(workflow)):
            if path.suffix == ".md" and not path.name.startswith("."):
                groups[slugify(path.stem)].append(path)
        order = sorted(groups)
    valid = {}
    for item_id in order:
        try:
            valid[validate_item_id(item_id)] = groups[item_id]
        except InvalidItemId:
            continue  # an issue number of over 100 digits: no issue tracker's
    return valid


def discover(settings: Settings, workflow: str) -> list[Item]:
    """Every item of a workflow, done or not."""
    return [_make_item(workflow, item_id, paths) for item_id, paths in _input_files(settings, workflow).items()]


def find_item(settings: Settings, workflow: str, item_id: str) -> Item:
    """One item, reading only its own files."""
    paths = _input_files(settings, workflow).get(item_id)
    if paths is None:
        raise InputError(f"no {workflow} item {item_id!r} in {settings.inputs_dir(workflow)}; "
                         "'doit list --all' shows the items there are")
    return _make_item(workflow, item_id, paths)


def load_document(item: Item) -> Document:
    if item.error:
        raise InputError(item.error)
    return _parse(item.workflow, item.source)


def _parse(workflow: str, path: Path) -> Document:
    return parse_issue(path) if workflow == "lld" else parse_brief(path)
