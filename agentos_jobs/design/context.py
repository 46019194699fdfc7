"""What the models see of the repository: labelled blocks with its file tree, the full text of the files the
`context` setting names and of the files the item names (paths, and identifiers such as `compute_score` or
`pkg.module.func` resolved to the files that define them), within `context_tokens`.

Every file comes from `repofiles`: what git lists (never a file it ignores), never a secret-looking name, never
a link out of the repository. The context is built once per item and kept in its checkpoint (beside the input's
hash: it is no paid step), so a resumed item is reviewed against the context it was drafted with, even if the
files changed since.
"""

from __future__ import annotations

import builtins
import functools
import json
import re
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

from agentos_jobs.core.errors import NotRepoContent, StepFailed
from agentos_jobs.core.fsutil import describe_os_error, display_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.design.excerpt import OTHER_DEFINES, PYTHON_DEFINES, excerpt
from agentos_jobs.items.discovery import Document
from agentos_jobs.providers.base import CHARS_PER_TOKEN, estimate_tokens
from agentos_jobs.repo.files import Listed, git_ignored, kept_listing, listed_files, read_repo_file
from agentos_jobs.repo.globs import glob_regex
from agentos_jobs.repo.redact import counted, redact
from agentos_jobs.steps.engine import Engine

CHECKPOINT_KEY = "context"
TREE_SHARE = 4  # the file tree takes at most a quarter of the budget
TREE_TAIL_FOLDERS = 8  # the folders a cut tree counts the unlisted paths of
TREE_TAIL_TOKENS = 60  # kept for that line
MAX_DEFINERS = 3  # a name defined in more files than this is too common to tell which one is meant
RECEIVERS = {"self", "cls", "this"}  # `self.value` names `value`: no file defines `self`
MAX_NAMES_LOOKED_FOR = 8  # a file is looked at for at most so many names before it is searched
MAX_PLACES_SEARCHED = 20  # a Python file that holds the names at more places is searched whole, once
MAX_SCANNED_BYTES = 1_000_000  # a bigger source file is generated, not written: not searched for definitions
MAX_CUTS_LOGGED = 10  # the log line names so many files cut or left out; the context record names each

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"\w")
_PATH_LIKE = re.compile(r"(?<![\w@:/.-])(?:\./)?(?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][\w]{0,7}(?![\w/])|"
                        r"(?<![\w@:/.-])(?:\./)?(?:[\w.-]+/)+[\w.-]+")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_BARE_IDENTIFIER = re.compile(r"(?<![\w./-])(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){2,}|[a-z]\w*_\w+|[A-Za-z_]\w*(?=\(\)))")
_TEST = re.compile(r"(?:^|/)(?:tests?|__tests__|specs?)/|(?:^|/)(?:test_[^/]*|conftest\.py)$|"
                   r"_test\.\w+$|\.(?:test|spec)\.\w+$")
_DOCUMENT = re.compile(r"(?:^|/)docs?/|\.(?:md|markdown|rst|txt|adoc|html?)$", re.IGNORECASE)
_FOREIGN = frozenset(sys.stdlib_module_names) | frozenset(dir(builtins))  # names no repository defines for itself
_BUILD_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "package.json", "Cargo.toml", "go.mod", "Makefile",
                "Dockerfile", "pom.xml", "build.gradle")
_OTHER_SOURCES = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".go", ".rs", ".java", ".kt", ".rb", ".php", ".cs",
                  ".swift", ".scala", ".c", ".h", ".cc", ".cpp", ".hpp")


@dataclass(frozen=True)
class RepoContext:
    """The blocks, and what went in, what was cut and why. `shared` is the same for every item of a repository
    (while its files do not change), so it goes first in every prompt; `item` holds this item's own files."""

    shared: str = ""
    item: str = ""
    files: tuple[tuple[str, str, int], ...] = ()  # (path, why it is shown, tokens)
    cut: tuple[str, ...] = ()  # what did not fit context_tokens: left out, or cut to what the item needs of it
    notes: tuple[str, ...] = ()  # what was left out for another reason, or could not be found
    tokens: int = 0
    redacted: tuple[str, ...] = ()  # "path: rule (count), ...": credentials found in a file and redacted

    @property
    def parts(self) -> tuple[str, ...]:
        """What goes before a call's own text, the part every item shares first."""
        return tuple(part for part in (self.shared, self.item) if part)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RepoContext:
        data = json.loads(text)
        return cls(shared=data["shared"], item=data["item"], files=tuple(tuple(f) for f in data["files"]),
                   cut=tuple(data["cut"]), notes=tuple(data["notes"]), tokens=data["tokens"],
                   redacted=tuple(data.get("redacted", ())))

    def record(self, budget: int) -> str:
        """What the lineage keeps (`000-context.md`): what the models were shown of the repository, and what
        was cut or left out, once the checkpoint that holds the blocks themselves is gone."""
        lines = ["# Context", "", f"What the models were shown of the repository: {self.tokens:,} of {budget:,} "
                 f"tokens (estimated at {CHARS_PER_TOKEN} characters a token).", ""]
        if self.files:
            lines += ["| Shown | Why | Tokens |", "|---|---|---|"]
            lines += [f"| `{path}` | {why} | {tokens:,} |" for path, why, tokens in self.files]
        lines += ["", "## Cut to fit context_tokens", "", *(f"- {cut}" for cut in self.cut or ("nothing",))]
        if self.redacted:
            lines += ["", "## Credentials redacted", "", *(f"- {found}" for found in self.redacted)]
        if self.notes:
            lines += ["", "## Left out or not found", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def summary(self, budget: int) -> str:
        """One log line: what the models are shown, what was cut to fit and why anything else is missing."""
        line = (f"context: the file tree and {len(self.files) - 1} file(s), {self.tokens:,} of {budget:,} tokens "
                f"(estimated at {CHARS_PER_TOKEN} characters a token)") if self.files else "context: none"
        if self.cut:
            more = len(self.cut) - MAX_CUTS_LOGGED
            line += f"; cut to fit context_tokens: {', '.join(self.cut[:MAX_CUTS_LOGGED])}"
            line += f" and {more:,} more (000-context.md names each)" if more > 0 else ""
        if self.redacted:
            line += f"; credentials redacted: {', '.join(self.redacted)}"
        return "; ".join([line, *self.notes])


def item_context(engine: Engine, document: Document) -> RepoContext:
    """The item's context: as its checkpoint recorded it, else built now and recorded; said in the item's log
    either way. A checkpoint that cannot be written (a full disk) fails the item in one line."""
    kept = engine.checkpoint.meta(CHECKPOINT_KEY)
    context = None
    if kept is not None:
        try:
            context = RepoContext.from_json(kept)
            if not (isinstance(context.shared, str) and isinstance(context.item, str)
                    and isinstance(context.tokens, int) and all(len(f) == 3 for f in context.files)):
                raise TypeError("not the record's shape")
            engine.say("context: as recorded when this item started")
        except (ValueError, KeyError, TypeError) as exc:  # not JSON, or not the record's shape
            context = None
            engine.say(f"the context recorded in checkpoint {engine.checkpoint.path} is damaged ({type(exc).__name__}"
                       f"); building it again (the steps it keeps are kept)")
    if context is None:
        context = build_context(engine.settings, document)
        try:
            engine.checkpoint.set_meta(CHECKPOINT_KEY, context.to_json())
        except sqlite3.OperationalError as exc:
            path = engine.checkpoint.path
            raise StepFailed(f"the context could not be checkpointed: {describe_os_error(exc, path) or exc}") from exc
    engine.say(context.summary(engine.settings.context_tokens))
    return context


def build_context(settings: Settings, document: Document) -> RepoContext:
    """The file tree (at most a TREE_SHARE-th of the budget), then the files the item names, each whole when it
    fits its share of what is left (the smallest placed first, so that what one does not use goes to the
    others), else cut to its share (excerpt.py), else, when its share cannot hold a line of it, left out and
    said so: never dropped for its size while a line fits, never sent as an empty block. The `context`
    setting's files fill what remains, whole or not at all. What is left out is named after the files, as far
    as the budget goes. The whole never exceeds `context_tokens`. Every file's text is redacted of credentials
    first (redact.py)."""
    budget = settings.context_tokens
    if budget == 0:
        return RepoContext(notes=("context_tokens is 0: the models see no repository context",))
    view = _view(settings)
    notes = [view.note] if view.note else []
    named, names = _named_files(f"{document.title}\n{document.body}", view, settings, notes)
    notes.extend(view.glob_notes)
    globbed = {path: why for path, why in view.globbed if path not in named}
    redacted: list[str] = []
    texts = _texts(settings, [*named, *globbed], notes, redacted)
    used = _cost(_HEADER) + _cost(view.tree)
    if used > budget:
        return RepoContext(notes=(*notes, f"context_tokens {budget:,} cannot hold the context's header and file tree "
                                          f"({used:,} tokens): the models see no repository context"))
    paths = f"{view.tree_shown:,} of {len(view.stable):,} paths" if view.tree_cut else f"{len(view.stable):,} paths"
    shown: dict[str, tuple[str, str, int]] = {"": ("file tree", paths, estimate_tokens(view.tree))}
    placed = _place(named, globbed, texts, names, budget - used)
    if placed.left_out:  # placed again, with room kept for the line that names what is left out
        placed = _place(named, globbed, texts, names, budget - used - LEFT_OUT_TOKENS)
    blocks = placed.blocks
    for path, why in {**named, **globbed}.items():
        if path in blocks:
            shown[path] = (path, why, estimate_tokens(blocks[path]))
    shared = [view.tree, *(blocks[path] for path in globbed if path in blocks)]
    own = [blocks[path] for path in named if path in blocks]
    if placed.left_out:
        own.append(_left_out_line(placed.left_out, placed.room + LEFT_OUT_TOKENS))
    shared_text, own_text = "\n\n".join([_HEADER, *shared]), "\n\n".join(own)
    cut = [view.tree_cut] if view.tree_cut else []
    return RepoContext(shared=shared_text, item=own_text, files=tuple(shown.values()), cut=(*cut, *placed.said),
                       notes=tuple(notes), tokens=estimate_tokens(shared_text) + estimate_tokens(own_text),
                       redacted=tuple(redacted))


LEFT_OUT_TOKENS = 40  # kept for the line that names the files left out, when any is


def _cost(block: str) -> int:
    """What a block adds to the context: its tokens and one for the blank line that joins it to the next (an
    upper bound: the estimate of a joined text is at most the sum of its parts' and one a join)."""
    return estimate_tokens(block) + 1


@dataclass(frozen=True)
class _Placed:
    blocks: dict[str, str]  # path -> its block, whole or cut
    said: list[str]  # for the record: each file cut or left out, and why
    left_out: list[str]  # "path (N tokens)": the files not sent
    room: int  # what is left of the room given


def _place(named: dict[str, str], globbed: dict[str, str], texts: dict[str, str],
           names: tuple[set[str], set[str]], room: int) -> _Placed:
    """The named files in `room` tokens, each whole, cut to its share, or left out when its share cannot hold a
    line of it; then the `context` setting's files, whole or not at all."""
    blocks: dict[str, str] = {}
    said: list[str] = []
    left_out: list[str] = []
    placed = sorted((path for path in named if path in texts), key=lambda path: len(texts[path]))
    for index, path in enumerate(placed):
        share = room // (len(placed) - index)
        block = _file_block(path, named[path], texts[path])
        if _cost(block) > share:
            cut, what = _cut_block(path, named[path], texts[path], names, share - 1)
            said.append(what)
            if cut is None:
                left_out.append(f"{path} ({estimate_tokens(texts[path]):,} tokens)")
                continue
            block = cut
        blocks[path] = block
        room -= _cost(block)
    for path in (path for path in globbed if path in texts):
        block = _file_block(path, globbed[path], texts[path])
        if _cost(block) > room:
            left_out.append(f"{path} ({estimate_tokens(block):,} tokens)")
            said.append(left_out[-1])
            continue
        blocks[path] = block
        room -= _cost(block)
    return _Placed(blocks, said, left_out, room)


def _left_out_line(left_out: list[str], room: int) -> str:
    """The request's line that names the files left out, as many as `room` tokens hold; the record names each."""
    head = "Left out to fit the context budget (the file tree lists them): "
    for count in range(len(left_out), 0, -1):
        more = len(left_out) - count
        line = f"{head}{', '.join(left_out[:count])}" + (f", and {more:,} more (the context record names each)"
                                                          if more else "") + "."
        if _cost(line) <= room:
            return line
    return f"{head}{len(left_out):,} files (the context record names each)."


def _texts(settings: Settings, paths: list[str], notes: list[str], redacted: list[str]) -> dict[str, str]:
    """The text of each file that may be sent, credentials redacted; why any other is not sent, in `notes`."""
    ignored, unknown = git_ignored(settings.root, paths)
    texts: dict[str, str] = {}
    for path in paths:
        if path in ignored:
            notes.append(f"{path} not shown: git ignores it")
        elif path in unknown:
            notes.append(f"{path} not shown: {unknown[path]}, so whether git ignores it is unknown")
        elif (text := _file_text(settings, path, notes)) is not None:
            texts[path], rules = redact(text)
            if rules:
                redacted.append(f"{path}: {counted(rules)}")
    return texts


def _cut_block(path: str, why: str, text: str, names: tuple[set[str], set[str]],
               share: int) -> tuple[str | None, str]:
    """The file cut to at most `share` tokens (excerpt.py), and what the context record says of the cut; no
    block when the share cannot hold a line of it."""
    source = path.endswith((".py", ".pyi", *_OTHER_SOURCES))
    head = f'<file path="{escape(path)}" shown="{escape(why)}" cut="'
    room = share * CHARS_PER_TOKEN - len(head) - _LABEL_GUESS
    for _ in range(_CUT_TRIES):
        part = excerpt(text, path.endswith((".py", ".pyi")), source, names, room)
        if not part.lines:
            break
        said = f"{part.describe(source)}: {part.lines:,} of {len(text.splitlines()):,} lines"
        block = f'{head}{escape(said)}">\n{part.text}\n</file>'
        over = estimate_tokens(block) - share
        if over <= 0:
            return block, f"{path}: cut to {said} ({estimate_tokens(block):,} of {estimate_tokens(text):,} tokens)"
        room -= over * CHARS_PER_TOKEN  # the label said more than was guessed: cut the text by as much
    return None, (f"{path}: left out: its share ({max(share, 0):,} tokens) cannot hold a line of it "
                  f"({estimate_tokens(text):,} tokens)")


_LABEL_GUESS = 80  # characters of the `cut` label and the closing tag, guessed, then corrected:
_CUT_TRIES = 6  # by what the block overran, which converges in one or two


_HEADER = ("# The repository\n\nThe repository this item belongs to: its file tree as the run started, then the "
           "text of files it names or that the project always shows; a file too large for its share is cut to what "
           "the item needs of it, its lines numbered, and its `cut` label says what was kept. Base file paths, names "
           "and signatures on these; what is not shown here is unknown, not absent.")


@dataclass(frozen=True)
class _View:
    """The repository's file listing as every item looks things up in it. Made from the run's one listing once
    in a process (the warm parent makes it for all the items it forks: prepare_view), so that an item does no
    work per listed file, however many issues the inputs folder holds."""

    files: frozenset[str]  # every listed file: an item may name any
    by_name: dict[str, tuple[str, ...]]  # a file's last path part -> the listed files of that name
    sources: tuple[str, ...]  # the files whose definitions are read (`def`, `class`, `function` ...)
    note: str | None  # how the files were listed, when not by git
    stable: tuple[str, ...]  # the files the tree shows: not what this tool writes, nor the items' inputs
    tree: str
    tree_cut: str | None
    tree_shown: int  # how many paths the tree lists
    globbed: tuple[tuple[str, str], ...]  # the `context` setting's files, and why each is shown
    glob_notes: tuple[str, ...]


def prepare_view(settings: Settings) -> None:
    """Make the view of the listing kept for `settings.root`, in this process, for the items it forks."""
    _view(settings)


def _view(settings: Settings) -> _View:
    """Of the run's listing, made once (`repofiles.keep_listing`); else of a listing made now."""
    shape = (_excluded(settings), settings.context, settings.context_tokens // TREE_SHARE)
    kept = kept_listing(settings.root)
    return _kept_view(kept, *shape) if kept is not None else _make_view(listed_files(settings.root), *shape)


def _make_view(listed: Listed, excluded: tuple[str, ...], patterns: tuple[str, ...], tree_budget: int) -> _View:
    files, note = listed
    by_name: dict[str, list[str]] = {}
    for path in files:
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    stable = [path for path in files if not path.startswith(excluded)]
    tree, tree_cut, tree_shown = _tree(stable, tree_budget)
    glob_notes: list[str] = []
    globbed = _globbed_files(patterns, stable, glob_notes)
    return _View(files=frozenset(files), by_name={name: tuple(paths) for name, paths in by_name.items()},
                 sources=tuple(path for path in files
                               if path.endswith((".py", ".pyi", *_OTHER_SOURCES)) and not _TEST.search(path)),
                 note=note, stable=tuple(stable), tree=tree, tree_cut=tree_cut, tree_shown=tree_shown,
                 globbed=tuple(globbed.items()),
                 glob_notes=tuple(glob_notes))


_kept_view = functools.lru_cache(maxsize=4)(_make_view)


def _excluded(settings: Settings) -> tuple[str, ...]:
    """Leave out what this tool writes (designs, lineage, issue drafts, its own folder, which git is told to
    ignore but may be listed before it is): it changes while a run goes on, so the beginning every item shares
    would differ from item to item, and with it what each item was shown. Leave out the items' inputs too (the
    issues and ideas folders): an item's own input is its prompt, and the names of the others are no design's
    business (5,000 issues would fill the budget with them). An item may still name such a file."""
    return tuple(f"{display_path(folder, settings.root)}/" for folder in (
        _outputs(settings.lld_dir), _outputs(settings.lineage_dir), settings.lineage_dir.parent / "superseded",
        settings.drafts_dir, settings.issues_dir, settings.ideas_dir, settings.base_dir))


def _outputs(folder: Path) -> Path:
    """Where a kind of output is kept: `docs/lld/` for `docs/lld/active/` (its `done/` beside it is the tool's
    too), the folder itself otherwise (`lld_dir = "docs/design"` must not hide all of `docs/`)."""
    return folder.parent if folder.name == "active" else folder


def _tree(files: list[str], budget: int) -> tuple[str, str | None, int]:
    """The file list; when it does not fit, source and tests first, then other files, documents last, the
    shallowest first in each, and a last line that counts what is not listed, folder by folder."""
    kept: list[str] = []
    used = estimate_tokens("<file_tree>\n</file_tree>\n") + TREE_TAIL_TOKENS
    for path in sorted(files, key=lambda p: (2 if _DOCUMENT.search(p) else 0 if _is_source(p) else 1,
                                              p.count("/"), p)):
        used += estimate_tokens(path + "\n")
        if used > budget:
            break
        kept.append(path)
    listed = "".join(f"{path}\n" for path in sorted(kept))
    if len(kept) == len(files):
        return f"<file_tree>\n{listed}</file_tree>", None, len(kept)
    left = Counter(_folder(path) for path in set(files) - set(kept))
    counted = ", ".join(f"{folder} {count:,}" for folder, count in left.most_common(TREE_TAIL_FOLDERS))
    more = f" and {len(left) - TREE_TAIL_FOLDERS:,} more folders" if len(left) > TREE_TAIL_FOLDERS else ""
    tail = f"(not listed: {len(files) - len(kept):,} more paths: {counted}{more})"
    cut = f"file tree: {len(kept):,} of {len(files):,} paths shown, documents and the deepest cut first"
    return f"<file_tree>\n{listed}{tail}\n</file_tree>", cut, len(kept)


def _is_source(path: str) -> bool:
    return path.endswith((".py", ".pyi", *_OTHER_SOURCES, *_BUILD_FILES))


def _folder(path: str) -> str:
    """Where a path lies, for the tree's count of what it does not list: its first two folders."""
    parts = path.split("/")[:-1]
    return "/".join(parts[:2]) + "/" if parts else "./"


def _file_text(settings: Settings, path: str, notes: list[str]) -> str | None:
    try:
        data = read_repo_file(settings.root / path, settings.root)
    except NotRepoContent as exc:
        notes.append(f"{path} not shown: {exc}")
        return None
    except OSError as exc:
        notes.append(f"{path} not shown: it cannot be read ({exc.strerror})")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        notes.append(f"{path} not shown: not UTF-8 text")
        return None
    return text.rstrip()


def _file_block(path: str, why: str, text: str) -> str:
    return f'<file path="{escape(path)}" shown="{escape(why)}">\n{text}\n</file>'


def _globbed_files(patterns: tuple[str, ...], files: list[str], notes: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in patterns:
        glob = pattern.strip().removeprefix("./")
        regex = glob_regex(glob + "**" if glob.endswith("/") else glob)  # `dir/`: everything under it
        matches = [path for path in files if regex.fullmatch(path)]
        if not matches:
            notes.append(f"the context setting's {pattern!r} matches no file git lists")
        for path in matches:
            found.setdefault(path, f"the context setting: {pattern}")
    return found


def _mentions(text: str) -> Iterator[tuple[str, str]]:
    """Every word of the text that may name a file or an identifier, in order, with what it may be: a word of a
    code span either, a path-like word of prose a path, a dotted, snake_case or called (`f()`) word a name."""
    for span in _CODE_SPAN.findall(text):
        for word in span.split():
            yield word, "code"
    for match in _PATH_LIKE.finditer(text):
        yield match.group(), "path"
    for match in _BARE_IDENTIFIER.finditer(text):
        yield match.group(), "name"


def _normal_path(word: str) -> str:
    word = re.sub(r"(?::\d+)+$|#L\d+(?:-L?\d+)?$", "", word.strip("'\"()[]<>,;").rstrip(".:"))
    return re.sub(r"^(?:\./)+|^/", "", word.replace("\\", "/"))


def _named_files(text: str, view: _View, settings: Settings,
                 notes: list[str]) -> tuple[dict[str, str], tuple[set[str], set[str]]]:
    """Files the text names, by path (any spelling: `./a/b.py`, `a/b.py:12`, `b.py` when only one file is
    called that), then by an identifier they define; each file once, in the order first named. And the names
    the text mentions, which a file cut to fit is cut to: the last parts (`render` of `Report.render`), and the
    others (`Report`)."""
    found: dict[str, str] = {}
    identifiers: dict[str, bool] = {}  # name -> whether a code span holds it
    for word, kind in _mentions(text):
        path = _normal_path(word)
        if kind != "name" and path in view.files:
            found.setdefault(path, "named in the issue")
            continue
        if kind != "name" and "." in path.rsplit("/", 1)[-1] and (hits := _by_suffix(path, view)):
            found.setdefault(hits[0], "named in the issue")
            continue
        name = re.sub(r"\(.*\)?$", "", word.strip("'\"[]<>,;:").rstrip("."))
        if kind != "path" and _IDENTIFIER.fullmatch(name):
            identifiers[name] = identifiers.get(name, False) or kind == "code"
    main = {name.split(".")[-1] for name in identifiers} - RECEIVERS
    names = (main, {part for name in identifiers for part in name.split(".")[:-1]} - RECEIVERS - main)
    if identifiers:
        ends = {part for name in identifiers for part in (name.split(".")[0], name.split(".")[-1])} - RECEIVERS
        definers = _definitions(ends, view.sources, settings)
        for name, quoted in identifiers.items():
            hits = _resolve(name, view, definers)
            if len(hits) > MAX_DEFINERS:
                notes.append(f"{name} is defined in {len(hits)} files: none is shown; name its file in the item")
                continue
            for hit in hits:
                found.setdefault(hit, f"defines {name}")
            if not hits and quoted and re.search(r"[._]|^[A-Z]\w*[a-z][A-Z]", name) and not _foreign(name):
                notes.append(f"{name} is named by the item but defined in no file git lists")
    return found, names


def _by_suffix(path: str, view: _View) -> list[str]:
    """`workflows/lld.py` or `lld.py`: the listed file whose path ends so, if only one does."""
    if not path or path.startswith("../"):
        return []
    hits = [f for f in view.by_name.get(path.rsplit("/", 1)[-1], ()) if f.endswith("/" + path)]
    return hits if len(hits) == 1 else []


def _resolve(name: str, view: _View, definers: dict[str, list[str]]) -> list[str]:
    """`pkg.module.func` -> pkg/module.py (any folder above it, `src/` say); else, for `Class.method`, the files
    that define both, else the class, else the method; else the files that define the name. Definitions only
    in the repository's own source (no test: `_TEST`), and never for what the standard library or Python's
    builtins hold (`subprocess.run`, `print()`): the repository does not define them."""
    parts = name.split(".")
    for count in range(len(parts), 0, -1) if len(parts) > 1 else ():
        stem = "/".join(parts[:count])
        ends = (f"{stem}.py", f"{stem}/__init__.py")
        candidates = (f for end in ends for f in view.by_name.get(end.rsplit("/", 1)[-1], ()))
        hits = sorted({f for f in candidates if f in ends or f.endswith(tuple("/" + end for end in ends))})
        if hits:
            return hits
    if _foreign(name):
        return []
    if len(parts) == 1 or parts[0] in RECEIVERS:
        return definers.get(parts[-1], [])
    first, last = definers.get(parts[0], []), definers.get(parts[-1], [])
    return [path for path in first if path in last] or first or last


def _foreign(name: str) -> bool:
    """A name of the standard library or a builtin (`os.path.join`, `subprocess.run`, `len`)."""
    return name.split(".")[0] in _FOREIGN


def _definitions(names: set[str], sources: tuple[str, ...], settings: Settings) -> dict[str, list[str]]:
    """Which listed source files define each of `names` (`def`/`class` in Python; `function`, `func`, `fn`,
    `class`, `struct` ... elsewhere): one read of each source file, whatever the number of names. A file that
    holds none of them is not searched, and a Python file that holds them at a few places is searched only there
    (a definition there is one line): an item that names rare identifiers pays about a read of the sources, not
    a search of every definition in them (bench/repo_size.py)."""
    found: dict[str, list[str]] = {}
    wanted = {name: name.encode() for name in names}
    looked_for = len(names) <= MAX_NAMES_LOOKED_FOR  # for more, looking costs about what it spares
    for path in sources:
        python = path.endswith((".py", ".pyi"))
        full = settings.root / path
        try:
            if full.stat().st_size > MAX_SCANNED_BYTES:
                continue
            data = read_repo_file(full, settings.root)
        except (OSError, NotRepoContent):
            continue
        places = {name: count for name, raw in wanted.items() if (count := _places(data, raw))} if looked_for else {}
        if looked_for and not places:  # it holds none of them
            continue
        text = data.decode("utf-8", "replace")
        if places and python and sum(places.values()) <= MAX_PLACES_SEARCHED:
            held = [name for name in places if _python_defines(text, name)]
        else:  # other languages' definitions may span lines; common words (`get`, `a`): one pass is cheaper
            pattern = PYTHON_DEFINES if python else OTHER_DEFINES
            defined = {next(group for group in match.groups() if group) for match in pattern.finditer(text)}
            held = [name for name in names if name in defined]
        for name in held:
            found.setdefault(name, []).append(path)
    return found


def _places(data: bytes, name: bytes) -> int:
    """At how many places `data` holds `name`, counted up to one more than MAX_PLACES_SEARCHED."""
    count, at = 0, data.find(name)
    while at >= 0 and count <= MAX_PLACES_SEARCHED:
        count += 1
        at = data.find(name, at + len(name))
    return count


def _python_defines(text: str, name: str) -> bool:
    """A `def` or `class` of `name` at one of the places `text` holds it: one match, from the start of its line
    to the end of the name, and the name not the start of a longer one."""
    at = text.find(name)
    while at >= 0:
        end = at + len(name)
        line = text.rfind("\n", 0, at) + 1
        match = PYTHON_DEFINES.match(text, line, end)
        if match and match.span(1) == (at, end) and not (end < len(text) and _WORD.match(text, end)):
            return True
        at = text.find(name, end)
    return False
