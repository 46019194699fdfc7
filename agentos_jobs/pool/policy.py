"""The credential pool's policy: which key a call gets, when a key is cooling, paced out or disabled.

The state lives in a lease store (lease_store.py: a file, or Redis for several machines), shared by every
process and run that uses the same keys; this module only decides. It holds key names only.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from agentos_jobs.core.errors import StoreUnavailable
from agentos_jobs.core.fsutil import iso, to_millis
from agentos_jobs.core.metering import Limits
from agentos_jobs.core.text import one_line
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.key_entry import Disabled, Holder, KeptFor, KeyEntry, KeyHeadroom
from agentos_jobs.pool.lease_store import BEATS_PER_TTL, Entries, LeaseStore

# The longest a key is cooled, whatever a server's wait hint (or a lease store of an older version) says:
# a longer hint is a broken or hostile server, and an hour later the key is simply tried again.
MAX_COOLDOWN_SECONDS = 3600.0
# A hard quota (insufficient_quota, a spend limit, a per-day quota) disables a key for this long, for every run
# that shares the store: a quota topped up, or a new day, is found by one call an hour, not one per item.
DISABLE_SECONDS = 3600.0
PROBE_GRACE_SECONDS = 5.0  # how long a key waits, after its cooldown, for the call it is kept for
KEPT_POLL_SECONDS = 0.2  # how often a call waiting behind a kept key looks again: it is free once that call took one
HOLDERS_SHOWN = 3  # of the keys in use, and of the holders of each, the wait line names so many


@dataclass(frozen=True)
class KeyView:
    """One key as `agentos-jobs keys` and the pool-exhausted line show it."""

    name: str
    holders: tuple[Holder, ...]
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
            parts.append("held by " + ", ".join(
                f"{h.item} ({'host ' + h.host + ', ' if h.host else ''}pid {h.pid}, since {h.since})"
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
    held_by: tuple[str, ...] = ()  # the keys in use and their holders (Holder.who), a few

    @property
    def usable(self) -> int:
        return self.total - self.disabled

    @property
    def only_cooling(self) -> bool:
        """Every usable key is cooling and none is merely busy: waiting now is a rate-limit wait."""
        return self.usable > 0 and self.in_use == 0

    def line(self, provider: str) -> str:
        until = f" until {iso(self.next_free_at)}" if self.next_free_at else ""
        held = f" ({'; '.join(self.held_by)})" if self.held_by else ""
        return (f"no {provider} key free: {self.in_use} in use{held}, {self.cooling} cooling{until}, "
                f"{self.disabled} disabled, of {self.total}; waiting")


@dataclass(frozen=True)
class Cooled:
    names: list[str]  # the key and every key of its scope
    seconds: float  # as asked: the hint, or the backoff for the key's strikes (the store keeps at most an hour)


def _capped(entry: KeyEntry, now: datetime) -> KeyEntry:
    """The entry with its cooldown ending no later than MAX_COOLDOWN_SECONDS from now: a later end is cut down
    in the entry itself (written back with the state), so the cap does not move on with the clock."""
    cap = to_millis(now + timedelta(seconds=MAX_COOLDOWN_SECONDS))
    return replace(entry, cooling_until=cap) if entry.cooling_until and entry.cooling_until > cap else entry


def _spent_until(entry: KeyEntry, now: datetime) -> tuple[datetime, str] | None:
    """The latest reset of a budget the provider said is spent (remaining 0), if it is still ahead."""
    spent = [(budget.reset, dimension) for dimension, budget in entry.budget.items()
             if budget.remaining == 0 and budget.reset and budget.reset > now]
    return max(spent) if spent else None


def _disabled(entry: KeyEntry, run_id: str, now: datetime) -> str | None:
    mark = entry.disabled
    if mark is None:
        return None
    if mark.until is None:  # written by an older version: for the run that saw it
        return mark.reason if mark.run_id == run_id else None
    return f"{mark.reason} (until {iso(mark.until)})" if mark.until > now else None


class CredentialPool:
    def __init__(self, store: LeaseStore | Path, credentials: list[Credential], run_id: str,
                 say: Callable[[str], None]) -> None:
        if isinstance(store, Path):
            from agentos_jobs.pool.file_store import FileLeaseStore

            store = FileLeaseStore(store, say)
        self.store: LeaseStore = store
        self.credentials = {c.name: c for c in credentials}
        self.run_id = run_id
        self.say = say
        self._held: dict[str, tuple[str, Holder]] = {}  # lease token -> (key name, holder record)
        self._guard = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._last_held: set[str] = set()  # keys that had holders when this process last looked

    def _group(self, credential: Credential) -> list[Credential]:
        """The key and every key of its scope: they share one quota."""
        return [c for c in self.credentials.values()
                if c is credential or (credential.scope and c.scope == credential.scope)]

    @staticmethod
    def _entry(entries: Entries, credential: Credential, now: datetime) -> KeyEntry:
        """The key's entry, put in `entries` with its provider and scope and its cooldown capped."""
        entry = entries[credential.name] = _capped(replace(
            entries.get(credential.name) or KeyEntry(), provider=credential.provider, scope=credential.scope), now)
        return entry

    def _key_state(self, credential: Credential, entry: KeyEntry, now: datetime,
                   call: str | None = None) -> KeyView:
        """The key as `call` sees it: a key kept for another call's retry is cooling for it."""
        cooling, reason = entry.cooling_until, entry.cooling_reason
        if cooling and cooling <= now:
            cooling = None
        spent = _spent_until(entry, now)
        if spent and (cooling is None or spent[0] > cooling):
            cooling, reason = spent[0], f"its {spent[1]} budget is spent until the provider's reset"
        kept = entry.kept_for or KeptFor(None, None)
        if kept.call != call and kept.until and kept.until > now and (cooling is None or kept.until > cooling):
            soon = min(kept.until, now + timedelta(seconds=KEPT_POLL_SECONDS))  # once its cooldown is over
            cooling = soon if cooling is None else max(cooling, soon)
            reason = f"kept for the retry of {str(kept.call).split('#')[0]}" if cooling == soon else reason
        disabled = ("enabled is false in the credentials file" if not credential.enabled else
                    _disabled(entry, self.run_id, now))
        return KeyView(name=credential.name, holders=entry.holders,
                        max_concurrency=credential.max_concurrency, cooling_until=cooling,
                        cooling_reason=reason if cooling else None, disabled=disabled)

    def try_reserve(self, provider: str, holder: str, call: str | None = None,
                    only: str | None = None) -> Credential | PoolView:
        """A key for `holder` now, the least used first, or the key named `only`; or a view of why there is
        none. `call` names the call asking: a key kept for its retry is free for it alone."""
        candidates = [c for c in self.credentials.values() if c.provider == provider and only in (None, c.name)]
        token = secrets.token_hex(8)

        def reserve(entries: Entries, now: datetime) -> Credential | PoolView:
            if again := self._reserved(entries, candidates, token):
                return again
            for credential in candidates:
                self._keep_lost(entries, credential, now)
            views = [(c, self._key_state(c, self._entry(entries, c, now), now, call)) for c in candidates]
            free = [(c, v) for c, v in views if v.free]
            if free:
                credential = min(free, key=lambda cv: (len(cv[1].holders), entries[cv[0].name].granted))[0]
                entry = entries[credential.name]
                record = self.store.stamp(Holder(item=holder, pid=os.getpid(), lease=token, since=iso(now)), now)
                entries[credential.name] = replace(entry, holders=(*entry.holders, record), granted=entry.granted + 1)
                for other in candidates:  # this call has its key: any other kept for it is free for all
                    kept = entries[other.name].kept_for if other.name in entries else None
                    if call and kept and kept.call == call:
                        entries[other.name] = replace(entries[other.name], kept_for=None)
                for member in self._group(credential):  # one request of the scope's budget is spoken for
                    if member.name in entries:
                        entries[member.name] = _spent(entries[member.name], now)
                return credential
            coolings = sorted((v.cooling_until, v.name) for _, v in views if v.cooling_until and not v.disabled)
            busy = [v for _, v in views if v.holders and not v.disabled and not v.cooling_until]
            return PoolView(in_use=len(busy), held_by=tuple(
                                f"{v.name} by {', '.join(h.who for h in v.holders[:HOLDERS_SHOWN])}"
                                for v in busy[:HOLDERS_SHOWN]),
                            cooling=len(coolings), disabled=sum(1 for _, v in views if v.disabled),
                            total=len(views), next_free_at=coolings[0][0] if coolings else None,
                            next_free_key=coolings[0][1] if coolings else None)

        got = self.store.update([c.name for c in candidates], reserve)
        if isinstance(got, Credential):
            self._remember(token, got.name, holder)
        return got

    @staticmethod
    def _reserved(entries: Entries, candidates: list[Credential], token: str) -> Credential | None:
        """The key this lease token already holds: a reservation retried after its reply was lost (a dropped
        connection) must not add a second record, which would block the key for a TTL."""
        return next((c for c in candidates
                     if c.name in entries and any(h.lease == token for h in entries[c.name].holders)), None)

    def _keep_lost(self, entries: Entries, credential: Credential, now: datetime) -> None:
        """A key this process last found held, whose entry the store has lost since (a Redis restarted empty),
        is kept for one lease TTL: its holders' heartbeats put their leases back meanwhile, and handing it out
        first would give it one holder too many."""
        entry = entries.get(credential.name)
        if entry is not None and entry.holders:
            self._last_held.add(credential.name)
        elif entry is not None:
            self._last_held.discard(credential.name)
        elif credential.name in self._last_held and self.store.heartbeat_seconds:
            until = now + timedelta(seconds=self.store.heartbeat_seconds * BEATS_PER_TTL)
            entries[credential.name] = KeyEntry(cooling_until=until, cooling_reason="the lease store lost its "
                                                "leases; kept a lease TTL for their holders to put them back")

    def release(self, credential: Credential, limits: Limits | None = None, succeeded: bool = False) -> None:
        """End this process's lease of the key; record what the answer's headers said of the budget, and a
        success ends the key's run of rate-limit strikes."""
        with self._guard:
            token = next((t for t, (name, _) in self._held.items() if name == credential.name), None)
            self._held.pop(token or "", None)
        group = self._group(credential)

        def release(entries: Entries, now: datetime) -> None:
            entry = self._entry(entries, credential, now)
            entries[credential.name] = replace(entry, holders=_without(entry.holders, token))
            for member in group:
                entry = self._entry(entries, member, now)
                if succeeded:
                    entry = replace(entry, strikes=0, kept_for=None)
                entries[member.name] = _recorded(entry, limits or {}, now)

        self.store.update([c.name for c in group], release)

    def cool(self, credential: Credential, seconds: float | None, reason: str,
             backoff: Callable[[int], float] | None = None, call: str | None = None) -> Cooled:
        """Cool the key, and every key of its scope: they share one quota. For `seconds` (the server's hint,
        `inf` included) or else `backoff(strikes)`, where strikes counts the rate limits the key has met since
        its last success, this one included; never beyond MAX_COOLDOWN_SECONDS. The keys are then kept for
        `call`'s retry, for PROBE_GRACE_SECONDS after the cooldown or until it takes a key: without a hint, only
        the call that met the limit finds out whether it is over, so that no other call pays a 429 for it; with
        one, the call that met the limit goes first in the next window, so that the 429 a window costs (when
        the server says nothing of a budget until it is spent) falls on another call each time, not on one
        unlucky item until it runs out of retries."""
        group = self._group(credential)

        def cool(entries: Entries, now: datetime) -> float:
            strikes = 1 + max(self._entry(entries, c, now).strikes for c in group)
            wait = seconds if seconds is not None else backoff(strikes) if backoff else 0.0
            until = to_millis(now + timedelta(seconds=min(wait, MAX_COOLDOWN_SECONDS)))
            kept = KeptFor(call, until + timedelta(seconds=PROBE_GRACE_SECONDS)) if call else None
            for member in group:
                entry = replace(self._entry(entries, member, now), strikes=strikes, kept_for=kept)
                if entry.cooling_until is None or entry.cooling_until < until:
                    entry = replace(entry, cooling_until=until, cooling_reason=reason)
                entries[member.name] = entry
            return wait

        wait = self.store.update([c.name for c in group], cool)
        return Cooled([c.name for c in group], wait)

    def disable(self, credential: Credential, reason: str) -> None:
        def disable(entries: Entries, now: datetime) -> None:
            until = to_millis(now + timedelta(seconds=DISABLE_SECONDS))
            entries[credential.name] = replace(self._entry(entries, credential, now), disabled=Disabled(
                reason=reason, run_id=self.run_id, at=iso(now), until=until))

        self.store.update([credential.name], disable)

    def snapshot(self) -> list[KeyView]:
        def look(entries: Entries, now: datetime) -> list[KeyView]:
            return [self._key_state(c, self._entry(entries, c, now), now) for c in self.credentials.values()]

        return self.store.update(list(self.credentials), look)

    def _remember(self, token: str, name: str, holder: str) -> None:
        """Keep the lease's record: a store with leases that expire (Redis) has it renewed while it is held."""
        with self._guard:
            self._held[token] = (name, Holder(item=holder, pid=os.getpid(), lease=token))
            if self.store.heartbeat_seconds and self._heartbeat is None:
                self._heartbeat = threading.Thread(target=self._renew_forever, name="lease-heartbeat", daemon=True)
                self._heartbeat.start()

    def _renew_forever(self) -> None:
        """Renew the held leases every beat until the process ends. A failing beat is said once (until one
        succeeds) and the next tries again: a dead heartbeat lets leases run out mid-call and the key go to a
        second holder. Should the thread end all the same, the next lease starts another."""
        beat = self.store.heartbeat_seconds
        assert beat
        failing = False
        try:
            while True:
                time.sleep(beat)
                failing = self._beat(failing)
        finally:
            with self._guard:
                self._heartbeat = None

    def _beat(self, failing: bool) -> bool:
        """One renewal; whether the heartbeat is failing (said) after it."""
        try:
            self.renew()
        except StoreUnavailable:
            return failing  # said by the store, once per outage; the next beat tries again
        except Exception as exc:
            if not failing:
                self.say(f"renewing the key leases failed ({type(exc).__name__}: {one_line(str(exc), 200)}); "
                         "trying again at every beat")
            return True
        return False

    def renew(self) -> None:
        """Extend every lease this process holds. The store is asked outside the guard (it may wait out an
        outage), so that releasing or taking a lease never waits for the heartbeat."""
        with self._guard:
            held = list(self._held.items())
        for token, (name, record) in held:
            if others := self.store.update([name], self._renewal(name, token, record)):
                self.say(f"the lease of key {name} for {record.item} was lost (the lease store restarted empty "
                         f"or was out of reach past the lease TTL) and {others} took the key meanwhile: both calls "
                         "finish (recalling one would throw away what it cost), and the lease is put back, so that "
                         "no other call takes the key until they have")

    def _holds(self, token: str) -> bool:
        with self._guard:
            return token in self._held

    def _renewal(self, name: str, token: str, record: Holder) -> Callable[[Entries, datetime], str]:
        """Stamp the lease anew. One the store lost (a Redis restarted empty, an outage past the TTL) is put
        back, unless it was released meanwhile: even when the key went to others up to its max_concurrency (a
        holder that never saw the lease cannot know of it), so that the store says who calls on the key and
        grants it to no one more until they are done. Returns those others, to be said, or ""."""
        capacity = self.credentials[name].max_concurrency

        def renew(entries: Entries, now: datetime) -> str:
            entry = entries[name] = entries.get(name) or KeyEntry()
            mine = next((h for h in entry.holders if h.lease == token), None)
            if mine is None and not self._holds(token):
                return ""
            others, holders = "", entry.holders
            if mine is None:
                others = ", ".join(h.who for h in holders) if len(holders) >= capacity else ""
                mine = replace(record, since=iso(now))
                holders = (*holders, mine)
            stamped = self.store.stamp(mine, now)
            entries[name] = replace(entry, holders=tuple(stamped if h is mine else h for h in holders))
            return others

        return renew


def _spent(entry: KeyEntry, now: datetime) -> KeyEntry:
    """Count a request against the budget the provider last reported, until its answer says more; a budget
    whose reset has passed is forgotten."""
    budget = {dimension: b for dimension, b in entry.budget.items() if (b.reset or now) > now}
    requests = budget.get("requests")
    if requests and requests.remaining:  # neither unknown (None) nor spent (0)
        budget["requests"] = replace(requests, remaining=requests.remaining - 1)
    return replace(entry, budget=budget)


def _recorded(entry: KeyEntry, limits: Limits, now: datetime) -> KeyEntry:
    """The entry with what an answer's headers said of each dimension of the key's budget."""
    budget: dict[str, KeyHeadroom] = dict(entry.budget)
    for dimension, said in limits.items():
        if said.reset_seconds is None:
            continue
        reset = to_millis(now + timedelta(seconds=min(said.reset_seconds, MAX_COOLDOWN_SECONDS)))
        known = budget.get(dimension)
        remaining = said.remaining
        if (remaining is not None and known and known.remaining is not None and known.reset and known.reset > now
                and reset <= known.reset + timedelta(seconds=1)):
            remaining = min(remaining, known.remaining)  # an answer overtaken by a later one, same window
        budget[dimension] = KeyHeadroom(remaining, reset)
    return replace(entry, budget=budget)


def _without(holders: tuple[Holder, ...], token: str | None) -> tuple[Holder, ...]:
    """The holders less a lease: every record of its token (a retried reservation may have left two), or else
    this process's first record without a host (the file store's, of an older version that had no tokens)."""
    kept = tuple(h for h in holders if token is None or h.lease != token)
    if len(kept) < len(holders):
        return kept
    mine = next((i for i, h in enumerate(holders) if h.pid == os.getpid() and not h.host), None)
    return holders if mine is None else holders[:mine] + holders[mine + 1:]
