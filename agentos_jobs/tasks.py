"""doit glue: the tasks `dodo.py` exposes and the defaults doit runs them with."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.action import CmdAction
from doit.exceptions import InvalidDodoFile

from .config import DEFAULT_PARALLEL, ConfigError, Settings, load_settings
from .fsutil import clear_way, describe_os_error, move_aside
from .items import discover
from .markers import marker_is_current
from .procs import install_early_stop
from .runs import ensure_run_env
from .scaffold import ensure_base_dir
from .worker import run_item_task


@functools.cache
def _settings_for(root: Path) -> Settings:
    try:
        return load_settings(root)
    except ConfigError as exc:
        raise InvalidDodoFile(str(exc)) from None


def project_settings() -> Settings:
    """doit runs dodo.py from its own directory, so the working directory is the project root."""
    return _settings_for(Path.cwd().resolve())


def doit_config() -> dict[str, Any]:
    """DOIT_CONFIG for dodo.py: 3 at a time, keep going after a failure, doit's dep file under .agentos."""
    install_early_stop()  # first: the imports below take a while, and Ctrl+C may come meanwhile
    from .reporter import RunReporter

    settings = project_settings()
    ensure_run_env()
    try:
        ensure_base_dir(settings)
    except ConfigError as exc:
        raise InvalidDodoFile(str(exc)) from None
    return {
        "default_tasks": ["lld"],
        "num_process": DEFAULT_PARALLEL,
        "par_type": "process",
        "continue": not settings.fail_fast,  # fail_fast: doit's own gentle stop, GNU parallel's --halt soon
        "backend": "sqlite3",
        "dep_file": str(_usable_dep_file(settings.base_dir / "doit-deps.sqlite")),
        "reporter": RunReporter,
    }


DOIT_DEP_COLUMNS = {"task_id", "task_data"}  # doit's sqlite3 backend keeps one table, `doit`


def _usable_dep_file(path: Path) -> Path:
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


def item_tasks(workflow: str) -> Iterator[dict[str, Any]]:
    """One task per item: `lld:42`. Its target is the marker; `uptodate` compares the marker's input hash.
    (doit names the group task after the task function and takes its docstring as the group's doc.)"""
    settings = project_settings()
    for item in discover(settings, workflow):
        marker = settings.marker_path(workflow, item.id)
        yield {
            "name": item.id,
            "doc": item.title,
            "actions": [(run_item_task, [workflow, item.id])],
            "targets": [str(marker)],
            "uptodate": [(marker_is_current, [str(marker), item.input_hash], {})],
            "io": {"capture": False},
            "meta": {"agentos": {"workflow": workflow, "id": item.id}},
            "verbosity": 2,
        }


def task_lld() -> Iterator[dict[str, Any]]:
    """Draft and review a Low-Level Design for every pending issue."""
    return item_tasks("lld")


def task_issue() -> Iterator[dict[str, Any]]:
    """Turn every brief in the ideas folder into a reviewed issue draft."""
    return item_tasks("issue")


def task_sync_issues() -> dict[str, Any]:
    """Fetch open GitHub issues with gh into the issues folder (only what changed)."""
    return {
        "actions": [CmdAction([sys.executable, "-m", "agentos_jobs", "sync"], shell=False)],
        "io": {"capture": False},
        "meta": {"agentos_tool": "sync"},
        "verbosity": 2,
    }
