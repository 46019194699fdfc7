"""One key's entry in the lease store as a typed, frozen record: parsed and checked once where a store reads it,
written back as the same JSON once where a store writes it; the policy changes it with `dataclasses.replace`.

The JSON is what earlier versions wrote and read, field for field: {"provider", "scope", "holders": [{"item",
"pid", "since", "lease", "started" | "host", "expires"}], "granted", "reclaimed", "strikes", "cooling_until",
"cooling_reason", "kept_for": {"call", "until"}, "disabled": {"run_id", "reason", "at", "until"}, "budget":
{dimension: {"remaining", "reset"}}}; a field at its default (no count, no mark) is left out. Times the policy
computes with are datetimes; a holder's times (`since`, `started`, `expires`: messages show them as written) and
a mark's `at` stay the text they were written as, `expires` checked to be a time with its zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentos_jobs.core.fsutil import iso

PID_MAX = 4_194_304  # Linux's highest possible pid: a larger one, 0 or -1 (every process) is damage


@dataclass(frozen=True)
class Holder:
    """A lease of the key: who holds it, and what tells later that it is still there."""

    item: str | None
    pid: int
    since: str | None = None
    lease: str | None = None  # the reservation's token (none in an older version's file)
    started: str | None = None  # file store: when the holder process started, telling it from a reused pid
    host: str | None = None  # Redis store: the holder's machine
    expires: str | None = None  # Redis store: when the lease ends unless its holder renews it

    @property
    def expiry(self) -> datetime | None:
        return None if self.expires is None else datetime.fromisoformat(self.expires)

    @property
    def who(self) -> str:
        """The holder as messages name it: its item, pid and, in the Redis store, host and expiry."""
        host = f" on {self.host}" if self.host else ""
        until = f", lease until {self.expires}" if self.expires else ""
        return f"{self.item} (pid {self.pid}{host}{until})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"item": self.item, "pid": self.pid}
        optional = {"since": self.since, "lease": self.lease, "started": self.started, "host": self.host,
                    "expires": self.expires}
        return data | {key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class KeptFor:
    """The key is kept, after its cooldown, for the retry of the call that met the limit."""

    call: str | None
    until: datetime | None


@dataclass(frozen=True)
class Disabled:
    """A hard quota met: the key is not handed out until `until` (an older version's mark has none, and holds
    for its own run only)."""

    reason: str
    run_id: str | None = None
    at: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class KeyHeadroom:
    """What the provider's headers last said of one dimension (requests, tokens) of the key's quota."""

    remaining: int | None
    reset: datetime | None


@dataclass(frozen=True)
class KeyEntry:
    """One key's state in the lease store."""

    provider: str | None = None
    scope: str | None = None
    holders: tuple[Holder, ...] = ()
    granted: int = 0
    reclaimed: int = 0  # leases taken back from holders that were gone
    strikes: int = 0  # rate limits met since the key's last success
    cooling_until: datetime | None = None
    cooling_reason: str | None = None
    kept_for: KeptFor | None = None
    disabled: Disabled | None = None
    budget: Mapping[str, KeyHeadroom] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.provider is not None:
            data.update(provider=self.provider, scope=self.scope)
        data["holders"] = [holder.to_json() for holder in self.holders]
        data.update({name: count for name, count in (("granted", self.granted), ("reclaimed", self.reclaimed),
                                                      ("strikes", self.strikes)) if count})
        if self.cooling_until is not None:
            data.update(cooling_until=iso(self.cooling_until), cooling_reason=self.cooling_reason)
        if self.kept_for is not None:
            data["kept_for"] = _without_none(call=self.kept_for.call, until=_iso(self.kept_for.until))
        if self.disabled is not None:
            mark = self.disabled
            data["disabled"] = _without_none(run_id=mark.run_id, reason=mark.reason, at=mark.at,
                                             until=_iso(mark.until))
        if self.budget:
            data["budget"] = {dimension: {"remaining": b.remaining, "reset": _iso(b.reset)}
                              for dimension, b in self.budget.items()}
        return data

    @classmethod
    def from_json(cls, name: str, entry: object) -> KeyEntry:
        """Every value the pool reads, checked once, so that damage is set aside instead of failing items: a
        ValueError in one line names the key and what is wrong with its entry."""
        if not isinstance(entry, dict):
            raise ValueError(f"key {name!r} is not an object")
        holders = entry.get("holders", [])
        if not isinstance(holders, list) or not all(
                isinstance(h, dict) and type(h.get("pid")) is int and 0 < h["pid"] <= PID_MAX for h in holders):
            raise ValueError(f"key {name!r} has holders that are not {{item, pid, since}} objects with a real pid")
        kept = entry.get("kept_for", {})
        if not isinstance(kept, dict):
            raise ValueError(f"key {name!r} has a kept_for that is not {{call, until}}")
        budget = entry.get("budget", {})
        if not isinstance(budget, dict) or not all(isinstance(b, dict) for b in budget.values()):
            raise ValueError(f"key {name!r} has a budget that is not {{dimension: {{remaining, reset}}}}")
        mark = entry.get("disabled")

        def when(value: object) -> datetime | None:
            if value is None:
                return None
            moment = datetime.fromisoformat(str(value))  # a ValueError for a value that is not a time
            if moment.tzinfo is None:
                raise ValueError(f"key {name!r} has a time without a time zone")
            return moment

        def count(value: object) -> int:
            if value is None:
                return 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"key {name!r} has a count that is not a whole number")
            return value

        def remaining(value: object) -> int | None:
            return None if value is None else count(value)

        for holder in holders:  # kept as written, for messages; checked here, once
            when(holder.get("expires"))
        return cls(
            provider=_text(entry.get("provider")), scope=_text(entry.get("scope")),
            holders=tuple(Holder(item=_text(h.get("item")), pid=h["pid"], since=_text(h.get("since")),
                                 lease=_text(h.get("lease")), started=_text(h.get("started")),
                                 host=_text(h.get("host")), expires=_text(h.get("expires"))) for h in holders),
            granted=count(entry.get("granted")), reclaimed=count(entry.get("reclaimed")),
            strikes=count(entry.get("strikes")), cooling_until=when(entry.get("cooling_until")),
            cooling_reason=_text(entry.get("cooling_reason")),
            kept_for=KeptFor(_text(kept.get("call")), when(kept.get("until"))) if "kept_for" in entry else None,
            disabled=Disabled(reason=str(mark.get("reason")), run_id=_text(mark.get("run_id")),
                              at=_text(mark.get("at")), until=when(mark.get("until")))
            if isinstance(mark, dict) else None,
            budget={dimension: KeyHeadroom(remaining(b.get("remaining")), when(b.get("reset")))
                    for dimension, b in budget.items()})


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _without_none(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}
