"""Where the credential pool keeps its state, and what a store must do; the policy is in policy.py.

The state is one entry per key name (a KeyEntry, key_entry.py): its holders, cooldown, strikes, disabled mark
and the budget the provider's headers reported. A store changes entries atomically and knows whether a holder is
still there: the file store by its pid (one machine), the Redis store by a lease that its holder renews (any
machine).

By default the store belongs to the keys, not to a worktree: it sits beside the credentials file
(`~/.agentos/credentials.lease.json`), so every run of that user shares leases, cooldowns and disabled keys.
`lease_store` (or AGENTOS_LEASE_STORE) names another file, or a Redis URL for several machines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from agentos_jobs.pool.key_entry import Holder, KeyEntry

T = TypeVar("T")
Entries = dict[str, KeyEntry]  # key name -> its entry; a change replaces the entries it changes
BEATS_PER_TTL = 3  # a lease that expires is renewed this many times per TTL: two beats may be missed


class LeaseStore(Protocol):
    where: str  # what `agentos-jobs keys` and messages name: a path, or a Redis URL without its password
    heartbeat_seconds: float | None  # how often a holder renews its lease; None: its liveness is checked otherwise

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        """Apply `change` to the entries of `names` (missing ones are absent) atomically, with the store's
        current time, after reclaiming leases whose holder is gone. `change` may be called more than once."""
        ...

    def stamp(self, holder: Holder, now: datetime) -> Holder:
        """A new or renewed holder record with what tells, later, that its holder is still there."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailable when the store cannot be reached."""
        ...
