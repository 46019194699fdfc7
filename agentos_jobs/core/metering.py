"""What a provider's answer reports beside its text: the tokens it was billed, and what is left of the key's rate
limits. Plain records, below every layer: an error carries them too (an answer that is no use was still billed,
and its headers still say what is left), and the exception tree lives in core."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """What an answer was billed for, as its server reported it. `unknown_usage` names the counts that were missing
    or not a finite, non-negative number of tokens (e.g. "completion_tokens=nan"), each read as 0: the call's
    cost cannot be told (see `providers.errors.tokens`)."""

    model: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    unknown_usage: str = ""


@dataclass(frozen=True)
class Headroom:
    """One dimension of a limit (requests, tokens, ...): what is left of it and the seconds until it refills."""

    remaining: int | None
    reset_seconds: float | None


Limits = dict[str, Headroom]  # dimension -> budget; empty when the server says nothing
