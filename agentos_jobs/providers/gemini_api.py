"""Gemini generateContent through google-genai. Clients are kept: a collected genai Client closes itself."""

from __future__ import annotations

import os
from typing import Any

import httpx2
from google import genai
from google.genai import errors, types

from ..config import ModelChoice, Settings
from ..credentials import Credential
from .base import Completion, Request
from .errors import ErrorKind, ProviderError, short, wait_hint

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def _details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, httpx2.TransportError):
        return ProviderError(ErrorKind.TRANSIENT, f"connection failed: {type(exc).__name__}")
    if not isinstance(exc, errors.APIError):
        return ProviderError(ErrorKind.FATAL, short(f"{type(exc).__name__}: {exc}"))
    status = exc.code
    message = short(f"{exc.status or ''} {exc.message or ''}".strip())
    details = _details(exc)
    delay = next((d.get("retryDelay") for d in details if d.get("@type") == _RETRY_INFO), None)
    headers = exc.response.headers if getattr(exc, "response", None) is not None else None
    hint = wait_hint(headers, delay if isinstance(delay, str) else None)
    if status == 429:
        quota_ids = [str(v.get("quotaId", "")) for d in details if d.get("@type") == _QUOTA_FAILURE
                     for v in d.get("violations", []) if isinstance(v, dict)]
        if any("PerDay" in quota for quota in quota_ids):
            return ProviderError(ErrorKind.QUOTA, f"429 daily quota {', '.join(quota_ids)}: {message}", status)
        return ProviderError(ErrorKind.RATE_LIMIT, f"429 {message}", status, hint)
    if status >= 500:
        return ProviderError(ErrorKind.OVERLOADED, f"{status} {message}", status, hint)
    return ProviderError(ErrorKind.FATAL, f"{status} {message}", status)


class GeminiAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.http_options = types.HttpOptions(
            base_url=os.environ.get("GOOGLE_GEMINI_BASE_URL") or choice.base_url, api_version="v1beta",
            timeout=int(settings.request_timeout_seconds * 1000))
        self._clients: dict[str, genai.Client] = {}

    def _client(self, credential: Credential) -> genai.Client:
        if credential.name not in self._clients:
            self._clients[credential.name] = genai.Client(api_key=credential.key, http_options=self.http_options)
        return self._clients[credential.name]

    def call(self, credential: Credential, request: Request) -> Completion:
        try:
            response = self._client(credential).models.generate_content(
                model=self.model, contents=request.prompt,
                config=types.GenerateContentConfig(system_instruction=request.system))
        except (errors.APIError, httpx2.TransportError) as exc:
            raise classify(exc) from None
        text = response.text
        if not text:
            raise ProviderError(ErrorKind.FATAL, "the model returned no text")
        usage = response.usage_metadata
        return Completion(text=text, model=response.model_version or self.model,
                          input_tokens=(usage.prompt_token_count or 0) if usage else 0,
                          output_tokens=(usage.candidates_token_count or 0) if usage else 0)
