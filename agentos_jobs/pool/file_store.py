"""The lease store as one JSON file, for the processes of one machine.

It is read-modify-written under a lock (filelock.py) on a separate `.lock` file and replaced atomically (locking
the data file itself while replacing it loses updates). It holds key names only. Leases whose holder process
is gone are reclaimed: the OS frees a dead holder's lock, not its lease record. A damaged file (or a directory
in its place) is moved aside, said in one line, and rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from agentos_jobs.core.filelock import FileLock
from agentos_jobs.core.fsutil import atomic_write_json, clear_way, move_aside, parse_json, utc_now
from agentos_jobs.core.os_process import same_process, start_time
from agentos_jobs.pool.key_entry import Holder, KeyEntry
from agentos_jobs.pool.lease_store import Entries, T

LOCK_TIMEOUT_SECONDS = 30.0


class FileLeaseStore:
    heartbeat_seconds: float | None = None  # a holder is known alive by its pid

    def __init__(self, path: Path, say: Callable[[str], None]) -> None:
        self.path = path
        self.where = str(path)
        self.lock_path = path.with_name(path.name + ".lock")
        self.say = say

    def check(self) -> None:
        """A file is always there to be made; what cannot be written is said where it is written."""

    def stamp(self, holder: Holder, now: datetime) -> Holder:
        return dataclasses.replace(holder, started=start_time(os.getpid()))

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        with self._state() as entries:
            return change(entries, utc_now())

    @contextlib.contextmanager
    def _state(self) -> Iterator[Entries]:
        """The lease state for one read-modify-write; written back atomically when the block changes it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if moved := clear_way(self.lock_path, "lock file"):
            self.say(f"{moved} and made a new one")
        with FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS):
            entries = self._read()
            before = _file(entries)
            self._reclaim(entries)
            yield entries
            if (after := _file(entries)) != before:
                # whose keys are busy is nobody else's; not durable: after a power cut no lease is held, and a
                # lost cooldown or disabled key costs one more answer that says so again
                atomic_write_json(self.path, after, private=True, durable=False)

    def _read(self) -> Entries:
        if moved := clear_way(self.path, "lease file"):
            self.say(f"{moved} and rebuilt it")
        if not self.path.exists():
            return {}
        try:
            state = parse_json(self.path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("keys"), dict):
                raise ValueError("not a lease file")
            return {name: KeyEntry.from_json(name, entry) for name, entry in state["keys"].items()}
        except (ValueError, UnicodeDecodeError) as exc:
            aside = move_aside(self.path)
            self.say(f"lease file {self.path} was unreadable ({exc}); moved it to {aside.name} and rebuilt it")
            return {}

    @staticmethod
    def _reclaim(entries: Entries) -> None:
        for name, entry in list(entries.items()):
            alive = tuple(h for h in entry.holders if same_process(h.pid, h.started))
            if len(alive) != len(entry.holders):
                entries[name] = dataclasses.replace(entry, holders=alive,
                                                    reclaimed=entry.reclaimed + len(entry.holders) - len(alive))


def _file(entries: Entries) -> dict[str, Any]:
    """The lease file's JSON: the entries as earlier versions wrote them."""
    return {"version": 1, "keys": {name: entry.to_json() for name, entry in entries.items()}}
