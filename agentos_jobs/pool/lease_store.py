"""Where the credential pool keeps its state, and what a store must do; the pool's policy is in pool.py.

The state is one entry per key name: its holders, cooldown, strikes, disabled mark and the budget the
provider's headers reported. A store changes entries atomically and knows whether a holder is still there:
the file store by its pid (one machine), the Redis store by a lease that its holder renews (any machine).

By default the store belongs to the keys, not to a worktree: it sits beside the credentials file
(`~/.agentos/credentials.lease.json`), so every run of that user shares leases, cooldowns and disabled keys.
`lease_store` (or AGENTOS_LEASE_STORE) names another file, or a Redis URL for several machines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Entries = dict[str, dict[str, Any]]  # key name -> its entry
PID_MAX = 4_194_304  # Linux's highest possible pid: a larger one, 0 or -1 (every process) is damage
BEATS_PER_TTL = 3  # a lease that expires is renewed this many times per TTL: two beats may be missed


class LeaseStore(Protocol):
    where: str  # what `agentos-jobs keys` and messages name: a path, or a Redis URL without its password
    heartbeat_seconds: float | None  # how often a holder renews its lease; None: its liveness is checked otherwise

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        """Apply `change` to the entries of `names` (missing ones are empty) atomically, with the store's
        current time, after reclaiming leases whose holder is gone. `change` may be called more than once."""
        ...

    def stamp(self, holder: dict[str, Any], now: datetime) -> None:
        """Write into a new or renewed holder record what tells, later, that its holder is still there."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""
        ...


def check_entry(name: str, entry: object) -> None:
    """Every value the pool reads, checked once, so that damage is set aside instead of failing items."""
    if not isinstance(entry, dict):
        raise ValueError(f"key {name!r} is not an object")
    holders = entry.get("holders", [])
    if not isinstance(holders, list) or not all(
            isinstance(h, dict) and type(h.get("pid")) is int and 0 < h["pid"] <= PID_MAX for h in holders):
        raise ValueError(f"key {name!r} has holders that are not {{item, pid, since}} objects with a real pid")
    disabled = entry.get("disabled")
    kept = entry.get("kept_for", {})
    if not isinstance(kept, dict):
        raise ValueError(f"key {name!r} has a kept_for that is not {{call, until}}")
    times = [entry.get("cooling_until"), disabled.get("until") if isinstance(disabled, dict) else None,
             kept.get("until")]
    budget = entry.get("budget", {})
    if not isinstance(budget, dict) or not all(isinstance(b, dict) for b in budget.values()):
        raise ValueError(f"key {name!r} has a budget that is not {{dimension: {{remaining, reset}}}}")
    times += [b.get("reset") for b in budget.values()]
    # fromisoformat raises ValueError on a value that is not a time
    if any(t is not None and datetime.fromisoformat(str(t)).tzinfo is None for t in times):
        raise ValueError(f"key {name!r} has a time without a time zone")
    counts = [entry.get("granted", 0), entry.get("strikes", 0), *(b.get("remaining", 0) for b in budget.values())]
    if not all(c is None or (type(c) is int and c >= 0) for c in counts):
        raise ValueError(f"key {name!r} has a count that is not a whole number")


def holder_name(holder: dict[str, Any]) -> str:
    """A lease's holder as messages name it: its item, pid and, in the Redis store, host and expiry."""
    host = f" on {holder['host']}" if holder.get("host") else ""
    until = f", lease until {holder['expires']}" if holder.get("expires") else ""
    return f"{holder.get('item')} (pid {holder.get('pid')}{host}{until})"


