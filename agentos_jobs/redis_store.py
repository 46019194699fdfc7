"""The lease store in Redis, for runs on several machines that share one set of keys.

One JSON value per key name (`agentos-jobs:lease:<name>`), never key material. Every change is a WATCH/MULTI
transaction over the entries it reads, timed by the Redis server's clock, so machines whose clocks differ
agree on when a lease or a cooldown ends. A holder on another machine cannot be checked by pid: its lease
carries its host id and an expiry that it renews while the call runs (pool.py's heartbeat); a lease not
renewed within its TTL is reclaimed. A Redis that restarts or drops the connection is waited for (said once),
up to RECONNECT_SECONDS, so that a short outage costs no item.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .config import ConfigError
from .fsutil import iso, parse_json
from .lease_store import Entries, StoreUnavailable, T, check_entry

PREFIX = "agentos-jobs:lease:"
RECONNECT_SECONDS = 60.0
SOCKET_TIMEOUT_SECONDS = 5.0


def host_id() -> str:
    """Who holds a lease, as `agentos-jobs keys` shows it: AGENTOS_HOST_ID (a CI job's name, say) or the host."""
    return os.environ.get("AGENTOS_HOST_ID") or socket.gethostname()


def shown_url(url: str) -> str:
    """The URL without a user or password: what messages and `agentos-jobs keys` name."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


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
        self.heartbeat_seconds: float | None = ttl_seconds / 3
        self.host = host_id()
        self.say = say

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        why = str(exc).split("\n", 1)[0] or type(exc).__name__
        return StoreUnavailable(f"lease store {self.where} cannot be reached ({why}); start it, or set lease_store "
                                "(AGENTOS_LEASE_STORE) to another store")

    def check(self) -> None:
        try:
            self.client.ping()
        except self.errors.RedisError as exc:
            raise self._unavailable(exc) from None

    def stamp(self, holder: dict[str, Any], now: datetime) -> None:
        holder["host"] = self.host
        holder["expires"] = iso(now + self.ttl)

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        """One transaction; retried when another process changed an entry meanwhile, and waited through a
        Redis that is restarting or out of reach for up to RECONNECT_SECONDS."""
        deadline, said = time.monotonic() + RECONNECT_SECONDS, False
        while True:
            try:
                return self._transaction(names, change)
            except (self.errors.ConnectionError, self.errors.TimeoutError, self.errors.BusyLoadingError) as exc:
                if time.monotonic() > deadline:
                    raise self._unavailable(exc) from None
                if not said:
                    self.say(f"lease store {self.where} is out of reach ({type(exc).__name__}); waiting up to "
                             f"{RECONNECT_SECONDS:g}s for it")
                    said = True
                time.sleep(0.5)
            except self.errors.RedisError as exc:  # a wrong password, a server that refuses: nothing to wait for
                raise self._unavailable(exc) from None

    def _transaction(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        keys = [PREFIX + name for name in names]
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    seconds, micros = pipe.time()
                    now = datetime.fromtimestamp(seconds + micros / 1e6, UTC)
                    entries = {name: self._parse(name, raw) for name, raw in zip(names, pipe.mget(keys), strict=True)}
                    before = {name: json.dumps(entry, sort_keys=True) for name, entry in entries.items()}
                    self._reclaim(entries, now)
                    result = change(entries, now)
                    after = {PREFIX + name: json.dumps(entries[name], sort_keys=True) for name in names
                             if name in entries and json.dumps(entries[name], sort_keys=True) != before[name]}
                    if after:
                        pipe.multi()
                        pipe.mset(after)
                        pipe.execute()
                    return result
                except self.errors.WatchError:
                    continue

    def _parse(self, name: str, raw: str | bytes | None) -> dict[str, Any]:
        if raw is None:
            return {}
        try:
            entry = parse_json(raw if isinstance(raw, str) else raw.decode())
            check_entry(name, entry)
            if any(datetime.fromisoformat(h["expires"]).tzinfo is None for h in entry.get("holders", [])):
                raise ValueError("a lease expiry without a time zone")
        except (ValueError, KeyError, TypeError) as exc:
            self.say(f"lease store {self.where}: the entry of key {name!r} was unreadable ({exc}); rebuilt it")
            return {}
        return entry  # type: ignore[no-any-return]

    @staticmethod
    def _reclaim(entries: Entries, now: datetime) -> None:
        for entry in entries.values():
            holders = entry.get("holders", [])
            alive = [h for h in holders if datetime.fromisoformat(h["expires"]) > now]
            if len(alive) != len(holders):
                entry["holders"] = alive
                entry["reclaimed"] = entry.get("reclaimed", 0) + len(holders) - len(alive)
