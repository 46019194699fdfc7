"""A local server on 127.0.0.1 that speaks the real wire formats of OpenAI, Anthropic and Gemini.

Worker processes reach it through the real SDKs (base URL from the SDK's own env var). Tests script replies
per key and per role, and read the request log: which key, which role, when, what status.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

if TYPE_CHECKING:
    from conftest import Workspace

MODELS = {"openai": "gpt-test", "anthropic": "claude-test", "gemini": "gemini-test"}
BASE_URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "gemini": "GOOGLE_GEMINI_BASE_URL"}
APPROVED = "Checked every requirement against the issue.\n\nVERDICT: APPROVED\n"


def draft_text(prompt: str) -> str:
    title = re.search(r"Issue (?:#\d+ )?(.+)", prompt)
    return f"# LLD: {title.group(1) if title else 'design'}\n\n## 1. Context & Goal\nA real-format draft.\n"


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str | None = None  # a successful reply's text instead of the default
    truncated: bool = False  # the answer stops at the token limit


def rate_limited(provider: str, retry_after: float | str | None = None, retry_after_ms: float | None = None,
                 retry_delay: str | None = None, per_day: bool = False) -> Reply:
    """A 429 in the provider's own format; `retry_after` as a number, or as any text a server may send."""
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = f"{retry_after_ms:g}"
    if provider == "openai":
        return Reply(429, {"error": {"message": "Rate limit reached for requests per min (RPM).",
                                     "type": "requests", "param": None, "code": "rate_limit_exceeded"}}, headers)
    if provider == "anthropic":
        return Reply(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                      "message": "This request would exceed the rate limit."}},
                     headers)
    details: list[dict[str, Any]] = [{
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel" if per_day
                        else "GenerateRequestsPerMinutePerProjectPerModel"}]}]
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return Reply(429, {"error": {"code": 429, "message": "You exceeded your current quota.",
                                 "status": "RESOURCE_EXHAUSTED", "details": details}}, headers)


def insufficient_quota() -> Reply:
    return Reply(429, {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                            "details.", "type": "insufficient_quota", "param": None,
                                 "code": "insufficient_quota"}})


def overloaded() -> Reply:
    return Reply(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def bad_request(provider: str) -> Reply:
    if provider == "openai":
        return Reply(400, {"error": {"message": "Invalid value for 'messages'.", "type": "invalid_request_error",
                                     "param": "messages", "code": None}})
    if provider == "anthropic":
        return Reply(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad request"}})
    return Reply(400, {"error": {"code": 400, "message": "Invalid JSON payload.", "status": "INVALID_ARGUMENT"}})


@dataclass
class Rule:
    reply: Reply
    key: str | None
    role: str | None
    times: int  # -1: forever


SNAPSHOT = "-2026-01-01"  # servers answer with the dated model that served the call


@dataclass
class Call:
    provider: str
    key: str
    role: str
    status: int
    at: float
    model: str
    max_tokens: int | None  # the answer's length limit the request carried, under the provider's own name


class FakeLLM:
    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.rules: list[Rule] = []
        self.calls: list[Call] = []
        self.delay = 0.0
        self.hold_until: Callable[[], bool] | None = None  # replies wait (20 s at most) until this is true once
        self._lock = threading.Lock()
        self.server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._openai)
        self.server.expect_request("/v1/messages", method="POST").respond_with_handler(self._anthropic)
        self.server.expect_request(re.compile(r"/v1beta/models/[^/]+:generateContent"), method="POST"
                                   ).respond_with_handler(self._gemini)
        self.server.start()

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()

    def base_url(self, provider: str) -> str:
        return self.server.url_for("/v1" if provider == "openai" else "/").rstrip("/")

    def script(self, reply: Reply, key: str | None = None, role: str | None = None, times: int = 1) -> None:
        with self._lock:
            self.rules.append(Rule(reply, key, role, times))

    def _held(self) -> None:
        """Replies wait until `hold_until` first comes true: a test can keep every key busy until the moment it
        needs (a worker waiting for a key), however slowly a loaded machine starts the workers."""
        deadline = time.monotonic() + 20
        while self.hold_until is not None and not self.hold_until() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.hold_until = None

    def calls_by(self, key: str | None = None, role: str | None = None) -> list[Call]:
        return [c for c in self.calls if (key is None or c.key == key) and (role is None or c.role == role)]

    def _pick(self, key: str, role: str) -> Reply | None:
        with self._lock:
            for rule in self.rules:
                if rule.times != 0 and rule.key in (None, key) and rule.role in (None, role):
                    rule.times -= 1 if rule.times > 0 else 0
                    return rule.reply
        return None

    def _serve(self, provider: str, key: str, system: str, prompt: str, model: str, max_tokens: int | None,
               success: Any) -> Response:
        role = "reviewer" if system.startswith("You review") else "drafter"
        reply = self._pick(key, role) or Reply()
        self._held()
        if reply.delay or self.delay:
            time.sleep(reply.delay or self.delay)
        with self._lock:
            self.calls.append(Call(provider, key, role, reply.status, time.monotonic(), model, max_tokens))
        if reply.status != 200:  # "{key}" in an error body echoes the caller's key, as some proxies do
            body = json.dumps(reply.body).replace("{key}", key)
            return Response(body, status=reply.status, headers=reply.headers, content_type="application/json")
        text = reply.text or (APPROVED if role == "reviewer" else draft_text(prompt))
        return Response(json.dumps(success(text, reply.truncated)), status=200, content_type="application/json")

    def _openai(self, request: Request) -> Response:
        body = request.get_json()
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        messages = body["messages"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        prompt = next((m["content"] for m in messages if m["role"] == "user"), "")
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        return self._serve("openai", key, system, prompt, body["model"], limit, lambda text, cut: {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
            "model": body["model"] + SNAPSHOT,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if cut else "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})

    def _anthropic(self, request: Request) -> Response:
        body = request.get_json()
        key = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        prompt = body["messages"][0]["content"]
        system = body.get("system") or ""
        return self._serve("anthropic", key, system, prompt, body["model"], body["max_tokens"], lambda text, cut: {
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"] + SNAPSHOT,
            "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens" if cut else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20}})

    def _gemini(self, request: Request) -> Response:
        body = request.get_json()
        key = request.headers.get("x-goog-api-key", "")
        prompt = body["contents"][0]["parts"][0]["text"]
        system = " ".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
        model = request.path.rsplit("/", 1)[1].split(":")[0]
        limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
        return self._serve("gemini", key, system, prompt, model, limit, lambda text, cut: {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "MAX_TOKENS" if cut else "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
            "modelVersion": model + SNAPSHOT})


def secret(provider: str, n: int) -> str:
    return f"{provider}-SECRET-key-{n}-9f8e7d6c5b4a"


def use_provider(ws: Workspace, fake: FakeLLM, provider: str, keys: int = 2, scope: str | None = None,
                 **settings: str) -> dict[str, str]:
    """Write a chmod-600 credentials file with `keys` keys and return the run's environment."""
    path = ws.home / "credentials.json"
    entries = [{"name": f"key-{n}", "provider": provider, "type": "api_key", "key": secret(provider, n),
                "enabled": True, "max_concurrency": 1, **({"scope": scope} if scope else {})}
               for n in range(1, keys + 1)]
    path.write_text(json.dumps({"credentials": entries}))
    path.chmod(0o600)
    env = {"AGENTOS_PROVIDER": provider, "AGENTOS_MODEL": MODELS[provider], "AGENTOS_CREDENTIALS": str(path),
           BASE_URL_VARS[provider]: fake.base_url(provider), "AGENTOS_BASE_BACKOFF": "0.2",
           "AGENTOS_MAX_BACKOFF": "1"}
    env.update(settings)
    ws.env.update(env)
    return env
