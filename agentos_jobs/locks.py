"""File locks: one run per worktree, at most MAX_PARALLEL workflows at once, serialised shared-state steps.

Locks are always taken on dedicated `.lock` files (never on data files that get replaced) and always with a
timeout. The OS releases them when the holder dies, so a crashed run never leaves the worktree locked.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import portalocker

from .config import MAX_PARALLEL, Settings
from .fsutil import atomic_write_json, iso, read_json_object, utc_now

WORKTREE_LOCK_SECONDS = 600.0  # a step that waits longer for shared state fails (and is checkpointed as failed)
SLOT_POLL_SECONDS = 0.2

class RunLocked(Exception):
    """Another doit run holds this worktree."""


def run_lock_info(settings: Settings) -> Path:
    """Who holds (or last held) the run lock: run id, pid, start. `agentos-jobs keys` reads the run id."""
    return settings.base_dir / "run.lock.json"


class RunLock:
    """Held by the doit process for the whole run; `doit list` never takes it."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.base_dir / "run.lock"
        self.info = run_lock_info(settings)
        self._lock = portalocker.Lock(self.path, mode="a", timeout=0, fail_when_locked=True)

    def acquire(self, run_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except portalocker.exceptions.LockException:
            data = read_json_object(self.info) or {}
            holder = (f" (run {data['run_id']}, pid {data['pid']}, started {data['started_at']})"
                      if {"run_id", "pid", "started_at"} <= data.keys() else "")
            raise RunLocked(f"another agentos-jobs run is using {self.path.parent}{holder}; wait for it to "
                            "finish or stop it, then run again ('doit list' works meanwhile)") from None
        atomic_write_json(self.info, {"run_id": run_id, "pid": os.getpid(), "started_at": iso(utc_now())})


@contextlib.contextmanager
def worktree_lock(settings: Settings) -> Iterator[None]:
    """Serialises steps that touch shared state (status files, git) across all workflow processes."""
    path = settings.base_dir / "worktree.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with portalocker.Lock(path, mode="a", timeout=WORKTREE_LOCK_SECONDS):
        yield


def acquire_slot(settings: Settings, on_wait: Callable[[], None],
                 cancelled: Callable[[], bool]) -> portalocker.Lock | None:
    """One of MAX_PARALLEL slots, whatever `-n` says; waits (saying so once) while all are taken.

    Returns the held lock, or None if `cancelled()` turned true while waiting.
    """
    directory = settings.base_dir / "slots"
    directory.mkdir(parents=True, exist_ok=True)
    said = False
    while not cancelled():
        for number in range(MAX_PARALLEL):
            lock = portalocker.Lock(directory / f"slot-{number:02d}.lock", mode="a", timeout=0,
                                    fail_when_locked=True)
            try:
                lock.acquire()
            except portalocker.exceptions.LockException:
                continue
            return lock
        if not said:
            on_wait()
            said = True
        time.sleep(SLOT_POLL_SECONDS)
    return None
