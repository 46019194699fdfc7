"""The run's locks, built on filelock.py: one run per worktree, at most MAX_PARALLEL workflows at once, serialised
shared-state steps.

Locks are always taken on dedicated `.lock` files (never on data files that get replaced) and always with a
timeout. The OS releases them when the holder dies, so a crashed run never leaves the worktree locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from agentos_jobs.core.errors import ConfigError, LockTimeout, RunLocked
from agentos_jobs.core.filelock import FileLock
from agentos_jobs.core.fsutil import (
    atomic_write_json,
    clear_way,
    describe_os_error,
    iso,
    make_dir,
    read_json_object,
    utc_now,
)
from agentos_jobs.core.layout import BaseDir, ensure_base_dir
from agentos_jobs.core.settings import MAX_PARALLEL, Settings

WORKTREE_LOCK_SECONDS = 600.0  # a step that waits longer for shared state fails (and is checkpointed as failed)
SLOT_POLL_SECONDS = 0.2


def warn(text: str) -> None:
    """A line for processes without an item prefix (doit's, `agentos-jobs run`'s)."""
    sys.stderr.write(f"agentos-jobs: {text}\n")


def _lock_file(path: Path, say: Callable[[str], None]) -> Path:
    """A lock file can be rebuilt at any time (the OS frees a lock, never a directory in its place)."""
    if moved := clear_way(path, "lock file"):
        say(f"{moved} and made a new one")
    return path


class RunLock:
    """Held by the doit process for the whole run; `doit list` never takes it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = BaseDir(settings.base_dir).run_lock
        self.info = BaseDir(settings.base_dir).run_lock_info
        self._lock = FileLock(self.path, timeout=0)

    def acquire(self, run_id: str) -> None:
        try:
            ensure_base_dir(self.settings)
        except ConfigError as exc:
            raise RunLocked(str(exc)) from None
        try:
            _lock_file(self.path, warn)
            self._lock.acquire()
        except LockTimeout:
            data = read_json_object(self.info) or {}
            holder = (f" (run {data['run_id']}, pid {data['pid']}, started {data['started_at']})"
                      if {"run_id", "pid", "started_at"} <= data.keys() else "")
            raise RunLocked(f"another agentos-jobs run is using {self.path.parent}{holder}; wait for it to "
                            "finish or stop it, then run again ('doit list' works meanwhile)") from None
        except OSError as exc:
            raise RunLocked(describe_os_error(exc, self.path) or f"{self.path}: {exc}") from None
        try:  # only says who holds the lock: a run goes on without it
            if moved := clear_way(self.info, "run lock record"):
                warn(f"{moved} and made a new one")
            atomic_write_json(self.info, {"run_id": run_id, "pid": os.getpid(), "started_at": iso(utc_now())})
        except OSError as exc:
            warn(f"who holds the run lock is not recorded: {describe_os_error(exc, self.info) or exc}")


@contextlib.contextmanager
def worktree_lock(settings: Settings, say: Callable[[str], None]) -> Iterator[None]:
    """Serialises steps that touch shared state (status files, git) across all workflow processes."""
    path = BaseDir(settings.base_dir).worktree_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(_lock_file(path, say), timeout=WORKTREE_LOCK_SECONDS):
        yield


def acquire_slot(settings: Settings, on_wait: Callable[[], None], cancelled: Callable[[], bool],
                 say: Callable[[str], None] = warn) -> FileLock | None:
    """One of MAX_PARALLEL slots, whatever `-n` says; waits (saying so once) while all are taken.

    Returns the held lock, or None if `cancelled()` turned true while waiting. A file where the slots folder
    belongs, or a directory where a slot's lock file does, is moved aside and said.
    """
    directory = BaseDir(settings.base_dir).slots
    if moved := make_dir(directory):
        say(moved)
    said = False
    while not cancelled():
        for number in range(MAX_PARALLEL):
            lock = FileLock(_lock_file(directory / f"slot-{number:02d}.lock", say), timeout=0)
            try:
                lock.acquire()
            except LockTimeout:
                continue
            return lock
        if not said:
            on_wait()
            said = True
        time.sleep(SLOT_POLL_SECONDS)
    return None
