"""The credential pool: who holds which key, which keys are cooling or disabled, shared by every process.

The state is a JSON lease file, read-modify-written under a portalocker lock on a separate `.lock` file and
replaced atomically (locking the data file itself while replacing it loses updates). It holds key names only.
Leases whose holder process is gone are reclaimed: the OS frees a dead holder's lock, not its lease record.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import portalocker

from .credentials import Credential
from .fsutil import atomic_write_json, clear_way, iso, move_aside, parse_json, utc_now
from .procs import same_process, start_time

LOCK_TIMEOUT_SECONDS = 30.0
# The longest a key is cooled, whatever a server's wait hint (or a lease file of an older version) says:
# a longer hint is a broken or hostile server, and an hour later the key is simply tried again.
MAX_COOLDOWN_SECONDS = 3600.0
PID_MAX = 4_194_304  # Linux's highest possible pid: a larger one, 0 or -1 (every process) is damage


@dataclass(frozen=True)
class KeyState:
    """One key as `agentos-jobs keys` and the pool-exhausted line show it."""

    name: str
    holders: list[dict[str, Any]]
    max_concurrency: int
    cooling_until: datetime | None
    cooling_reason: str | None
    disabled: str | None

    @property
    def free(self) -> bool:
        return not self.disabled and self.cooling_until is None and len(self.holders) < self.max_concurrency

    def describe(self) -> str:
        if self.disabled:
            return f"disabled: {self.disabled}"
        parts = []
        if self.holders:
            parts.append("held by " + ", ".join(f"{h['item']} (pid {h['pid']}, since {h['since']})"
                                                for h in self.holders))
        if self.cooling_until:
            parts.append(f"cooling until {iso(self.cooling_until)} ({self.cooling_reason})")
        return "; ".join(parts) or "free"


@dataclass(frozen=True)
class PoolView:
    """Why no key was free: the counts the pool-exhausted line reports."""

    in_use: int
    cooling: int
    disabled: int
    total: int
    next_free_at: datetime | None
    next_free_key: str | None = None  # the key that cools down first

    @property
    def usable(self) -> int:
        return self.total - self.disabled

    @property
    def only_cooling(self) -> bool:
        """Every usable key is cooling and none is merely busy: waiting now is a rate-limit backoff."""
        return self.usable > 0 and self.in_use == 0

    def line(self, provider: str) -> str:
        until = f" until {iso(self.next_free_at)}" if self.next_free_at else ""
        return (f"no {provider} key free: {self.in_use} in use, {self.cooling} cooling{until}, "
                f"{self.disabled} disabled, of {self.total}; waiting")


def _check_entry(name: str, entry: object) -> None:
    """Every value the pool reads, checked once, so a damaged file is moved aside instead of failing items."""
    if not isinstance(entry, dict):
        raise ValueError(f"key {name!r} is not an object")
    holders = entry.get("holders", [])
    if not isinstance(holders, list) or not all(
            isinstance(h, dict) and type(h.get("pid")) is int and 0 < h["pid"] <= PID_MAX for h in holders):
        raise ValueError(f"key {name!r} has holders that are not {{item, pid, since}} objects with a real pid")
    until = entry.get("cooling_until")
    # fromisoformat raises ValueError on a value that is not a time
    if until is not None and datetime.fromisoformat(str(until)).tzinfo is None:
        raise ValueError(f"key {name!r} has a cooling_until without a time zone")
    if not isinstance(entry.get("granted", 0), int):
        raise ValueError(f"key {name!r} has a non-numeric 'granted'")


def _cooling_until(entry: dict[str, Any], now: datetime) -> datetime | None:
    """When the key's cooldown ends, never beyond MAX_COOLDOWN_SECONDS from now: a later end is cut down in
    the entry itself (written back with the state), so the cap does not move on with the clock."""
    until = entry.get("cooling_until")
    if not isinstance(until, str):
        return None
    if datetime.fromisoformat(until) > now + timedelta(seconds=MAX_COOLDOWN_SECONDS):
        entry["cooling_until"] = until = iso(now + timedelta(seconds=MAX_COOLDOWN_SECONDS))
    return datetime.fromisoformat(until)


class CredentialPool:
    def __init__(self, lease_path: Path, credentials: list[Credential], run_id: str,
                 say: Callable[[str], None]) -> None:
        self.path = lease_path
        self.lock_path = lease_path.with_name(lease_path.name + ".lock")
        self.credentials = {c.name: c for c in credentials}
        self.run_id = run_id
        self.say = say

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        """The lease state for one read-modify-write; written back atomically when the block changes it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if moved := clear_way(self.lock_path, "lock file"):
            self.say(f"{moved} and made a new one")
        with portalocker.Lock(self.lock_path, mode="a", timeout=LOCK_TIMEOUT_SECONDS):
            state = self._read()
            before = json.dumps(state, sort_keys=True)
            self._reclaim(state)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                atomic_write_json(self.path, state, private=True)  # whose keys are busy is nobody else's

    def _read(self) -> dict[str, Any]:
        if moved := clear_way(self.path, "lease file"):
            self.say(f"{moved} and rebuilt it")
        if not self.path.exists():
            return {"version": 1, "keys": {}}
        try:
            state = parse_json(self.path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("keys"), dict):
                raise ValueError("not a lease file")
            for name, entry in state["keys"].items():
                _check_entry(name, entry)
        except (ValueError, UnicodeDecodeError) as exc:
            aside = move_aside(self.path)
            self.say(f"lease file {self.path} was unreadable ({exc}); moved it to {aside.name} and rebuilt it")
            return {"version": 1, "keys": {}}
        return state

    @staticmethod
    def _reclaim(state: dict[str, Any]) -> None:
        for entry in state["keys"].values():
            holders = entry.get("holders", [])
            alive = [h for h in holders if same_process(h["pid"], h.get("started"))]
            if len(alive) != len(holders):
                entry["holders"] = alive
                entry["reclaimed"] = entry.get("reclaimed", 0) + len(holders) - len(alive)

    def _entry(self, state: dict[str, Any], credential: Credential) -> dict[str, Any]:
        entry: dict[str, Any] = state["keys"].setdefault(credential.name, {})
        entry.update(provider=credential.provider, scope=credential.scope)
        entry.setdefault("holders", [])
        return entry

    def _key_state(self, credential: Credential, entry: dict[str, Any], now: datetime) -> KeyState:
        cooling = _cooling_until(entry, now)
        if cooling and cooling <= now:
            cooling = None
        disabled = None
        if not credential.enabled:
            disabled = "enabled is false in the credentials file"
        elif isinstance(entry.get("disabled"), dict) and entry["disabled"].get("run_id") == self.run_id:
            disabled = str(entry["disabled"].get("reason"))
        return KeyState(name=credential.name, holders=list(entry.get("holders", [])),
                        max_concurrency=credential.max_concurrency, cooling_until=cooling,
                        cooling_reason=entry.get("cooling_reason") if cooling else None, disabled=disabled)

    def try_reserve(self, provider: str, holder: str) -> Credential | PoolView:
        """A key for `holder` now, the least used first; or a view of why there is none."""
        now = utc_now()
        with self._state() as state:
            candidates = [c for c in self.credentials.values() if c.provider == provider]
            views = [(c, self._key_state(c, self._entry(state, c), now)) for c in candidates]
            free = [(c, v) for c, v in views if v.free]
            if free:
                credential = min(free, key=lambda cv: (len(cv[1].holders), state["keys"][cv[0].name]
                                                       .get("granted", 0)))[0]
                entry = state["keys"][credential.name]
                entry["holders"].append({"item": holder, "pid": os.getpid(), "started": start_time(os.getpid()),
                                         "since": iso(now)})
                entry["granted"] = entry.get("granted", 0) + 1
                return credential
        coolings = sorted((v.cooling_until, v.name) for _, v in views if v.cooling_until and not v.disabled)
        return PoolView(in_use=sum(1 for _, v in views if v.holders and not v.disabled and not v.cooling_until),
                        cooling=len(coolings), disabled=sum(1 for _, v in views if v.disabled), total=len(views),
                        next_free_at=coolings[0][0] if coolings else None,
                        next_free_key=coolings[0][1] if coolings else None)

    def release(self, credential: Credential) -> None:
        pid = os.getpid()
        with self._state() as state:
            entry = self._entry(state, credential)
            for index, held in enumerate(entry["holders"]):
                if held.get("pid") == pid:
                    del entry["holders"][index]
                    break

    def cool(self, credential: Credential, seconds: float, reason: str) -> list[str]:
        """Cool the key, and every key of its scope: they share one quota, for `seconds` (>= 0, `inf` included)
        but at most MAX_COOLDOWN_SECONDS. Returns the names cooled."""
        now = utc_now()
        until = now + timedelta(seconds=min(seconds, MAX_COOLDOWN_SECONDS))
        group = [c for c in self.credentials.values()
                 if c is credential or (credential.scope and c.scope == credential.scope)]
        with self._state() as state:
            for member in group:
                entry = self._entry(state, member)
                current = _cooling_until(entry, now)
                if current is None or current < until:
                    entry["cooling_until"] = iso(until)
                    entry["cooling_reason"] = reason
        return [c.name for c in group]

    def disable(self, credential: Credential, reason: str) -> None:
        with self._state() as state:
            self._entry(state, credential)["disabled"] = {"run_id": self.run_id, "reason": reason,
                                                          "at": iso(utc_now())}

    def snapshot(self) -> list[KeyState]:
        now = utc_now()
        with self._state() as state:
            return [self._key_state(c, self._entry(state, c), now) for c in self.credentials.values()]
