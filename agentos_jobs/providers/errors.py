"""What went wrong with a provider call, in the terms the pool acts on, and the server's wait hint."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from enum import Enum

from ..fsutil import utc_now


class ErrorKind(Enum):
    RATE_LIMIT = "rate-limit"  # 429: cool this key (and its scope), retry with another
    QUOTA = "quota"  # a hard or daily quota, a spend limit: disable the key for the run
    OVERLOADED = "overloaded"  # 529/503 and other 5xx: back off the call; another key would not help
    TRANSIENT = "transient"  # the connection failed or timed out: back off and retry
    FATAL = "fatal"  # any other 4xx: fail the item now, keep its checkpoint


class ProviderError(Exception):
    """A classified failure: the status and the server's message, whole. It may echo the key, so it is
    scrubbed (then cut to one line) before it is shown anywhere: see `PooledProvider.complete`."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class NoKeyAvailable(Exception):
    """No key could be had within the retry budget (exit 75)."""


class RetriesExhausted(Exception):
    """Every attempt of a call failed (exit 1); the message names max_retries and the last error."""


def by_status(status: int, message: str, hint: float | None = None, hard_quota: bool = False) -> ProviderError:
    """The pool's reading of an HTTP status, once a provider has said whether it is a hard quota."""
    if hard_quota:
        return ProviderError(ErrorKind.QUOTA, message, status)
    if status == 429:
        return ProviderError(ErrorKind.RATE_LIMIT, message, status, hint)
    if status >= 500:
        return ProviderError(ErrorKind.OVERLOADED, message, status, hint)
    return ProviderError(ErrorKind.FATAL, message, status)


def connection_failed(exc: Exception) -> ProviderError:
    return ProviderError(ErrorKind.TRANSIENT, f"connection failed: {type(exc).__name__}")


def unexpected(exc: Exception) -> ProviderError:
    return ProviderError(ErrorKind.FATAL, f"{type(exc).__name__}: {exc}")


def _seconds(text: str, scale: float = 1.0) -> float | None:
    """A wait in seconds, or None for one that is no wait (garbage, nan, negative). A huge one, `inf`
    included, is kept as it is: the pool caps it (MAX_COOLDOWN_SECONDS), and an item ends if it cannot wait."""
    try:
        seconds = float(text) / scale
    except ValueError:
        return None
    return seconds if seconds >= 0 else None  # False for nan


def _until(text: str) -> float | None:
    """The seconds to an HTTP date (0 if it is gone by), or None for a date that is not one."""
    try:
        moment = parsedate_to_datetime(text)
        return max(0.0, (moment - utc_now()).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):  # no date, no zone, out of range
        return None


def wait_hint(headers: Mapping[str, str] | None, body_delay: str | None = None) -> float | None:
    """The server's own wait: `retry-after-ms`, `retry-after` (seconds or an HTTP date), Gemini's retryDelay;
    the first of them that is a wait at all. Never NaN or negative; possibly huge or `inf`."""
    headers = headers or {}
    after = headers.get("retry-after") or ""
    delay = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", body_delay or "")
    hints = [_seconds(headers.get("retry-after-ms") or "", 1000), _seconds(after), _until(after),
             _seconds(delay.group(1)) if delay else None]
    return next((hint for hint in hints if hint is not None), None)
