"""Anthropic Messages through the official SDK."""

from __future__ import annotations

import os

import anthropic

from ..config import ModelChoice, Settings
from ..credentials import Credential
from .base import Clients, Completion, Request, completion
from .errors import ProviderError, by_status, connection_failed, unexpected, wait_hint

_HARD_QUOTA = ("credit balance", "spend limit", "spending limit", "usage limit")


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        return connection_failed(exc)
    if not isinstance(exc, anthropic.APIStatusError):
        return unexpected(exc)
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    text = str(error.get("message") or exc.message)
    quota = exc.status_code in (400, 429) and any(words in text.lower() for words in _HARD_QUOTA)
    message = f"{exc.status_code} {error.get('type') or 'error'}: {text}"
    return by_status(exc.status_code, message, wait_hint(exc.response.headers), hard_quota=quota)


class AnthropicAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.max_tokens = settings.max_tokens
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or choice.base_url
        self.client = Clients(lambda credential: anthropic.Anthropic(
            api_key=credential.key, base_url=base_url, max_retries=0, timeout=settings.request_timeout_seconds))

    def call(self, credential: Credential, request: Request) -> Completion:
        try:
            response = self.client(credential).messages.create(
                model=self.model, max_tokens=self.max_tokens, system=request.system,
                messages=[{"role": "user", "content": request.prompt}])
        except anthropic.AnthropicError as exc:
            raise classify(exc) from None
        text = "".join(block.text for block in response.content if block.type == "text")
        usage = response.usage
        return completion(text, response.model or self.model, usage.input_tokens if usage else 0,
                          usage.output_tokens if usage else 0, truncated=response.stop_reason == "max_tokens")
