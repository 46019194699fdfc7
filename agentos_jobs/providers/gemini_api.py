"""Gemini generateContent through google-genai."""

from __future__ import annotations

import os
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors, types

from agentos_jobs.core.errors import ErrorKind, ProviderError
from agentos_jobs.core.settings import ModelChoice, Settings
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.providers.base import Clients, Completion, Request, completion, user_parts
from agentos_jobs.providers.errors import by_status, connection_failed, unexpected, usage
from agentos_jobs.providers.structured import gemini_params

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def _details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, httpx2.TransportError):  # genai does not wrap transport errors
        return connection_failed(exc)
    if not isinstance(exc, errors.APIError):
        return unexpected(exc)
    details = _details(exc)
    delay = next((d.get("retryDelay") for d in details if d.get("@type") == _RETRY_INFO), None)
    response = getattr(exc, "response", None)
    daily = [str(v.get("quotaId")) for d in details if d.get("@type") == _QUOTA_FAILURE
             for v in d.get("violations", []) if isinstance(v, dict) and "PerDay" in str(v.get("quotaId"))]
    message = f"{exc.code} {exc.status or ''} {exc.message or ''}"
    if daily:
        message = f"{exc.code} daily quota {', '.join(daily)}: {exc.message or ''}"
    return by_status(exc.code, message, response.headers if response is not None else None,
                     delay if isinstance(delay, str) else None, hard_quota=exc.code == 429 and bool(daily))


class GeminiAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.max_tokens = settings.max_tokens
        options = types.HttpOptions(base_url=os.environ.get("GOOGLE_GEMINI_BASE_URL") or choice.base_url,
                                    api_version="v1beta", timeout=int(settings.request_timeout_seconds * 1000))
        self.client = Clients(lambda credential: genai.Client(api_key=credential.key, http_options=options),
                              "gemini", options.base_url, options.timeout)

    def call(self, credential: Credential, request: Request) -> Completion:
        try:
            response = self.client(credential).models.generate_content(
                model=self.model,
                contents=types.Content(role="user", parts=[types.Part(text=text) for text in user_parts(request)]),
                config=types.GenerateContentConfig(system_instruction=request.system,
                                                   max_output_tokens=self.max_tokens,
                                                   **gemini_params(request.schema)))
        except (errors.APIError, httpx2.TransportError) as exc:
            raise classify(exc) from None
        except pydantic.ValidationError as exc:  # google-genai checks the answer's form, its token counts too
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
            where = ".".join(str(part) for part in first["loc"])
            raise ProviderError(ErrorKind.FATAL, f"the server's answer is not in Gemini's form ({where}: "
                                f"{first['msg']}); it may have been billed", billed=usage(self.model, None, None, None)
                                ) from None
        metadata = response.usage_metadata
        reason = response.candidates[0].finish_reason if response.candidates else None
        return completion(response.text, response.model_version or self.model,
                          metadata.prompt_token_count if metadata else None,
                          metadata.candidates_token_count if metadata else None,
                          truncated=reason == types.FinishReason.MAX_TOKENS,
                          cached_tokens=metadata.cached_content_token_count if metadata else None)
