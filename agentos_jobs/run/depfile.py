"""doit's dep file: only a cache (an item's marker says whether it is done), so a damaged one is moved aside
and a failed save is said in one line; neither ever stops a run."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from pathlib import Path
from typing import Any

from agentos_jobs.core.fsutil import clear_way, describe_os_error, move_aside

DOIT_DEP_COLUMNS = {"task_id", "task_data"}  # doit's sqlite3 backend keeps one table, `doit`


def usable_dep_file(path: Path) -> Path:
    """doit stops every run on a damaged dep file (or one of another layout). It is only a cache (an item's
    marker says whether it is done), so such a file, or a directory in its place, is moved aside, and said,
    and doit starts a new one."""
    if moved := clear_way(path, "dep file"):
        _said(moved)
    if not path.exists():
        return path
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(doit)")}
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):  # locked: another run is saving it, and that run's lock will say so
            _set_aside(path, exc)
    except sqlite3.DatabaseError as exc:
        _set_aside(path, exc)
    else:
        if columns and columns != DOIT_DEP_COLUMNS:
            _set_aside(path, f"its doit table has columns {', '.join(sorted(columns))}, not doit's")
    return path


def _set_aside(path: Path, why: object) -> None:
    _said(f"doit's dep file {path} was unreadable ({why}); moved it to {move_aside(path).name}")


def _said(moved: str) -> None:
    sys.stderr.write(f"agentos-jobs: {moved}. Nothing is lost: finished items are known by their markers\n")


def save_dep_file_or_say(dep_manager: Any) -> None:
    """doit saves its dep file after the last task and before the reporter's summary, so a save that fails (a
    full disk) would end the run in a traceback with no summary. It is only a cache: such a failure is said in
    one line and the run goes on to its summary. For the reporter, with doit's `Globals.dep_manager`."""
    close = dep_manager.close

    def close_or_say() -> None:
        try:
            close()
        except sqlite3.Error as exc:
            dep_manager.close = lambda: None  # said once
            _said(f"doit's dep file was not saved: {describe_os_error(exc, Path(dep_manager.name)) or exc}")

    dep_manager.close = close_or_say
