"""Discovery: which issues and briefs exist, what each is called, and the hash that says if it changed. A file
in an inputs folder that gives no item is named with the reason, so nothing is passed over without a word."""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentos_jobs.core.errors import FrontMatterError, InputError, NotRepoContent
from agentos_jobs.core.fsutil import display_path, parse_json
from agentos_jobs.core.ids import MAX_ID_LENGTH, slugify, validate_item_id, validate_workflow
from agentos_jobs.core.settings import Settings, load_settings
from agentos_jobs.core.text import one_line, shown_name
from agentos_jobs.items.front_matter import split_front_matter
from agentos_jobs.repo.files import read_repo_file, repo_content_problem
from agentos_jobs.repo.redact import redact

ISSUE_NAMES = "<N>.md, <N>-<slug>.md or <N>.json"
_ISSUE_FILE = re.compile(r"(?P<number>[0-9]+)(?:-[^/\\]*)?\.md|(?P<jnumber>[0-9]+)\.json")
_OTHER_DIGITS = re.compile(r"\d+(?:-[^/\\]*)?\.md|\d+\.json")  # \d: the digits of any script (full-width ones)


@dataclass(frozen=True)
class Document:
    """What a workflow reads from an item's input file."""

    title: str
    body: str
    labels: tuple[str, ...] = ()
    number: int | None = None
    url: str | None = None  # the issue's page, when its file says it (front matter or gh's JSON `url`)


@dataclass(frozen=True)
class Item:
    """One unit of work: one doit task, one wrapper process, one checkpoint, one marker."""

    workflow: str
    id: str
    title: str
    sources: tuple[Path, ...]
    input_hash: str
    root: Path = field(compare=False)  # the repository: no input is read from outside it
    error: str | None = field(default=None, compare=False)
    document: Document | None = field(default=None, compare=False, repr=False)  # as read for its hash

    @property
    def source(self) -> Path:
        return self.sources[0]


def _hash(paths: tuple[Path, ...], root: Path, read: dict[Path, bytes]) -> str:
    """Of names and contents (those in `read` as they were read); an unreadable file hashes by name only (its
    item fails, naming the file)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.fsencode(path.name))
        digest.update(b"\0")
        try:
            digest.update(read[path] if path in read else read_repo_file(path, root))
        except (OSError, NotRepoContent):
            digest.update(b"\0unreadable")
    return digest.hexdigest()


def _read_text(path: Path, root: Path, read: dict[Path, bytes] | None = None) -> str:
    """The file's text; its bytes are kept in `read`, when given, for its hash."""
    try:
        data = read_repo_file(path, root)
        if read is not None:
            read[path] = data
    except NotRepoContent as exc:
        raise InputError(f"{shown_name(path)}: not read: {exc}") from None
    except OSError as exc:
        raise InputError(f"{shown_name(path)}: cannot be read ({exc.strerror}); check its permissions") from None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is no part of the text
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown_name(path)}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _split_heading(text: str) -> tuple[str, str] | None:
    """(title, the rest) when the first line that is not blank is a `# Title` heading."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        match = re.fullmatch(r"#\s+(.+?)\s*#*\s*", line)
        if not match:
            return None
        return one_line(match.group(1)), "\n".join(lines[index + 1 :]).strip()
    return None


_N, _DASH = r"(\d+)", r"[:.\u2013\u2014-]"
_OWN_REFERENCE = re.compile("(?:" + "|".join((
    rf"\[\s*(?:issue\s*)?#?{_N}\s*\]\s*{_DASH}?",  # [#497]
    rf"(?:issue|lld)[\s-]*#\s*{_N}\s*{_DASH}?",  # Issue #497:, Issue #497
    rf"(?:issue|lld)[\s-]*{_N}\s*{_DASH}",  # LLD-497:, Issue 497 -
    rf"#{_N}\s*{_DASH}?", rf"{_N}\s*[:\u2013\u2014-]")) + r")\s+", re.IGNORECASE)  # #497, 497:


def plain_title(title: str, number: int | None) -> str:
    """The title without a leading reference to its own issue (`Issue #497: `, `#497 `, `[#497] `, `LLD-497: `),
    which every output that names the issue adds again: `LLD-497: Issue #497: ...` would say it twice. One
    pattern for every number (compiled per number, 5,000 issues took seconds to list)."""
    match = _OWN_REFERENCE.match(title) if number is not None else None
    digits = next((group for group in match.groups() if group is not None), "") if match else ""
    if not match or (digits.lstrip("0") or "0") != str(number):
        return title
    return title[match.end() :].strip() or title


def _same_title(a: str, b: str, number: int | None) -> bool:
    return " ".join(plain_title(a, number).casefold().split()) == " ".join(plain_title(b, number).casefold().split())


def _read_markdown(path: Path, text: str, number: int | None, fix: str) -> Document | None:
    """A Markdown item: front matter (title, number, labels) and/or a `# Title` heading, then the body as
    written (tables and code blocks untouched). None when it has neither a title nor front matter."""
    try:
        front, rest = split_front_matter(text)
        title = front.text("title") if front else None
        labels = tuple(front.names("labels") or ()) if front else ()
        stated = front.text("number") if front else None
        url = front.text("url") if front else None
    except FrontMatterError as exc:
        raise InputError(f"{shown_name(path)}: front matter {exc}") from None
    if stated is not None and number is not None and stated.lstrip("#").strip() != str(number):
        raise InputError(f"{shown_name(path)}: front matter 'number' is {stated!r} but the file name says {number}; "
                         "make them agree")
    heading = _split_heading(rest)
    if title and heading and _same_title(heading[0], title, number):
        rest = heading[1]  # the front matter's title, repeated as the first heading: said once
    elif not title and heading:
        title, rest = heading
    if not title:
        if front is None:
            return None
        raise InputError(f"{shown_name(path)}: the front matter has no 'title' and no '# Title' heading follows "
                         f"it; {fix}")
    return Document(title=plain_title(one_line(title), number), body=rest.strip(), labels=labels, number=number,
                    url=url)


def parse_issue(path: Path, root: Path, read: dict[Path, bytes] | None = None) -> Document:
    """Read an issue file of the repository at `root`: `<N>.md`/`<N>-<slug>.md` with front matter (`title`,
    `number`, `labels`) and/or a `# Title` heading, or `<N>.json` as `gh` writes it."""
    number, why = _issue_id(path.name)
    if number is None:
        raise InputError(f"{shown_name(path)}: {why}")
    text = _read_text(path, root, read)
    if path.suffix == ".md":
        fix = "add 'title: <issue title>' to the front matter or start the text with '# <issue title>'"
        document = _read_markdown(path, text, int(number), fix)
        if document is None:
            raise InputError(f"{shown_name(path)}: the first line is not a '# Title' heading or '---' front "
                             f"matter; {fix}")
        return document
    return _parse_issue_json(path, text, int(number))


def _parse_issue_json(path: Path, text: str, expected: int) -> Document:
    try:
        data = parse_json(text)
    except ValueError as exc:
        raise InputError(f"{shown_name(path)}: not valid JSON ({exc}); "
                         "write one object as 'gh issue list --json number,title,body,labels' gives it") from None
    if not isinstance(data, dict):
        raise InputError(f"{shown_name(path)}: expected one JSON object with number, title, body and labels, "
                         f"got {type(data).__name__}")
    number, title = data.get("number"), data.get("title")
    body, labels = data.get("body") or "", data.get("labels") or []
    if not isinstance(number, int) or isinstance(number, bool) or number != expected:
        raise InputError(f"{shown_name(path)}: 'number' is {number!r} but the file name says {expected}; "
                         "make them agree")
    if not isinstance(title, str) or not one_line(title):
        raise InputError(f"{shown_name(path)}: 'title' must be a non-empty string")
    if not isinstance(body, str) or not isinstance(labels, list):
        raise InputError(f"{shown_name(path)}: 'body' must be a string and 'labels' a list")
    names = tuple(str(label.get("name", "")) if isinstance(label, dict) else str(label) for label in labels)
    url = data.get("url") if isinstance(data.get("url"), str) else None
    return Document(title=plain_title(one_line(title), number), body=body.strip(), labels=names, number=number,
                    url=url)


def parse_brief(path: Path, root: Path, read: dict[Path, bytes] | None = None) -> Document:
    """Read a brief of the repository at `root`: any Markdown; its title from front matter or a `# Title`
    heading if it has one, else its file name."""
    text = _read_text(path, root, read)
    if not text.strip():
        raise InputError(f"{shown_name(path)}: the brief is empty; write a few lines about the idea")
    document = _read_markdown(path, text, None, "add 'title: ...' to the front matter")
    if document is None:
        title = one_line(path.stem.replace("-", " ").replace("_", " ")).capitalize()
        return Document(title=title, body=text.strip())
    return document


def _one_per_file(paths: list[Path]) -> list[Path]:
    """One name per file: a link or a hard link beside the file it names is that file, not a second one. The
    file's own name is kept before a link's."""
    kept: dict[object, Path] = {}
    for path in sorted(paths, key=lambda p: (p.is_symlink(), p)):
        try:
            info = path.stat()
            kept.setdefault((info.st_dev, info.st_ino), path)
        except OSError:
            kept.setdefault(path, path)
    return list(kept.values())


def _make_item(workflow: str, item_id: str, paths: list[Path], root: Path) -> Item:
    """The item, or one that fails naming its problem: its title then says what the problem is (`(7.json: not
    valid JSON ...)`), never that a readable file cannot be read."""
    sources = tuple(sorted(_one_per_file(paths)))
    error = problem = document = None
    read: dict[Path, bytes] = {}  # each file is read once, for its document and its hash
    if len(sources) > 1:
        problem = f"several files give item {item_id}; keep one"
        error = f"{', '.join(shown_name(p) for p in sources)}: {problem}"
    else:
        try:
            document = _parse(workflow, sources[0], root, read)
        except InputError as exc:
            error = str(exc)
            problem = f"{shown_name(sources[0].name)}: {error.removeprefix(shown_name(sources[0]) + ': ')}"
    # the title as listed, logged and summarized: credentials redacted (the workflow redacts the whole document)
    return Item(workflow=workflow, id=item_id, title=redact(document.title)[0] if document else f"({problem})",
                sources=sources, input_hash=_hash(sources, root, read), root=root, error=error, document=document)


@dataclass(frozen=True)
class Listing:
    """An inputs folder: each item id with its files, and one line for every file that gives no item."""

    files: dict[str, list[Path]]
    ignored: list[str]


def list_inputs(settings: Settings, workflow: str) -> Listing:
    """Item id -> its input files, in a stable order (issue number, then brief slug), and why each other file
    gives no item (`ignored docs/issues/notes.md: not <N>.md, ...`). Reads no file."""
    folder = settings.inputs_dir(workflow)
    groups: dict[str, list[Path]] = defaultdict(list)
    ignored = []
    try:
        paths = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as exc:
        paths = []
        ignored.append(f"ignored {_shown(folder, settings)}: the folder cannot be listed ({exc.strerror})")
    for path in paths:
        item_id, why = _classify(workflow, path, settings.root)
        if item_id is not None:
            groups[item_id].append(path)
        elif why:
            ignored.append(f"ignored {_shown(path, settings)}: {why}")
    order = sorted(groups, key=int) if workflow == "lld" else sorted(groups)
    return Listing({item_id: groups[item_id] for item_id in order}, ignored)


def _shown(path: Path, settings: Settings) -> str:
    return shown_name(display_path(path, settings.root))


def _classify(workflow: str, path: Path, root: Path) -> tuple[str | None, str | None]:
    """(its item id, None) for an input, else (None, why it gives no item); (None, None) for what a folder of
    inputs may hold besides them, a hidden file or a folder not named like an input (`.gitkeep`, `drafts/`)."""
    name = path.name
    like_input = name.endswith((".md", ".json") if workflow == "lld" else ".md")
    if not like_input and (name.startswith(".") or os.path.isdir(path)):  # noqa: PTH112 (False, not an error, if unsure)
        return None, None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return None, "its name is not UTF-8; rename it"
    if not name.isprintable():  # it could not be shown as it is, in a title, a message or a prompt
        return None, "its name holds characters that cannot be shown (here escaped); rename it"
    if name.startswith("."):
        return None, "its name starts with '.'"
    if workflow == "lld":
        item_id, why = _issue_id(name)
    else:
        item_id, why = (slugify(path.stem), None) if like_input else (None, "not a *.md brief")
    if item_id is None:
        return None, why
    why = repo_content_problem(path, root)
    return (None, why) if why else (item_id, None)


def _issue_id(name: str) -> tuple[str | None, str | None]:
    """The issue number an issue file's name gives, as an id (`007.md` gives `7`), or (None, why not)."""
    match = _ISSUE_FILE.fullmatch(name)
    if not match:
        return None, "its number is not in the digits 0-9" if _OTHER_DIGITS.fullmatch(name) else f"not {ISSUE_NAMES}"
    number = (match.group("number") or match.group("jnumber")).lstrip("0") or "0"
    if len(number) > MAX_ID_LENGTH:  # no issue tracker's; and an id is at most this long
        return None, f"an issue number of {len(number)} digits (at most {MAX_ID_LENGTH})"
    return number, None


def discover(settings: Settings, workflow: str) -> tuple[list[Item], list[str]]:
    """Every item of a workflow, done or not, and a line for each file of its folder that gives no item."""
    listing = list_inputs(settings, workflow)
    items = [_make_item(workflow, item_id, paths, settings.root) for item_id, paths in listing.files.items()]
    return items, listing.ignored


def open_item(workflow: str, item_id: str, sources: Sequence[str] = ()) -> tuple[Settings, Item]:
    """What every entry point does first (`agentos-jobs run`, the wrapper, the workflow process): check the ids,
    read the settings and find the item: at the paths its parent found it by (no folder is listed), else, for
    one started by hand, in its inputs folder. Raises InvalidItemId, ConfigError, InputError."""
    validate_workflow(workflow)
    validate_item_id(item_id)
    settings = load_settings()
    if sources:
        return settings, _make_item(workflow, item_id, [Path(source) for source in sources], settings.root)
    return settings, find_item(settings, workflow, item_id)


def find_item(settings: Settings, workflow: str, item_id: str) -> Item:
    """One item, reading only its own files."""
    paths = list_inputs(settings, workflow).files.get(item_id)
    if paths is None:
        raise InputError(f"no {workflow} item {item_id!r} in {shown_name(settings.inputs_dir(workflow))}; "
                         "'doit list --all' shows the items there are, and why a file is ignored")
    return _make_item(workflow, item_id, paths, settings.root)


def load_document(item: Item) -> Document:
    """The item's text, as it was when it was found (and hashed)."""
    if item.error or item.document is None:
        raise InputError(item.error or f"{shown_name(item.source)}: not read")
    return item.document


def _parse(workflow: str, path: Path, root: Path, read: dict[Path, bytes] | None = None) -> Document:
    return parse_issue(path, root, read) if workflow == "lld" else parse_brief(path, root, read)
