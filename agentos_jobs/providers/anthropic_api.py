"""Anthropic Messages through the official SDK."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import anthropic
from anthropic.types import Message

from agentos_jobs.core.errors import ProviderError
from agentos_jobs.core.metering import Limits
from agentos_jobs.core.settings import ModelChoice, Settings
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.limits import read_limits
from agentos_jobs.providers import anthropic_batch
from agentos_jobs.providers.base import WARM_UP, Clients, Completion, Request, answering, completion, user_parts
from agentos_jobs.providers.batched import BatchState
from agentos_jobs.providers.errors import by_status, classified, connection_failed, total, unexpected
from agentos_jobs.providers.structured import anthropic_params, anthropic_text

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
    return by_status(exc.status_code, message, exc.response.headers, hard_quota=quota)

SAMPLE = {"id": "warm-up", "type": "message", "role": "assistant", "model": "warm-up",
          "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
          "usage": {"input_tokens": 1, "output_tokens": 1}}


class AnthropicAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.max_tokens = settings.max_tokens
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or choice.base_url
        self.client = Clients(lambda credential: anthropic.Anthropic(
            api_key=credential.key, base_url=base_url, max_retries=0, timeout=settings.request_timeout_seconds),
            "anthropic", base_url, settings.request_timeout_seconds)

    def warm(self) -> None:
        """Load what the SDK loads on its first call (its message resources, its response models), once, here."""
        self._call(anthropic.Anthropic(api_key="warm-up", base_url="http://warm-up.invalid", max_retries=0,
                                       http_client=answering(SAMPLE)), WARM_UP)

    def call(self, credential: Credential, request: Request) -> Completion:
        return self._call(self.client(credential), request)

    def _call(self, client: anthropic.Anthropic, request: Request) -> Completion:
        try:
            raw = client.messages.with_raw_response.create(
                model=self.model, max_tokens=self.max_tokens, system=_system(request),
                messages=[{"role": "user", "content": _content(request)}], **anthropic_params(request.schema))
            response = raw.parse()
        except anthropic.AnthropicError as exc:
            raise classify(exc) from None
        return self.answer(response, read_limits(raw.headers))

    def answer(self, response: Message, limits: Limits) -> Completion:
        """A message, from a call or a batch's results."""
        text = anthropic_text(response.content)
        usage = response.usage
        cached = (usage.cache_read_input_tokens or 0) if usage else 0
        written = (usage.cache_creation_input_tokens or 0) if usage else 0
        return completion(text, response.model or self.model, total(usage.input_tokens, cached, written)
                          if usage else None, usage.output_tokens if usage else None,
                          truncated=response.stop_reason == "max_tokens", limits=limits, cached_tokens=cached)

    def find_batch(self, credential: Credential, custom_id: str, since: float | None) -> str | None:
        with classified(anthropic.AnthropicError, classify):
            return anthropic_batch.find(self.client(credential), custom_id, since)

    def submit_batch(self, credential: Credential, custom_id: str, request: Request) -> str:
        params = {"model": self.model, "max_tokens": self.max_tokens, "system": _system(request),
                  "messages": [{"role": "user", "content": _content(request)}], **anthropic_params(request.schema)}
        with classified(anthropic.AnthropicError, classify):
            return anthropic_batch.submit(self.client(credential), custom_id, params)

    def poll_batch(self, credential: Credential, batch_id: str, custom_id: str) -> BatchState:
        with classified(anthropic.AnthropicError, classify):
            state, answer = anthropic_batch.poll(self.client(credential), batch_id, custom_id)
        return state if answer is None else replace(state, completion=self.answer(answer, {}))


def _system(request: Request) -> list[Any]:
    """The system prompt (instructions, template, rubric: the same for every item of a kind) as one block
    marked for the cache, so it is read back even when no repository context follows it."""
    return [{"type": "text", "text": request.system, "cache_control": {"type": "ephemeral"}}]


def _content(request: Request) -> str | list[Any]:
    """The user turn; with stable parts, one block each, each marked as a cache breakpoint (Anthropic caches
    only up to a marked block, at most 4 of them): the next call that begins the same reads them back."""
    if not request.prefix:
        return request.prompt
    parts = user_parts(request)
    stable = len(parts) - 1
    return [{"type": "text", "text": text,
             **({"cache_control": {"type": "ephemeral"}} if stable - 4 <= index < stable else {})}
            for index, text in enumerate(parts)]
