"""Who answers each role: the offline stand-in, or a real provider behind the run's one credential pool."""

from __future__ import annotations

from collections.abc import Callable

from agentos_jobs.core.settings import ROLES, Settings
from agentos_jobs.design.offline import OfflineProvider
from agentos_jobs.pool.credentials import load_credentials
from agentos_jobs.pool.policy import CredentialPool
from agentos_jobs.pool.stores import open_store
from agentos_jobs.providers.base import Provider
from agentos_jobs.providers.pooled import PooledProvider
from agentos_jobs.providers.registry import adapter_for, check_keys, check_role


def make_providers(settings: Settings, holder: str, run_id: str,
                   say: Callable[[str], None]) -> tuple[Provider, Provider]:
    """The drafter and the reviewer. Real providers share one credential pool; their SDK is imported only
    when chosen (each costs about a second to import)."""
    pool = None
    made: list[Provider] = []
    for role in ROLES:
        choice = settings.role(role)
        if choice.provider == "offline":
            made.append(OfflineProvider(latency_seconds=settings.offline_latency_seconds))
            continue
        check_role(role, choice)
        if pool is None:
            pool = CredentialPool(open_store(settings, say), load_credentials(), run_id, say)
        check_keys(choice.provider, list(pool.credentials.values()))
        made.append(PooledProvider(choice, adapter_for(choice, settings), pool, settings, holder, say))
    return made[0], made[1]
