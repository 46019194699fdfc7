"""The provider interface: one call in, one completion with its token usage out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..items import Document


@dataclass(frozen=True)
class Request:
    """One LLM call. `kind` names the step (e.g. 'lld-draft'); the rest is what the step knows."""

    kind: str
    system: str
    prompt: str
    document: Document
    item_id: str
    draft: str = ""
    review: str = ""


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


class Provider(Protocol):
    name: str

    def complete(self, request: Request) -> Completion: ...
