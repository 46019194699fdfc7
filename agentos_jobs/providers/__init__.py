"""LLM providers behind one small interface; `offline` is the built-in, deterministic default."""

from __future__ import annotations

from ..config import Settings
from .base import Completion, Provider, Request


def make_provider(settings: Settings, role: str) -> Provider:
    """The provider for a role ('drafter' or 'reviewer'), imported only when chosen."""
    if settings.provider == "offline":
        from .offline import OfflineProvider

        return OfflineProvider(latency_seconds=settings.offline_latency_seconds)
    raise ValueError(f"unknown provider {settings.provider!r}")


__all__ = ["Completion", "Provider", "Request", "make_provider"]
