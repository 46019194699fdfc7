"""The provider interface: one call in, one completion with its token usage out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ..credentials import Credential
from ..items import Document
from .errors import ErrorKind, ProviderError

Client = TypeVar("Client")


@dataclass(frozen=True)
class Request:
    """One LLM call. `kind` names the step (e.g. 'lld-draft'); the rest is what the step knows."""

    kind: str
    system: str
    prompt: str
    document: Document
    item_id: str
    draft: str = ""


@dataclass(frozen=True)
class Completion:
    """An answer; `model` is the one that served it, often a dated version of the one asked for."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


class Provider(Protocol):
    name: str

    def complete(self, request: Request) -> Completion: ...


class Clients(Generic[Client]):
    """One SDK client per key, made on first use and kept (connection reuse; genai closes collected clients)."""

    def __init__(self, make: Callable[[Credential], Client]) -> None:
        self._make = make
        self._made: dict[str, Client] = {}

    def __call__(self, credential: Credential) -> Client:
        if credential.name not in self._made:
            self._made[credential.name] = self._make(credential)
        return self._made[credential.name]


RAISE_MAX_TOKENS = "raise max_tokens in [tool.agentos_jobs] (or use a model with a longer output)"


def completion(text: str | None, model: str, input_tokens: int | None, output_tokens: int | None,
               truncated: bool = False, fix: str = RAISE_MAX_TOKENS) -> Completion:
    """A finished call; an empty or cut-off answer is an error, never an empty or half design."""
    if not text:
        raise ProviderError(ErrorKind.FATAL, "the model returned no text")
    if truncated:
        raise ProviderError(ErrorKind.FATAL, f"the answer was cut off at the token limit; {fix}")
    return Completion(text=text, model=model, input_tokens=input_tokens or 0, output_tokens=output_tokens or 0)
