"""LLM providers behind one small interface; `offline` is the built-in, deterministic default."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from ..config import ROLES, ConfigError, Settings
from ..credentials import CredentialsError, load_credentials, missing_key_message
from .base import Completion, Provider, Request

# provider -> (module, adapter class, pip extra)
ADAPTERS = {
    "openai": ("openai_api", "OpenAIAdapter", "openai"),
    "anthropic": ("anthropic_api", "AnthropicAdapter", "anthropic"),
    "gemini": ("gemini_api", "GeminiAdapter", "gemini"),
}


def make_providers(settings: Settings, holder: str, run_id: str,
                   say: Callable[[str], None]) -> tuple[Provider, Provider]:
    """The drafter and the reviewer. Real providers share one credential pool; their SDK is imported only
    when chosen (each costs about a second to import)."""
    from .offline import OfflineProvider

    pool = None
    made: list[Provider] = []
    for role in ROLES:
        choice = settings.role(role)
        if choice.provider == "offline":
            made.append(OfflineProvider(latency_seconds=settings.offline_latency_seconds))
            continue
        if not choice.model:
            raise ConfigError(f"the {role} uses provider {choice.provider!r} but names no model; set model = "
                              "\"...\" in [tool.agentos_jobs] (or its drafter/reviewer table) or AGENTOS_MODEL")
        module_name, class_name, extra = ADAPTERS[choice.provider]
        try:
            module = importlib.import_module(f".{module_name}", __name__)
        except ImportError as exc:
            raise ConfigError(f"provider {choice.provider!r} needs its SDK ({exc.name} is missing); run: "
                              f"pip install 'agentos-jobs[{extra}]'") from None
        if pool is None:
            from ..pool import CredentialPool

            pool = CredentialPool(settings.lease_path, load_credentials(), run_id, say)
        if not any(c.provider == choice.provider and c.enabled for c in pool.credentials.values()):
            raise CredentialsError(missing_key_message(choice.provider, os.environ))
        from .pooled import PooledProvider

        adapter = getattr(module, class_name)(choice, settings)
        made.append(PooledProvider(choice, adapter, pool, settings, holder, say))
    return made[0], made[1]


__all__ = ["ADAPTERS", "Completion", "Provider", "Request", "make_providers"]
