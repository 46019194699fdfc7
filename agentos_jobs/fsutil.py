"""Small file helpers shared by markers, leases, summaries and workflow outputs."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and os.replace, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def move_aside(path: Path, sidecars: tuple[str, ...] = ()) -> Path:
    """Keep a damaged file for a post-mortem instead of deleting it: `<name>.corrupt-<time>`, with its
    sidecar files (SQLite's `-wal`, `-shm`) renamed alike. Returns the new path of the file itself."""
    aside = path.with_name(f"{path.name}.corrupt-{utc_now():%Y%m%dT%H%M%S%f}")
    for suffix in ("", *sidecars):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(aside.with_name(aside.name + suffix))
    return aside


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


def display_path(path: Path, root: Path) -> str:
    """A path relative to the project root when it lies inside it: shorter in tables and messages."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
