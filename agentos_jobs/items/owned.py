"""Which files at an item's output paths this tool wrote: the SHA-256 of each, recorded as it is written, in
`<base dir>/owned/<workflow>/<id>.json`.

A file there that no record of ours holds (a committed, human-approved LLD, a lineage folder of another tool,
a person's edit of one of ours) is never overwritten nor moved aside: its item stops, `exists`, before any
paid call, until the user adopts the file as the finished work (`agentos-jobs adopt`: done for the input as it
is; it stops `exists` again when the input changes) or lets a run replace it (`agentos-jobs replace`)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.errors import ExistingWork
from agentos_jobs.core.fsutil import atomic_write_json, display_path, read_json_object
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.settings import Settings

_LLD_FILE = re.compile(r"lld-0*(\d+)(?:\D.*)?\.md", re.IGNORECASE)


def lld_number(name: str) -> int | None:
    """The item an LLD file's name is for, as repositories name them (`LLD-042.md`, `LLD-42.md`,
    `lld-042-cache.md`); None for any other name."""
    match = _LLD_FILE.fullmatch(name)
    return int(match[1]) if match else None


@dataclass(frozen=True)
class Outputs:
    """Where an item writes: its final file (the approved LLD, the issue draft) and its lineage folder; `others`:
    more LLD files of the item under the repository's own names, beside the final one."""

    final: Path
    lineage: Path
    others: tuple[Path, ...] = ()

    def present(self) -> bool:
        """Two stats: nothing to read or hash when nothing is there."""
        return bool(self.others) or os.path.lexists(self.final) or os.path.lexists(self.lineage)

    def files(self) -> list[Path]:
        """Every file at these paths now, links not followed; a folder where the final file belongs counts."""
        found = ([self.final] if os.path.lexists(self.final) else []) + list(self.others)
        for folder, dirs, names in os.walk(self.lineage):
            dirs.sort()
            found += [Path(folder, name) for name in sorted(names)]
        if os.path.lexists(self.lineage) and not self.lineage.is_dir():
            found.append(self.lineage)
        return found


def _names(workflow: str, item_id: str) -> tuple[str, str]:
    """The one place an item's output names are said: its final file's, its lineage folder's."""
    return (f"LLD-{int(item_id):03d}.md", f"{item_id}-lld") if workflow == "lld" else (f"{item_id}.md",
                                                                                          f"{item_id}-issue")


def _folders(settings: Settings, workflow: str) -> tuple[Path, Path]:
    return settings.lld_dir if workflow == "lld" else settings.drafts_dir, settings.lineage_dir


class OutputFolders:
    """One listing of a workflow's output folders, for every item it is asked about: the dry run and `adopt --all`
    ask it of every item (a stat per item would cost 5,000 issues a quarter of a second, and a look for LLDs under
    the repository's own names through the whole folder per item, seconds)."""

    def __init__(self, settings: Settings, workflow: str) -> None:
        self.workflow = workflow
        self.finals_dir, self.lineage_dir = _folders(settings, workflow)
        self.finals = _listing(self.finals_dir)
        self.llds: dict[int, list[str]] = {}  # an item's LLD files by name, whatever the repository calls them
        if workflow == "lld":
            for name in sorted(self.finals):
                if (number := lld_number(name)) is not None:
                    self.llds.setdefault(number, []).append(name)

    @functools.cached_property
    def lineages(self) -> frozenset[str]:
        return _listing(self.lineage_dir)

    def present(self, item_id: str) -> bool:
        """Whether anything is at the item's output paths."""
        final, lineage = _names(self.workflow, item_id)
        return final in self.finals or lineage in self.lineages or (self.workflow == "lld"
                                                                     and int(item_id) in self.llds)

    def outputs(self, item_id: str) -> Outputs:
        """An LLD the repository already keeps for the item under its own name (`LLD-42.md`) is the item's design:
        it stops the item as the final file would; when the final file is not there, it is the one a run writes
        (after `replace`), in its place, not a second design beside it."""
        final, lineage = _names(self.workflow, item_id)
        path = self.finals_dir / final
        if self.workflow != "lld":
            return Outputs(path, self.lineage_dir / lineage)
        others = [self.finals_dir / name for name in self.llds.get(int(item_id), []) if name != final]
        if others and final not in self.finals:
            path = others.pop(0)
        return Outputs(path, self.lineage_dir / lineage, tuple(others))


def item_outputs(settings: Settings, workflow: str, item_id: str) -> Outputs:
    return OutputFolders(settings, workflow).outputs(item_id)


def _listing(folder: Path) -> frozenset[str]:
    try:
        return frozenset(path.name for path in folder.iterdir())
    except OSError:  # not there (yet), or not a folder: then nothing is in it
        return frozenset()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str | None:
    """None for what is not a regular file we can read (a folder, a link, a FIFO): never ours."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return _digest(path.read_bytes())
    except OSError:
        return None


class Record:
    """The hashes one item's record holds, by path relative to the repository."""

    def __init__(self, settings: Settings, workflow: str, item_id: str) -> None:
        self.settings = settings
        self.path = BaseDir(settings.base_dir).owned(workflow, item_id)
        data = read_json_object(self.path) or {}
        files = data.get("files")
        self.files: dict[str, str] = {k: v for k, v in files.items() if isinstance(v, str)} \
            if isinstance(files, dict) else {}

    def key(self, path: Path) -> str:
        return display_path(path, self.settings.root)

    def holds(self, path: Path) -> bool:
        digest = _file_digest(path)
        return digest is not None and self.files.get(self.key(path)) == digest

    def wrote(self, path: Path, text: str) -> None:
        """Before writing `text` to `path` (the text as written: atomic_write_text adds nothing)."""
        self.files[self.key(path)] = _digest(text.encode("utf-8"))
        self.save()

    def take(self, paths: list[Path]) -> None:
        """Record the files as they are now as ours (replace: a run may write over them); a file that is gone
        leaves the record."""
        for path in paths:
            digest = _file_digest(path)
            if digest is None:
                self.files.pop(self.key(path), None)
            else:
                self.files[self.key(path)] = digest
        self.save()

    def release(self, paths: list[Path]) -> None:
        """The files are no longer ours, whoever wrote them (adopt: a person's finished work): no run writes over
        them, nor moves them aside, until they are taken again."""
        for path in paths:
            self.files.pop(self.key(path), None)
        self.save()

    def forget_under(self, folder: Path) -> None:
        """A lineage folder moved aside is no output of the item any more."""
        prefix = self.key(folder) + "/"
        self.files = {k: v for k, v in self.files.items() if not k.startswith(prefix)}
        self.save()

    def save(self) -> None:
        # Not synced: a record lost in a power cut makes the item stop `exists`, on the safe side.
        atomic_write_json(self.path, {"files": dict(sorted(self.files.items()))}, durable=False)


def foreign_files(settings: Settings, workflow: str, item_id: str, folders: OutputFolders | None = None) -> list[Path]:
    """The files at the item's output paths that no record of ours holds, as they are now; `folders`: one
    listing of them for many items."""
    outputs = (folders or OutputFolders(settings, workflow)).outputs(item_id)
    if not outputs.present():
        return []
    record = Record(settings, workflow, item_id)
    return [path for path in outputs.files() if not record.holds(path)]


ADOPTED = "adopted-"  # how the run id of a marker `agentos-jobs adopt` wrote begins


def existing_work_line(settings: Settings, workflow: str, item_id: str, foreign: list[Path]) -> str:
    """One line: the file, how many more, whether it was adopted (for an earlier input, as the item runs), and
    the two ways on."""
    first = display_path(foreign[0], settings.root)
    more = f" and {len(foreign) - 1} more file(s)" if len(foreign) > 1 else ""
    marker = read_json_object(BaseDir(settings.base_dir).marker(workflow, item_id)) or {}
    adopted = " (adopted for an earlier version of the input)" \
        if str(marker.get("run_id", "")).startswith(ADOPTED) else ""
    return (f"{first}{more} not written by agentos-jobs{adopted}, left untouched: "
            f"'agentos-jobs adopt {workflow} {item_id}' "
            f"takes it as done, 'agentos-jobs replace {workflow} {item_id}' lets a run write over it")


def check_outputs(settings: Settings, workflow: str, item_id: str) -> None:
    """Before any paid call: raise ExistingWork when a file of someone else's is at the item's output paths."""
    if foreign := foreign_files(settings, workflow, item_id):
        raise ExistingWork(existing_work_line(settings, workflow, item_id, foreign))
