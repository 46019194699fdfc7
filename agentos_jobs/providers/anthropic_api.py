"""Anthropic Messages through the official SDK."""

from __future__ import annotations

import os
from typing import Any

import anthropic

from ..config import ModelChoice, Settings
from ..credentials import Credential
from .base import Completion, Request
from .errors import ErrorKind, ProviderError, short, wait_hint

_HARD_QUOTA = ("credit balance", "spend limit", "spending limit", "usage limit")


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        return ProviderError(ErrorKind.TRANSIENT, f"connection failed: {type(exc).__name__}")
    if not isinstance(exc, anthropic.APIStatusError):
        return ProviderError(ErrorKind.FATAL, short(f"{type(exc).__name__}: {exc}"))
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    error: dict[str, Any] = body.get("error") if isinstance(body.get("error"), dict) else {}  # type: ignore[assignment]
    message = short(error.get("message") or exc.message)
    kind = str(error.get("type") or "")
    hint = wait_hint(exc.response.headers)
    if status in (429, 400) and any(words in message.lower() for words in _HARD_QUOTA):
        return ProviderError(ErrorKind.QUOTA, f"{status} {kind}: {message}", status)
    if status == 429:
        return ProviderError(ErrorKind.RATE_LIMIT, f"429 {kind}: {message}", status, hint)
    if status >= 500:
        return ProviderError(ErrorKind.OVERLOADED, f"{status} {kind}: {message}", status, hint)
    return ProviderError(ErrorKind.FATAL, f"{status} {kind}: {message}", status)


class AnthropicAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.base_url = os.environ.get("ANTHROPIC_BASE_URL") or choice.base_url
        self.timeout = settings.request_timeout_seconds
        self.max_tokens = settings.max_tokens
        self._clients: dict[str, anthropic.Anthropic] = {}

    def _client(self, credential: Credential) -> anthropic.Anthropic:
        if credential.name not in self._clients:
            self._clients[credential.name] = anthropic.Anthropic(api_key=credential.key, base_url=self.base_url,
                                                                 max_retries=0, timeout=self.timeout)
        return self._clients[credential.name]

    def call(self, credential: Credential, request: Request) -> Completion:
        try:
            response = self._client(credential).messages.create(
                model=self.model, max_tokens=self.max_tokens, system=request.system,
                messages=[{"role": "user", "content": request.prompt}])
        except anthropic.AnthropicError as exc:
            raise classify(exc) from None
        text = "".join(block.text for block in response.content if block.type == "text")
        if not text:
            raise ProviderError(ErrorKind.FATAL, "the model returned no text")
        usage = response.usage
        return Completion(text=text, model=response.model or self.model,
                          input_tokens=usage.input_tokens if usage else 0,
                          output_tokens=usage.output_tokens if usage else 0)
