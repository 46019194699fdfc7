"""Which SDK adapter serves a provider, checked once before a run (`preflight`), and its clients made ahead by a
warm parent (`warm_clients`)."""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

from agentos_jobs.core.errors import ConfigError, CredentialsError
from agentos_jobs.core.settings import ROLES, ModelChoice, Settings
from agentos_jobs.pool.credentials import Credential, load_credentials, missing_key_message
from agentos_jobs.pool.stores import open_store
from agentos_jobs.providers.base import Provider
from agentos_jobs.providers.batched import BatchBook

# provider -> (module, adapter class, pip extra, the SDK's module)
ADAPTERS = {
    "openai": ("openai_api", "OpenAIAdapter", "openai", "openai"),
    "anthropic": ("anthropic_api", "AnthropicAdapter", "anthropic", "anthropic"),
    "gemini": ("gemini_api", "GeminiAdapter", "gemini", "google.genai"),
}


def check_role(role: str, choice: ModelChoice) -> None:
    if not choice.model:
        raise ConfigError(f"the {role} uses provider {choice.provider!r} but names no model; set model = "
                          "\"...\" in [tool.agentos_jobs] (or its drafter/reviewer table) or AGENTOS_MODEL")
    _, _, extra, sdk = ADAPTERS[choice.provider]
    try:
        found = importlib.util.find_spec(sdk)
    except ImportError:  # `google` itself is missing
        found = None
    if found is None:
        raise ConfigError(f"provider {choice.provider!r} needs its SDK ({sdk} is not installed); run: "
                          f"pip install 'agentos-jobs[{extra}]'")


def check_keys(provider: str, credentials: list[Credential]) -> None:
    if not any(c.provider == provider and c.enabled for c in credentials):
        raise CredentialsError(missing_key_message(provider, os.environ))


def preflight(settings: Settings) -> None:
    """Once, before any item starts: every real provider has a model, its SDK and a key, and the lease store
    answers. Found per item, the same mistake would fail every item, twice over. Imports no SDK."""
    real = [(role, settings.role(role)) for role in ROLES if settings.role(role).provider != "offline"]
    for role, choice in real:
        check_role(role, choice)
        if settings.max_cost_usd is not None:
            from agentos_jobs.pool.budget import budget_price

            budget_price(settings, choice.model or "")
    if real:
        credentials = load_credentials()
        for provider in dict.fromkeys(choice.provider for _, choice in real):
            check_keys(provider, credentials)
        open_store(settings, say=lambda line: None).check()  # a Redis that is down: one line, not one per item


def keep_batches_in(book: BatchBook, *providers: Provider) -> None:
    """The item's checkpoint, where a batch-mode role keeps its batches' ids (batched.py)."""
    for provider in providers:
        batches = getattr(provider, "batches", None)
        if batches is not None:
            batches.book = book


def adapter_for(choice: ModelChoice, settings: Settings) -> Any:
    module_name, class_name, _, _ = ADAPTERS[choice.provider]
    return getattr(importlib.import_module(f"agentos_jobs.providers.{module_name}"), class_name)(choice, settings)


def warm_clients(settings: Settings) -> None:
    """Import the SDK of every real role and make the client of each of its keys, in this process: a warm
    parent does it once for all the items it forks (warm_parent.py)."""
    real = [settings.role(role) for role in ROLES if settings.role(role).provider != "offline"]
    credentials = load_credentials() if real else []
    for choice in real:
        adapter = adapter_for(choice, settings)
        if hasattr(adapter, "warm"):  # the SDK's own first-call loading, done here once (no request is sent)
            adapter.warm()
        clients = adapter.client
        for credential in credentials:
            if credential.provider == choice.provider and credential.enabled:
                clients(credential)

