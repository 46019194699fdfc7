"""OpenAI Chat Completions through the official SDK; `base_url` serves any OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from agentos_jobs.core.errors import ProviderError
from agentos_jobs.core.metering import Limits
from agentos_jobs.core.settings import ModelChoice, Settings
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.limits import read_limits
from agentos_jobs.providers import openai_batch
from agentos_jobs.providers.base import WARM_UP, Clients, Completion, Request, answering, completion, user_parts
from agentos_jobs.providers.batched import BatchState
from agentos_jobs.providers.errors import by_status, classified, connection_failed, unexpected
from agentos_jobs.providers.structured import openai_params

# The answer's length limit, the one the run's budget holds for each call: OpenAI's own name first (its reasoning
# models refuse the older one); an OpenAI-compatible server that refuses it by name is sent the older `max_tokens`
# instead, from then on in this process. A server that ignores both is not held to the limit: the budget then
# counts what its usage says (README, "Cost").
LIMIT_NAMES = ("max_completion_tokens", "max_tokens")


def classify(exc: Exception) -> ProviderError:
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return connection_failed(exc)
    if not isinstance(exc, openai.APIStatusError):
        return unexpected(exc)
    body = exc.body if isinstance(exc.body, dict) else {}
    quota = "insufficient_quota" in (exc.code, exc.type, body.get("code"), body.get("type"))
    message = f"{exc.status_code}{' insufficient_quota' if quota else ''} {body.get('message') or exc.message}"
    return by_status(exc.status_code, message, exc.response.headers, hard_quota=quota)

SAMPLE = {"id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def refuses(exc: openai.OpenAIError, name: str) -> bool:
    """Whether the server refused the request for the parameter `name` (a 400 or 422 that names it)."""
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
            and name in f"{exc.message} {exc.body}")


class OpenAIAdapter:
    def __init__(self, choice: ModelChoice, settings: Settings) -> None:
        self.model = choice.model or ""
        self.max_tokens = settings.max_tokens
        self.limit_names = list(LIMIT_NAMES)  # the first is sent; one the server refuses is dropped
        self.tier: dict[str, Any] = {"service_tier": settings.service_tier} if settings.service_tier else {}
        base_url = os.environ.get("OPENAI_BASE_URL") or choice.base_url
        self.client = Clients(lambda credential: openai.OpenAI(
            api_key=credential.key, base_url=base_url, max_retries=0, timeout=settings.request_timeout_seconds),
            "openai", base_url, settings.request_timeout_seconds)

    def warm(self) -> None:
        """Load what the SDK loads on its first call (its chat resources, its response models), once, here."""
        self._call(openai.OpenAI(api_key="warm-up", base_url="http://warm-up.invalid/v1", max_retries=0,
                                 http_client=answering(SAMPLE)), WARM_UP)

    def call(self, credential: Credential, request: Request) -> Completion:
        return self._call(self.client(credential), request)

    def _call(self, client: openai.OpenAI, request: Request) -> Completion:
        while True:
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model=self.model, messages=messages(request), **self._limit(), **openai_params(request.schema),
                    **self.tier)
                response = raw.parse()
                break
            except openai.OpenAIError as exc:
                if len(self.limit_names) > 1 and refuses(exc, self.limit_names[0]):
                    self.limit_names.pop(0)  # refused, so not billed: ask again with the other name
                    continue
                raise classify(exc) from None
        return self.answer(response, read_limits(raw.headers))

    def _limit(self) -> dict[str, Any]:
        return {self.limit_names[0]: self.max_tokens}

    def answer(self, response: ChatCompletion, limits: Limits) -> Completion:
        """A chat completion, from a call or a batch's output file."""
        usage = response.usage
        details = usage.prompt_tokens_details if usage else None  # the prompt's cached beginning, when reported
        choice = response.choices[0] if response.choices else None
        answer = completion(choice.message.content if choice else None, response.model or self.model,
                            usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None,
                            truncated=bool(choice and choice.finish_reason == "length"),
                            limits=limits, cached_tokens=details.cached_tokens if details else None)
        return replace(answer, service_tier=response.service_tier)

    def find_batch(self, credential: Credential, custom_id: str, since: float | None) -> str | None:
        """Searched when a run stopped while submitting: each batch carries its request's tag."""
        with classified(openai.OpenAIError, classify):
            return openai_batch.find(self.client(credential), custom_id, since)

    def submit_batch(self, credential: Credential, custom_id: str, request: Request) -> str:
        body = {"model": self.model, "messages": messages(request), **self._limit(), **openai_params(request.schema)}
        with classified(openai.OpenAIError, classify):
            return openai_batch.submit(self.client(credential), custom_id, body)

    def poll_batch(self, credential: Credential, batch_id: str, custom_id: str) -> BatchState:
        with classified(openai.OpenAIError, classify):
            state, answer = openai_batch.poll(self.client(credential), batch_id, custom_id)
        return state if answer is None else replace(state, completion=self.answer(answer, {}))


def messages(request: Request) -> list[Any]:
    return [{"role": "system", "content": request.system},
            {"role": "user", "content": "\n\n".join(user_parts(request))}]
