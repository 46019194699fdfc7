"""How a failed provider call is read, in the terms the pool acts on (the classes are in core/errors.py), what an
answer was billed, and the server's wait hint."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime

from agentos_jobs.core.errors import ErrorKind, ProviderError
from agentos_jobs.core.fsutil import utc_now
from agentos_jobs.core.metering import Usage
from agentos_jobs.pool.limits import duration, read_limits, refill_wait, seconds, until


def tokens(value: object) -> int | None:
    """A token count as a server reported it, or None for one that is none: missing, a bool, text, NaN, an
    infinity, negative. Such usage is unknown, never $0 or a refund (a `NaN` would poison the run's ledger)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return math.ceil(value)


def total(*counts: object) -> object:
    """The sum of token counts, or the first of them that is no count, as it was (for `usage` to name)."""
    read = [tokens(count) for count in counts]
    return sum(c for c in read if c is not None) if None not in read else counts[read.index(None)]


def usage(model: str, input_tokens: object, cached_tokens: object, output_tokens: object) -> Usage:
    """The usage of an answer: the counts that are numbers, and the names of those that are not. A missing
    cached count is 0 (no cache served); missing input or output counts are unknown."""
    named = {"input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": cached_tokens}
    read = {name: tokens(value) for name, value in named.items()}
    unknown = [f"{name}={named[name]!r}" for name, count in read.items()
               if count is None and not (name == "cached_tokens" and named[name] is None)]
    return Usage(model, read["input_tokens"] or 0, read["cached_tokens"] or 0, read["output_tokens"] or 0,
                 ", ".join(unknown))


def by_status(status: int, message: str, headers: Mapping[str, str] | None = None, body_delay: str | None = None,
              hard_quota: bool = False) -> ProviderError:
    """The pool's reading of an HTTP error answer, once a provider has said whether it is a hard quota: its
    kind, the server's wait hint and what its headers say of the key's budget."""
    limits = read_limits(headers)
    if hard_quota:
        return ProviderError(ErrorKind.QUOTA, message, status, limits=limits)
    if status == 429:
        hint = wait_hint(headers, body_delay, message, rate_limited=True)
        return ProviderError(ErrorKind.RATE_LIMIT, message, status, hint, limits)
    if status >= 500:
        return ProviderError(ErrorKind.OVERLOADED, message, status, wait_hint(headers, body_delay), limits)
    return ProviderError(ErrorKind.FATAL, message, status, limits=limits)


def connection_failed(exc: Exception) -> ProviderError:
    return ProviderError(ErrorKind.TRANSIENT, f"connection failed: {type(exc).__name__}")


def unexpected(exc: Exception) -> ProviderError:
    return ProviderError(ErrorKind.FATAL, f"{type(exc).__name__}: {exc}")


def _until(text: str) -> float | None:
    """The seconds to an HTTP date (0 if it is gone by), or None for a date that is not one."""
    try:
        moment = parsedate_to_datetime(text)
        return max(0.0, (moment - utc_now()).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):  # no date, no zone, out of range
        return None


# A reset time or a wait in the error text, where a server gives no header: `Limit resets at: 2026-11-23
# 21:05:00 UTC` (a gateway's Anthropic route), `Please try again in 20s` (OpenAI's message).
_RESETS_AT = re.compile(r"resets?\s+(?:at|on)?:?\s*(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
                        r"(Z|UTC|GMT|[+-]\d{2}:?\d{2})\b", re.IGNORECASE)
_TRY_AGAIN = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)\b", re.IGNORECASE)


def _from_text(text: str) -> float | None:
    if match := _RESETS_AT.search(text):
        day, clock, zone = match.groups()
        zone = "+00:00" if zone.upper() in ("Z", "UTC", "GMT") else zone
        return until(f"{day}T{clock}{zone}")
    if match := _TRY_AGAIN.search(text):
        return duration(match.group(1))
    return None


def wait_hint(headers: Mapping[str, str] | None, body_delay: str | None = None, text: str = "",
              rate_limited: bool = False) -> float | None:
    """The server's own wait, the first of these that is a wait at all: `retry-after-ms`, `retry-after`
    (seconds or an HTTP date), LiteLLM's `llm_provider-retry-after`, Gemini's retryDelay; on a 429 also the
    reset of the exhausted budget (`x-ratelimit-reset-*`, `anthropic-ratelimit-*-reset`) and a reset time or
    wait in the error text. Never NaN or negative; possibly huge or `inf`."""
    headers = headers or {}
    after = headers.get("retry-after") or ""
    gateway = headers.get("llm_provider-retry-after") or ""
    delay = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", body_delay or "")
    hints = [seconds(headers.get("retry-after-ms") or "", 1000), seconds(after), _until(after), seconds(gateway),
             _until(gateway), seconds(delay.group(1)) if delay else None]
    if rate_limited:
        hints += [refill_wait(read_limits(headers)), _from_text(text)]
    return next((hint for hint in hints if hint is not None), None)


@contextlib.contextmanager
def classified(sdk_error: type[Exception], classify: Callable[[Exception], ProviderError]) -> Iterator[None]:
    """An SDK's error raised inside, as the ProviderError its adapter's `classify` makes of it."""
    try:
        yield
    except sdk_error as exc:
        raise classify(exc) from None
