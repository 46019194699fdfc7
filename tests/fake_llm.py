"""A local server on 127.0.0.1 that speaks the real wire formats of OpenAI, Anthropic and Gemini.

Worker processes reach it through the real SDKs (base URL from the SDK's own env var). Tests script replies
per key and per role, and read the request log: which key, which role, when, what status.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fake_batches import AnthropicBatches, OpenAIBatches
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

if TYPE_CHECKING:
    from conftest import Workspace

MODELS = {"openai": "gpt-test", "anthropic": "claude-test", "gemini": "gemini-test"}
BASE_URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "gemini": "GOOGLE_GEMINI_BASE_URL"}
APPROVED = "Checked every requirement against the issue.\n\nVERDICT: APPROVED\n"


FULL_DRAFT = """# LLD: {title}

## 1. Context & Goal
A real-format draft. {note}

### Open Questions
None.

## 2. Proposed Changes
A new module, registered in the project file.

### 2.1 Files Changed
| File | Change Type | Description |
|------|-------------|-------------|
| `feature_module.py` | Add | The feature |
| `pyproject.toml` | Modify | Registers it |

### 2.2 Dependencies
None.

### 2.3 Data Structures
`Feature(name: str)`.

### 2.4 Function Signatures
`def run(feature: Feature) -> int`.

### 2.5 Logic Flow
1. Read. 2. Check. 3. Write.

### 2.6 Technical Approach
Plain functions.

## 3. Requirements
1. **REQ-1:** it works
2. **REQ-2:** it is tested

## 4. Alternatives Considered
| Option | Decision |
|---|---|
| A class | Rejected |

## 5. Data & Fixtures
Generated in tmp_path.

## 6. Diagram
```mermaid
flowchart LR
    A --> B
```

## 7. Security
Input is validated.

## 8. Performance
One pass.

## 9. Risks & Mitigations
| Risk | Mitigation |
|---|---|
| None known | - |

## 10. Verification & Testing
Automated.

### 10.1 Test Scenarios
| ID | Requirement | Scenario | Type | Pass Criteria |
|----|-------------|----------|------|---------------|
| 010 | REQ-1 | it works | Auto | exit 0 |
| 020 | REQ-2 | it is tested | Auto | the test fails without the change |

### 10.2 Manual Tests
None.

## 11. Definition of Done
- [ ] REQ-1 and REQ-2 hold
"""


def full_draft(title: str = "design", note: str = "", prompt: str = "") -> str:
    """A draft in the built-in template that passes the gate in a workspace made by `agentos-jobs init`; a
    revision (a prompt naming review findings R1.1 ...) answers each of them by id."""
    answered = dict.fromkeys(re.findall(r"\bR\d+\.\d+\b", prompt))
    responses = "".join(f"- {finding}: addressed — done as asked\n" for finding in answered)
    return FULL_DRAFT.format(title=title, note=note) + (f"\n## Review Responses\n{responses}" if responses else "")


def draft_text(prompt: str) -> str:
    title = re.search(r"Issue (?:#\d+ )?(.+)", prompt)
    return full_draft(title.group(1) if title else "design", prompt=prompt)


def structured(verdict: str, *findings: tuple[str, str]) -> dict[str, Any]:
    """A verdict as the review schema has it: findings as (tier, text)."""
    return {"verdict": verdict, "findings": [{"id": str(n), "tier": tier, "text": text}
                                             for n, (tier, text) in enumerate(findings, 1)]}


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str | None = None  # a successful reply's text instead of the default
    verdict: dict[str, Any] | None = None  # a structured answer: the provider's own form when the request asks
    truncated: bool = False  # the answer stops at the token limit
    usage: dict[str, Any] | None = None  # fields laid over the answer's usage, as the server's own names say
    no_usage: bool = False  # the answer reports no usage at all
    writes: int | None = None  # output tokens the model writes: cut at the request's limit, if it sends one


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
class RateLimit:
    """N requests per window per key, as a provider or a gateway enforces it: fixed windows from the first
    request the server sees. `hints`: "openai" (x-ratelimit-* on every answer), "gateway" (only LiteLLM's
    llm_provider-retry-after, on a 429) or "none" (a bare 429)."""

    per_window: int
    window: float
    hints: str
    epoch: float | None = None
    used: dict[tuple[str, int], int] = field(default_factory=dict)

    def admit(self, key: str, now: float) -> tuple[bool, dict[str, str]]:
        """Whether the request is served, and the headers its answer carries."""
        self.epoch = now if self.epoch is None else self.epoch
        index = int((now - self.epoch) // self.window)
        reset = self.epoch + (index + 1) * self.window - now
        used = self.used.get((key, index), 0)
        admitted = used < self.per_window
        if admitted:
            self.used[(key, index)] = used + 1
        headers = {}
        if self.hints == "openai":
            headers = {"x-ratelimit-limit-requests": str(self.per_window),
                       "x-ratelimit-remaining-requests": str(self.per_window - used - int(admitted)),
                       "x-ratelimit-reset-requests": f"{reset * 1000:.0f}ms" if reset < 1 else f"{reset:.3f}s",
                       "x-ratelimit-limit-tokens": "1000000", "x-ratelimit-remaining-tokens": "999000",
                       "x-ratelimit-reset-tokens": "6m0s"}
        elif self.hints == "gateway" and not admitted:
            headers = {"llm_provider-retry-after": f"{reset:.3f}" if self.window < 60 else str(math.ceil(reset))}
        return admitted, headers


@dataclass
class Rule:
    reply: Reply
    key: str | None
    role: str | None
    times: int  # -1: forever


SNAPSHOT = "-2026-01-01"  # servers answer with the dated model that served the call
CACHE_MIN_CHARS = 4096  # ~1,024 tokens: the shortest prompt beginning OpenAI, Gemini and Anthropic cache


@dataclass
class Call:
    provider: str
    key: str
    role: str
    status: int
    at: float
    model: str
    max_tokens: int | None  # the answer's length limit the request carried, under the provider's own name
    started: float = 0.0  # when the request arrived (`at` is when it was answered)
    body: dict[str, Any] = field(default_factory=dict)  # the request's JSON body, as it arrived
    batch: str = ""  # the batch that carried it (fake_batches.py); "" for a call of its own


def asked_schema(provider: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks its answer to follow, read from the provider's own parameter."""
    if provider == "openai":
        return (body.get("response_format") or {}).get("json_schema", {}).get("schema")
    if provider == "anthropic":
        forced = (body.get("tool_choice") or {}).get("name")
        return next((tool["input_schema"] for tool in body.get("tools") or [] if tool.get("name") == forced), None)
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json":
        return config.get("responseSchema") or config.get("responseJsonSchema")
    return None


class FakeLLM:
    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.rules: list[Rule] = []
        self.calls: list[Call] = []
        self.cacheable: dict[str, list[str]] = {}  # provider -> what its prompt cache holds (see _cached)
        self.delay = 0.0
        self.hold_until: Callable[[], bool] | None = None  # replies wait (20 s at most) until this is true once
        self.limit: RateLimit | None = None
        self.refuses: set[str] = set()  # request parameters the OpenAI-compatible endpoint answers 400 to
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}  # per key: the most requests it had open at once
        self._lock = threading.Lock()
        self.server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._openai)
        self.server.expect_request("/v1/messages", method="POST").respond_with_handler(self._anthropic)
        self.server.expect_request(re.compile(r"/v1beta/models/[^/]+:generateContent"), method="POST"
                                   ).respond_with_handler(self._gemini)
        self.batches = OpenAIBatches(self)
        self.message_batches = AnthropicBatches(self)
        self.server.start()

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()

    def base_url(self, provider: str) -> str:
        return self.server.url_for("/v1" if provider == "openai" else "/").rstrip("/")

    def script(self, reply: Reply, key: str | None = None, role: str | None = None, times: int = 1) -> None:
        with self._lock:
            self.rules.append(Rule(reply, key, role, times))

    def sent(self) -> list[str]:
        """The text of every request received, in order: each string in its JSON body (system prompt, every
        message and part), one per line; whatever its wire format, nothing sent is missed."""
        return ["\n".join(strings(request.get_json(silent=True))) for request, _ in self.server.log]

    def _cached(self, provider: str, text: str, marked: list[str] | None = None) -> int:
        """Of the answer's 100 prompt tokens, the share a prompt cache would have served. OpenAI and Gemini
        cache automatically: the longest beginning an earlier request of the provider shared. Anthropic caches
        only up to a block marked `cache_control` (`marked`: the request's text up to each): the longest of
        those an earlier request marked too. As the real ones, none serves a beginning under about 1,024
        tokens (CACHE_MIN_CHARS)."""
        with self._lock:
            seen = self.cacheable.setdefault(provider, [])
            if marked is None:
                served = max((common_start(text, earlier) for earlier in seen), default=0)
                seen.append(text)
            else:
                served = max((len(prefix) for prefix in marked if prefix in seen), default=0)
                seen.extend(marked)
        return 100 * served // max(len(text), 1) if served >= CACHE_MIN_CHARS else 0

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
               success: Any, body: dict[str, Any], batch: str = "") -> Response:
        role = "reviewer" if system.startswith("You review") else "drafter"
        started = time.monotonic()
        with self._lock:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.most_in_flight[key] = max(self.most_in_flight.get(key, 0), self.in_flight[key])
            admitted, headers = self.limit.admit(key, started) if self.limit else (True, {})
        try:
            reply = self._pick(key, role) or Reply()
            if not admitted:
                reply = rate_limited(provider)
            self._held()
            if reply.delay or self.delay:
                time.sleep(reply.delay or self.delay)
        finally:
            with self._lock:
                self.in_flight[key] -= 1
                self.calls.append(Call(provider, key, role, reply.status, time.monotonic(), model, max_tokens, started,
                                       body, batch))
        headers = {**headers, **reply.headers}
        if reply.status != 200:  # "{key}" in an error body echoes the caller's key, as some proxies do
            body = json.dumps(reply.body).replace("{key}", key)
            return Response(body, status=reply.status, headers=headers, content_type="application/json")
        # A reviewer asked for JSON answers in JSON by default; a scripted `text` ignores the schema, as many
        # OpenAI-compatible servers do.
        schema = asked_schema(provider, body)
        verdict = reply.verdict or (structured("APPROVED") if schema and role == "reviewer" and not reply.text
                                    else None)
        text = json.dumps(verdict) if verdict else reply.text or (
            APPROVED if role == "reviewer" else draft_text(prompt))
        cut = reply.truncated or (reply.writes is not None and max_tokens is not None and reply.writes > max_tokens)
        answer = success(text, cut, bool(verdict and schema))
        usage = "usageMetadata" if provider == "gemini" else "usage"
        if reply.writes is not None:
            written = reply.writes if max_tokens is None else min(reply.writes, max_tokens)
            answer[usage][{"openai": "completion_tokens", "anthropic": "output_tokens"}.get(
                provider, "candidatesTokenCount")] = written
        answer[usage].update(reply.usage or {})
        if reply.no_usage:
            del answer[usage]
        return Response(json.dumps(answer), status=200, headers=headers, content_type="application/json")

    def _openai(self, request: Request) -> Response:
        return self.openai_answer(request.get_json(), request.headers.get("Authorization", "").removeprefix("Bearer "))

    def openai_answer(self, body: dict[str, Any], key: str, batch: str = "") -> Response:
        """A chat completion's answer, to a request of its own or to one line of a batch."""
        messages = body["messages"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        prompt = next((m["content"] for m in messages if m["role"] == "user"), "")
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        refused = next((name for name in sorted(self.refuses) if name in body), None)
        if refused:  # as an OpenAI-compatible server that does not know the parameter answers
            with self._lock:
                self.calls.append(Call("openai", key, "refused", 400, time.monotonic(), body["model"], limit, 0.0,
                                       body))
            return Response(json.dumps({"error": {"message": f"Unrecognized request argument supplied: {refused}",
                                                  "type": "invalid_request_error", "param": refused,
                                                  "code": None}}), status=400, content_type="application/json")
        whole = "\n".join(strings(messages))
        cached = functools.cache(lambda: self._cached("openai", whole))  # asked on success: a refusal caches nothing
        return self._serve("openai", key, system, prompt, body["model"], limit, lambda text, cut, _: {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
            "model": body["model"] + SNAPSHOT, "service_tier": body.get("service_tier") or "default",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if cut else "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_tokens_details": {"cached_tokens": cached()}}}, body, batch)

    def _anthropic(self, request: Request) -> Response:
        key = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.anthropic_answer(request.get_json(), key)

    def anthropic_answer(self, body: dict[str, Any], key: str, batch: str = "") -> Response:
        """A message, the answer to a request of its own or to one of a message batch."""
        content = body["messages"][0]["content"]
        blocks = [{"text": content}] if isinstance(content, str) else content
        prompt = "\n\n".join(block["text"] for block in blocks)
        system_blocks = body.get("system") or []  # a string, or text blocks that may be marked for the cache
        system_blocks = [{"text": system_blocks}] if isinstance(system_blocks, str) else system_blocks
        system = "\n".join(block["text"] for block in system_blocks)
        sent = system
        marked = [sent] if any(b.get("cache_control") == {"type": "ephemeral"} for b in system_blocks) else []
        for block in blocks:
            sent += "\n" + block["text"]
            if block.get("cache_control") == {"type": "ephemeral"}:
                marked.append(sent)
        cached = functools.cache(lambda: self._cached("anthropic", sent, marked))
        tool = (body.get("tool_choice") or {}).get("name")
        return self._serve("anthropic", key, system, prompt, body["model"], body["max_tokens"], lambda text, cut, use: {
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"] + SNAPSHOT,
            "content": [{"type": "tool_use", "id": "toolu_1", "name": tool, "input": json.loads(text)} if use
                        else {"type": "text", "text": text}],
            "stop_reason": "max_tokens" if cut else "tool_use" if use else "end_turn",
            "stop_sequence": None,  # input_tokens leaves out what the cache served, as Anthropic's does
            "usage": {"input_tokens": 100 - cached(), "output_tokens": 20, "cache_read_input_tokens": cached(),
                      "cache_creation_input_tokens": 0}}, body, batch)

    def _gemini(self, request: Request) -> Response:
        body = request.get_json()
        key = request.headers.get("x-goog-api-key", "")
        prompt = "\n\n".join(part["text"] for part in body["contents"][0]["parts"])
        system = " ".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
        whole = "\n".join([system, *strings(body["contents"])])
        cached = functools.cache(lambda: self._cached("gemini", whole))
        model = request.path.rsplit("/", 1)[1].split(":")[0]
        limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
        return self._serve("gemini", key, system, prompt, model, limit, lambda text, cut, _: {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "MAX_TOKENS" if cut else "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120,
                              "cachedContentTokenCount": cached()},
            "modelVersion": model + SNAPSHOT}, body)


def common_start(a: str, b: str) -> int:
    """How many characters two texts share from their first."""
    return next((index for index, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def strings(data: Any) -> list[str]:
    """Every string in a JSON value, depth first in document order."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [text for value in data.values() for text in strings(value)]
    if isinstance(data, list):
        return [text for value in data for text in strings(value)]
    return []


def lease_file(ws: Workspace) -> Path:
    """Where the pool of `use_provider`'s keys lives: beside their credentials file."""
    return ws.home / "credentials.lease.json"


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
