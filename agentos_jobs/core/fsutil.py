"""Small file helpers shared by markers, leases, summaries and workflow outputs."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask, read where reading it changes nothing (Linux), else by setting it back at once."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once, at import, before any thread could create a file meanwhile


def atomic_write_text(path: Path, text: str, *, private: bool = False, durable: bool = True) -> None:
    """Write via a temp file in the same directory and os.replace, so readers never see half a file. The file
    gets the mode a plain write would give it (a replaced file keeps its own; a new one follows the umask),
    or 0600 when it is `private`. The text is written as given: line endings are the caller's.

    A `durable` file is on the disk before it replaces the old one (fsync), so that a power cut never leaves
    an empty one: what a lost file would cost money or work to make again (outputs, lineage, markers).
    A run's own bookkeeping (item results, worker notes, leases) has no use after a power cut and skips it:
    a crash of the process itself loses nothing either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mode = 0o600 if private else 0o666 & ~UMASK
        with contextlib.suppress(FileNotFoundError):
            mode = mode if private else stat.S_IMODE(path.stat().st_mode)
        # os.fchmod exists on Windows only from Python 3.13, and there only the read-only bit means anything:
        # skipped where os has none. os.replace on Windows fails while another process has the target open.
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a write on a full disk names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def atomic_write_json(path: Path, data: Any, *, private: bool = False, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", private=private, durable=durable)


def move_aside(path: Path, sidecars: tuple[str, ...] = ()) -> Path:
    """Keep a damaged file for a post-mortem instead of deleting it: `<name>.corrupt-<time>`, with its
    sidecar files (SQLite's `-wal`, `-shm`) renamed alike. Returns the new path of the file itself."""
    aside = path.with_name(f"{path.name}.corrupt-{utc_now():%Y%m%dT%H%M%S%f}")
    path.replace(aside)  # FileNotFoundError when another process moved it first
    for suffix in sidecars:
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(aside.with_name(aside.name + suffix))
    return aside


def clear_way(path: Path, what: str) -> str | None:
    """Where one of our files belongs (a lock, a marker, a lease, a checkpoint) and something else stands
    (a directory, say), move that aside so the file can be made again. Returns the start of the line that
    says so, or None when nothing was in the way (or another process moved it first)."""
    if not os.path.lexists(path) or path.is_file():
        return None
    kind = "a directory" if path.is_dir() else "not a regular file"
    with contextlib.suppress(FileNotFoundError):
        return f"{path} was {kind}, not a {what}; moved it to {move_aside(path).name}"
    return None


def make_dir(path: Path) -> str | None:
    """`mkdir -p` for a folder of ours; a file in its place is moved aside first. Returns the line that says
    so, or None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        return None
    except FileExistsError:
        pass
    said = None
    with contextlib.suppress(FileNotFoundError):  # another process moved it first
        said = f"{path} was a file, not a folder; moved it to {move_aside(path).name} and made a new one"
    path.mkdir(parents=True, exist_ok=True)
    return said


def describe_os_error(exc: BaseException, path: Path | None = None) -> str | None:
    """One line for a failure the user can fix on this machine, naming the path: a full disk (errno ENOSPC,
    or SQLite's "database or disk is full"), a read-only or forbidden place, something in the way. None for
    anything else. `path` names the file when the error does not (SQLite's never does)."""
    where = getattr(exc, "filename2", None) or getattr(exc, "filename", None) or path or "the disk"
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)):
        return f"no space left on {where}: free some space, then run again (finished work is kept)"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR,
                                                   errno.ENOTDIR, errno.EEXIST):
        return f"{where}: cannot be written ({exc.strerror}); fix it, then run again"
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return f"{where}: cannot be written (read-only); fix it, then run again"
    return None


def parse_json(text: str) -> Any:
    """json.loads whose every failure is a ValueError with a short reason that quotes none of the text (it
    may be a credentials file): a huge number or deep nesting would otherwise raise something else."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:
        raise ValueError("a number too long to read") from None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when the file is missing, unreadable or holds something else."""
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_millis(moment: datetime) -> datetime:
    """The moment as `iso` writes it: a time a store keeps is, read back, the same time that was decided."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def display_path(path: Path, root: Path) -> str:
    """A path relative to the project root when it lies inside it: shorter in tables and messages."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
