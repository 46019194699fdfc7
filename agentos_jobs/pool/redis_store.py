"""The lease store in Redis, for runs on several machines that share one set of keys.

One JSON value per key name (`agentos-jobs:lease:<name>`), never key material. Every change is a WATCH/MULTI
transaction over the entries it reads, timed by the Redis server's clock, so machines whose clocks differ
agree on when a lease or a cooldown ends. A holder on another machine cannot be checked by pid: its lease
carries its host id and an expiry that it renews while the call runs (policy.py's heartbeat); a lease not
renewed within its TTL is reclaimed. A Redis that restarts or drops the connection is waited for (said once),
up to RECONNECT_SECONDS, so that a short outage costs no item.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from agentos_jobs.core.errors import ConfigError, StoreRefused, StoreUnavailable
from agentos_jobs.core.fsutil import iso, parse_json
from agentos_jobs.core.text import one_line
from agentos_jobs.pool.key_entry import Holder, KeyEntry
from agentos_jobs.pool.lease_store import BEATS_PER_TTL, Entries, T

PREFIX = "agentos-jobs:lease:"
RECONNECT_SECONDS = 60.0
SOCKET_TIMEOUT_SECONDS = 5.0
MESSAGE_LIMIT = 200  # characters of a server's error that reach a message
WATCH_RETRIES_AT_ONCE = 3  # a transaction that lost this many WATCH races in a row waits a little before the next
WATCH_PAUSE_SECONDS = 0.005  # the longest such wait is this times the races lost, at most 20 of them
HORIZON_TTLS = 10  # a lease expiring further ahead than this many TTLs (and HORIZON_MIN_SECONDS) is broken
HORIZON_MIN_SECONDS = 3600.0  # another run may renew with a longer lease_ttl_seconds: never less than an hour


def host_id() -> str:
    """Who holds a lease, as `agentos-jobs keys` shows it: AGENTOS_HOST_ID (a CI job's name, say) or the host."""
    return os.environ.get("AGENTOS_HOST_ID") or socket.gethostname()


def shown_url(url: str) -> str:
    """The URL without a user or password: what messages and `agentos-jobs keys` name."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def _why(exc: Exception) -> str:
    """What the server or the connection said, without the command redis-py prefixes it with in a transaction
    (the entry it was writing)."""
    said = str(exc).rsplit(" caused error: ", 1)[-1]
    return one_line(said, MESSAGE_LIMIT) or type(exc).__name__


class RedisLeaseStore:
    def __init__(self, url: str, ttl_seconds: float, say: Callable[[str], None]) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError("lease_store is a Redis URL, which needs the Redis client; run: pip install "
                              "'agentos-jobs[redis]'") from None
        self.where = shown_url(url)
        try:
            self.client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                               socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, decode_responses=True)
        except ValueError as exc:
            raise ConfigError(f"lease_store {self.where}: not a Redis URL ({exc}); use redis://host:6379/0") from None
        self.errors = redis.exceptions
        self.ttl = timedelta(seconds=ttl_seconds)
        self.heartbeat_seconds: float | None = ttl_seconds / BEATS_PER_TTL
        self.host = host_id()
        self.say = say
        self.out_of_reach = False  # said once per outage, however many transactions wait through it

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"lease store {self.where} cannot be reached ({_why(exc)}); start it, or set "
                                "lease_store (AGENTOS_LEASE_STORE) to another store")

    def _refused(self, exc: Exception) -> StoreRefused:
        """A server that answers but refuses: waiting would not change its mind, so say what it said and the fix."""
        if isinstance(exc, self.errors.AuthenticationError):
            return StoreRefused(f"lease store {self.where} refused the credentials in its URL ({_why(exc)}); set "
                                "the right user and password in lease_store (AGENTOS_LEASE_STORE)")
        why = _why(exc)
        if isinstance(exc, self.errors.ReadOnlyError):
            fix = "it is a read-only replica: point lease_store (AGENTOS_LEASE_STORE) at the primary"
        elif why.startswith("MISCONF"):
            fix = "it cannot save its data and refuses writes: fix its disk or its save settings"
        else:
            fix = "check that lease_store (AGENTOS_LEASE_STORE) names a Redis server this user may write to"
        return StoreRefused(f"lease store {self.where} refused the request ({why}); {fix}")

    def check(self) -> None:
        try:
            self.client.ping()
        except self.errors.AuthenticationError as exc:
            raise self._refused(exc) from None
        except (self.errors.ConnectionError, self.errors.TimeoutError) as exc:
            raise self._unavailable(exc) from None
        except self.errors.RedisError as exc:
            raise self._refused(exc) from None

    def stamp(self, holder: Holder, now: datetime) -> Holder:
        return dataclasses.replace(holder, host=self.host, expires=iso(now + self.ttl))

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        """One transaction; retried when another process changed an entry meanwhile, and waited through a
        Redis that is restarting or out of reach for up to RECONNECT_SECONDS."""
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                result = self._transaction(names, change)
            except self.errors.AuthenticationError as exc:  # a ConnectionError to redis-py, but nothing to wait for
                raise self._refused(exc) from None
            except (self.errors.ConnectionError, self.errors.TimeoutError, self.errors.BusyLoadingError) as exc:
                if time.monotonic() > deadline:
                    raise self._unavailable(exc) from None
                self._say_out_of_reach(exc)
                time.sleep(0.5)
            except self.errors.RedisError as exc:  # a read-only replica, a full disk: nothing to wait for either
                raise self._refused(exc) from None
            else:
                self.out_of_reach = False
                return result

    def _say_out_of_reach(self, exc: Exception) -> None:
        """Once per outage, not once per transaction: the heartbeat and every waiting call meet the same one."""
        if not self.out_of_reach:
            self.out_of_reach = True
            self.say(f"lease store {self.where} is out of reach ({type(exc).__name__}); waiting up to "
                     f"{RECONNECT_SECONDS:g}s for it")

    def _transaction(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        keys = [PREFIX + name for name in names]
        with self.client.pipeline() as pipe:
            lost = 0  # WATCH races lost in a row
            while True:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    seconds, micros = pipe.time()
                    now = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
                    read = {name: self._parse(name, raw) for name, raw in zip(names, pipe.mget(keys), strict=True)}
                    entries = {name: entry for name, entry in read.items() if entry is not None}
                    before = {name: _text(entry) for name, entry in entries.items()}
                    self._reclaim(entries, now)
                    result = change(entries, now)
                    after = {PREFIX + name: _text(entries[name]) for name in names
                             if name in entries and _text(entries[name]) != before.get(name)}
                    if after:
                        pipe.multi()
                        pipe.mset(after)
                        pipe.execute()
                    return result
                except self.errors.WatchError:
                    lost += 1
                    self._pause_after(lost)

    @staticmethod
    def _pause_after(lost: int) -> None:
        """After a few lost WATCH races, a short random wait: processes that retry at once collide again."""
        if lost >= WATCH_RETRIES_AT_ONCE:
            time.sleep(random.uniform(0, WATCH_PAUSE_SECONDS * min(lost, 20)))

    def _parse(self, name: str, raw: str | bytes | None) -> KeyEntry | None:
        """The entry; None when there is none, or it is unreadable (said, and rebuilt by the next change)."""
        if raw is None:
            return None
        try:
            entry = KeyEntry.from_json(name, parse_json(raw if isinstance(raw, str) else raw.decode()))
            if any(holder.expires is None for holder in entry.holders):
                raise ValueError(f"key {name!r} has a lease without an expiry")
        except (ValueError, KeyError, TypeError) as exc:
            self.say(f"lease store {self.where}: the entry of key {name!r} was unreadable ({exc}); rebuilt it")
            return None
        return entry

    def _reclaim(self, entries: Entries, now: datetime) -> None:
        """Leases not renewed in time are reclaimed, and so is one that expires further ahead than any holder
        stamps (HORIZON_TTLS of this run's TTL, an hour at least): it is damage (a clock gone wrong, a hand
        edit), and its key would otherwise wait for it, in vain, until the items' worker_timeout_seconds."""
        horizon = now + max(self.ttl * HORIZON_TTLS, timedelta(seconds=HORIZON_MIN_SECONDS))
        for name, entry in list(entries.items()):
            expiries = [(h, h.expiry) for h in entry.holders]
            alive = tuple(h for h, expiry in expiries if expiry and now < expiry <= horizon)
            for broken in (h for h, expiry in expiries if expiry and expiry > horizon):
                self.say(f"lease store {self.where}: the lease of key {name!r} held by {broken.who} "
                         f"expires at {broken.expires}, further ahead than any lease is renewed; treated as "
                         "broken and reclaimed")
            if len(alive) != len(entry.holders):
                entries[name] = dataclasses.replace(entry, holders=alive,
                                                    reclaimed=entry.reclaimed + len(entry.holders) - len(alive))


def _text(entry: KeyEntry) -> str:
    """An entry's value in Redis: the JSON earlier versions wrote."""
    return json.dumps(entry.to_json(), sort_keys=True)
