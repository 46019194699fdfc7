"""What a provider says of its rate limits on every answer: how much is left, and when it refills.

OpenAI and OpenAI-compatible servers send `x-ratelimit-remaining-{requests,tokens}` with
`x-ratelimit-reset-{requests,tokens}` as durations (`6m0s`, `1s`, `120ms`); Anthropic sends
`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}` with RFC 3339 times.
Gemini sends none. Read defensively: a value that is not one is left out, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime

from agentos_jobs.core.fsutil import utc_now
from agentos_jobs.core.metering import Headroom, Limits

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_ANTHROPIC = ("requests", "tokens", "input-tokens", "output-tokens")
_OPENAI = ("requests", "tokens")


def seconds(text: str, scale: float = 1.0) -> float | None:
    """A wait in seconds, or None for one that is no wait (garbage, nan, negative). A huge one, `inf`
    included, is kept as it is: the pool caps it (MAX_COOLDOWN_SECONDS), and an item ends if it cannot wait."""
    try:
        value = float(text) / scale
    except ValueError:
        return None
    return value if value >= 0 else None  # False for nan


def duration(text: str) -> float | None:
    """`6m0s`, `1s`, `120ms`, `1h2m3.5s` (Go's notation, as OpenAI writes it) or plain seconds."""
    text = text.strip()
    if _DURATION.fullmatch(text):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))
    return seconds(text)


def until(text: str) -> float | None:
    """Seconds to an RFC 3339 time with a zone (0 if it is gone by), or None for text that is not one."""
    try:
        moment = datetime.fromisoformat(text.strip())
        return max(0.0, (moment - utc_now()).total_seconds()) if moment.tzinfo else None
    except (ValueError, OverflowError):  # not a time, or one beyond what a datetime holds
        return None


def _count(text: str | None) -> int | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value >= 0 else None


def read_limits(headers: Mapping[str, str] | None) -> Limits:
    """Every dimension the answer's headers describe, OpenAI's or Anthropic's style."""
    headers = headers or {}
    found: Limits = {}
    for dimension in _OPENAI:
        remaining = _count(headers.get(f"x-ratelimit-remaining-{dimension}"))
        reset = duration(headers.get(f"x-ratelimit-reset-{dimension}") or "")
        if remaining is not None or reset is not None:
            found[dimension] = Headroom(remaining, reset)
    for dimension in _ANTHROPIC:
        remaining = _count(headers.get(f"anthropic-ratelimit-{dimension}-remaining"))
        reset = until(headers.get(f"anthropic-ratelimit-{dimension}-reset") or "")
        if remaining is not None or reset is not None:
            found[dimension] = Headroom(remaining, reset)
    return found


def refill_wait(limits: Limits) -> float | None:
    """On a 429: how long until the budget that ran out refills. The latest reset of the dimensions left at 0,
    or, when none says 0 (a request larger than what is left), the latest reset of any."""
    exhausted = [b.reset_seconds for b in limits.values() if b.remaining == 0 and b.reset_seconds is not None]
    resets = exhausted or [b.reset_seconds for b in limits.values() if b.reset_seconds is not None]
    return max(resets) if resets else None
