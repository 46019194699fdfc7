"""The provider interface: one call in, one completion with its token usage out."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from agentos_jobs.core.errors import ErrorKind, ProviderError
from agentos_jobs.core.metering import Limits
from agentos_jobs.core.text import writable
from agentos_jobs.items.discovery import Document
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.providers.errors import usage

Client = TypeVar("Client")
CHARS_PER_TOKEN = 4  # the estimate: no tokenizer is light, offline and right for all three providers


class OpenFinding(Protocol):
    """A review finding a revision answers, as a request carries it: the offline stand-in (design/offline.py)
    answers each by id; real providers see the findings only in the prompt's text."""

    @property
    def id(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Request:
    """One LLM call. `kind` names the step (e.g. 'lld-draft'); the rest is what the step knows."""

    kind: str
    system: str
    prompt: str
    document: Document
    item_id: str
    draft: str = ""
    prefix: tuple[str, ...] = ()  # stable parts sent before `prompt`, most widely shared first: see `user_parts`
    schema: dict[str, Any] | None = None  # a JSON answer asked for, through the provider's structured output
    template: str = ""  # the template in force and the open review findings, for the offline stand-in
    findings: tuple[OpenFinding, ...] = ()


@dataclass(frozen=True)
class Completion:
    """An answer; `model` is the one that served it, often a dated version of the one asked for. Its input
    tokens include `cached_tokens`, those the provider read from its prompt cache (billed at a discount)."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    limits: Limits = field(default_factory=dict, compare=False)  # the key's budget, as the answer's headers say
    cached_tokens: int = 0
    cost_usd: float | None = 0.0  # what the call cost (prices.py); None when its model has no price
    unknown_usage: str = ""  # the usage counts the server reported that are no number of tokens (metering.Usage)
    service_tier: str | None = None  # the tier that served it, when the provider says (OpenAI's "flex": half price)


def estimate_tokens(text: str) -> int:
    """Tokens, estimated before a call: to share the context among files, and to hold a budget's worst case."""
    return -(-len(text) // CHARS_PER_TOKEN)


def user_parts(request: Request) -> list[str]:
    """What the user turn says, stable parts first (the repository's context, then the item's own files) and
    this call's own text last: every call that shares a beginning sends it byte for byte the same, so the
    providers' prompt caches (OpenAI's and Gemini's automatic ones, Anthropic's marked ones) serve it again."""
    return [part for part in (*request.prefix, request.prompt) if part]


class Provider(Protocol):
    name: str

    def complete(self, request: Request) -> Completion: ...


_MADE: dict[tuple[Hashable, ...], Any] = {}  # this process's clients, whichever adapter asks


class Clients(Generic[Client]):
    """One SDK client per key and endpoint, made on first use and kept for the life of the process: connections
    are reused, and a warm parent makes them before it forks, so that no item pays for an SDK client and its
    SSL context (warm_parent.py). `endpoint` is what else the client is made with."""

    def __init__(self, make: Callable[[Credential], Client], *endpoint: Hashable) -> None:
        self._make = make
        self._endpoint = endpoint

    def __call__(self, credential: Credential) -> Client:
        made = (*self._endpoint, credential)  # the credential, key included: an edited key gets a new client
        if made not in _MADE:
            _MADE[made] = self._make(credential)
        client: Client = _MADE[made]
        return client


# What a warm parent sends through an SDK to make it load what its first call loads (warm_parent.py).
WARM_UP = Request(kind="warm-up", system="warm up", prompt="warm up", document=Document("warm up", ""), item_id="0")


def answering(body: dict[str, Any]) -> Any:
    """A client of the SDKs' HTTP library (httpx2) that answers every request with `body` inside this process:
    no request leaves it."""
    import httpx2

    return httpx2.Client(transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=body)))


RAISE_MAX_TOKENS = "raise max_tokens in [tool.agentos_jobs] (or use a model with a longer output)"


def completion(text: str | None, model: str, input_tokens: object, output_tokens: object,
               truncated: bool = False, fix: str = RAISE_MAX_TOKENS, limits: Limits | None = None,
               cached_tokens: object = None) -> Completion:
    """A finished call, its usage counts as the server reported them (anything: see `errors.usage`); an empty
    or cut-off answer is an error, never an empty or half design (though it was paid for: the error says what
    it was billed). Its text is `writable`: a lone surrogate in it would fail its checkpoint, and the call would
    be paid for again on every run."""
    billed = usage(model, input_tokens, cached_tokens, output_tokens)
    if not text:
        raise ProviderError(ErrorKind.FATAL, "the model returned no text", limits=limits, billed=billed)
    if truncated:
        raise ProviderError(ErrorKind.FATAL, f"the answer was cut off at the token limit; {fix}", limits=limits,
                            billed=billed)
    return Completion(text=writable(text), model=model, input_tokens=billed.input_tokens,
                      output_tokens=billed.output_tokens, limits=limits or {}, cached_tokens=billed.cached_tokens,
                      unknown_usage=billed.unknown_usage)
