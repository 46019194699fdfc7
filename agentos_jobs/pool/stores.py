"""Which lease store a run uses: Redis at a `redis://` URL (several machines), else a file beside the
credentials (one machine). The choice is made here once, so the stores never import each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from agentos_jobs.core.layout import default_lease_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.pool.file_store import FileLeaseStore
from agentos_jobs.pool.lease_store import LeaseStore
from agentos_jobs.pool.redis_store import RedisLeaseStore

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis(location: str) -> bool:
    return location.startswith(REDIS_SCHEMES)


def store_location(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The store's URL or file: the setting (a path relative to the repository), else beside the credentials
    file, which with env-var keys is the per-user default `~/.agentos/credentials.lease.json`."""
    chosen = settings.lease_store
    if chosen and is_redis(chosen):
        return chosen
    if chosen:
        return str(settings.root / Path(chosen).expanduser())
    return str(default_lease_path(environ))


def open_store(settings: Settings, say: Callable[[str], None]) -> LeaseStore:
    return open_location(store_location(settings), settings.lease_ttl_seconds, say)


def open_location(location: str, ttl_seconds: float, say: Callable[[str], None]) -> LeaseStore:
    """The store at a Redis URL (leases renewed within `ttl_seconds`) or in a file."""
    if is_redis(location):
        return RedisLeaseStore(location, ttl_seconds, say)
    return FileLeaseStore(Path(location), say)
