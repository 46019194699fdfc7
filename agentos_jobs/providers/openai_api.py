"""OpenAI Chat Completions through the official SDK; `base_url` serves any OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from typing import Any

import openai

from ..config import ModelChoice, Settings
from ..credentials import Credential
from .base import Completion, Request
from .errors import ErrorKind, ProviderError, short, wait_hint


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return ProviderError(ErrorKind.TRANSIENT, f"connection failed: {type(exc).__name__}")
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError(ErrorKind.FATAL, short(f"{type(exc).__name__}: {exc}"))
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    message = short(body.get("message") or exc.message)
    hint = wait_hint(exc.response.headers)
    if status == 429:
        if "insufficient_quota" in (exc.code, exc.type, body.get("code"), body.get("type")):
            return ProviderError(ErrorKind.QUOTA, f"429 insufficient_quota: {message}", status)
        return ProviderError(ErrorKind.RATE_LIMIT, f"429 {message}", status, hint)
    if status >= 500:
        return ProviderError(ErrorKind.OVERLOADED, f"{status} {message}", status, hint)
    return ProviderError(ErrorKind.FATAL, f"{status} {message}", status)


class OpenAIAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.base_url = os.environ.get("OPENAI_BASE_URL") or choice.base_url
        self.timeout = settings.request_timeout_seconds
        self._clients: dict[str, openai.OpenAI] = {}

    def _client(self, credential: Credential) -> openai.OpenAI:
        if credential.name not in self._clients:
            self._clients[credential.name] = openai.OpenAI(api_key=credential.key, base_url=self.base_url,
                                                           max_retries=0, timeout=self.timeout)
        return self._clients[credential.name]

    def call(self, credential: Credential, request: Request) -> Completion:
        messages: list[Any] = [{"role": "system", "content": request.system},
                               {"role": "user", "content": request.prompt}]
        try:
            response = self._client(credential).chat.completions.create(model=self.model, messages=messages)
        except openai.OpenAIError as exc:
            raise classify(exc) from None
        text = response.choices[0].message.content if response.choices else None
        if not text:
            raise ProviderError(ErrorKind.FATAL, "the model returned no text")
        usage = response.usage
        return Completion(text=text, model=response.model or self.model,
                          input_tokens=usage.prompt_tokens if usage else 0,
                          output_tokens=usage.completion_tokens if usage else 0)
