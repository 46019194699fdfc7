"""Hostile servers: wait hints that are absurd or garbage, and error texts that echo a piece of the key."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agentos_jobs.core.fsutil import iso, utc_now
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.policy import MAX_COOLDOWN_SECONDS, CredentialPool, PoolView
from agentos_jobs.providers.errors import wait_hint


def http_date(seconds_from_now: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + seconds_from_now))


@pytest.mark.parametrize("headers, body_delay", [
    ({"retry-after": "nan"}, None),
    ({"retry-after": "NaN"}, None),
    ({"retry-after": "-inf"}, None),
    ({"retry-after": "-5"}, None),
    ({"retry-after": "soon"}, None),
    ({"retry-after": ""}, None),
    ({"retry-after": "Mon, 01 Jan 10000 00:00:00 GMT"}, None),  # no such date
    ({"retry-after": "Wed, 01 Jan 2099 00:00:00 -0000"}, None),  # an HTTP date without a zone is not one
    ({"retry-after-ms": "nan"}, None),
    ({"retry-after-ms": "-1000"}, None),
    ({}, "-3s"),
    ({}, "nans"),
    ({}, "1e400s"),
])
def test_a_hint_that_is_no_wait_is_ignored(headers: dict[str, str], body_delay: str | None) -> None:
    assert wait_hint(headers, body_delay) is None  # the pool's own backoff applies


@pytest.mark.parametrize("headers, body_delay, least", [
    ({"retry-after": "inf"}, None, math.inf),
    ({"retry-after": "Infinity"}, None, math.inf),
    ({"retry-after-ms": "inf"}, None, math.inf),
    ({"retry-after": "1e12"}, None, 1e12),
    ({"retry-after": "99999999999"}, None, 99999999999),
    ({"retry-after": "1" + "0" * 400}, None, math.inf),  # beyond a float: as good as for ever
    ({"retry-after": "Wed, 01 Jan 2099 00:00:00 GMT"}, None, 2e9),
    ({"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, None, 2e11),
    ({}, "99999999999999999999s", 1e19),
])
def test_a_huge_hint_is_read_as_huge_never_as_an_error(headers: dict[str, str], body_delay: str | None,
                                                        least: float) -> None:
    hint = wait_hint(headers, body_delay)
    assert hint is not None and hint >= least and not math.isnan(hint)


def test_ordinary_hints_still_read() -> None:
    assert wait_hint({"retry-after-ms": "nan", "retry-after": "4"}) == 4.0  # a bad first hint, a good second
    assert wait_hint({"retry-after": "0"}) == 0.0
    assert wait_hint({"retry-after": http_date(-60)}) == 0.0  # a date gone by: retry now
    hint = wait_hint({"retry-after": http_date(30)})
    assert hint is not None and 25 <= hint <= 31


@pytest.mark.parametrize("seconds", [math.inf, 1e12, 99999999999, 86400, 3 * 10**9])
def test_a_cooldown_is_stored_capped(tmp_path: Path, seconds: float) -> None:
    key = Credential(name="k", provider="openai", key="s")
    pool = CredentialPool(tmp_path / "l.json", [key], "run", print)
    assert pool.cool(key, seconds, "429: rate limited").names == ["k"]
    until = datetime.fromisoformat(json.loads((tmp_path / "l.json").read_text())["keys"]["k"]["cooling_until"])
    assert until <= utc_now() + timedelta(seconds=MAX_COOLDOWN_SECONDS)
    assert until >= utc_now() + timedelta(seconds=MAX_COOLDOWN_SECONDS - 60)


@pytest.mark.parametrize("stored", ["2099-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999999-23:59"])
def test_a_far_cooldown_left_by_an_older_run_is_capped_when_read(tmp_path: Path, stored: str) -> None:
    lease = tmp_path / "l.json"
    lease.write_text(json.dumps({"version": 1, "keys": {"k": {"holders": [], "cooling_until": stored,
                                                              "cooling_reason": "429: rate limited"}}}))
    said: list[str] = []
    pool = CredentialPool(lease, [Credential(name="k", provider="openai", key="s")], "run", said.append)
    view = pool.try_reserve("openai", "LLD-1")
    assert isinstance(view, PoolView) and view.only_cooling and view.next_free_at is not None
    assert view.next_free_at <= utc_now() + timedelta(seconds=MAX_COOLDOWN_SECONDS)
    written = datetime.fromisoformat(json.loads(lease.read_text())["keys"]["k"]["cooling_until"])
    assert written == view.next_free_at  # written back, so the cap does not move with the clock
    assert pool.snapshot()[0].cooling_until == written
    assert said == []  # a capped value is not damage: nothing moved aside
    assert not list(tmp_path.glob("l.json.corrupt-*"))


def test_an_earlier_cooldown_is_never_lengthened_by_reading(tmp_path: Path) -> None:
    key = Credential(name="k", provider="openai", key="s")
    pool = CredentialPool(tmp_path / "l.json", [key], "run", print)
    pool.cool(key, 5, "429: rate limited")
    stored = json.loads((tmp_path / "l.json").read_text())["keys"]["k"]["cooling_until"]
    pool.snapshot()
    assert json.loads((tmp_path / "l.json").read_text())["keys"]["k"]["cooling_until"] == stored
    assert iso(pool.snapshot()[0].cooling_until or utc_now()) == stored


def make_key(length: int) -> str:
    """A key-like string: a real prefix and random-looking letters and digits, no 10-character run repeated."""
    body = hashlib.sha256(str(length).encode()).hexdigest() * 4
    mixed = "".join(c.upper() if i % 3 == 0 else c for i, c in enumerate(body))
    return ("sk-proj-" + mixed)[:length]


@pytest.mark.parametrize("length, start, size", [
    (length, start, size) for length in (20, 164) for size in (10, 24, 40) for start in (0, 3, 7, length - size)
    if start >= 0 and start + size <= length])
@pytest.mark.parametrize("template", [
    "Incorrect API key provided: {piece}. See https://example.test/keys.",  # a word of its own
    "key={piece}&user=1 rejected",  # inside a word
    "prefix{piece}suffix",
    "{piece}",
    '{{"error": "bad key \\"{piece}\\""}}',
])
def test_any_run_of_ten_characters_of_a_key_is_scrubbed(length: int, size: int, start: int, template: str) -> None:
    key = make_key(length)
    piece = key[start : start + size]
    credential = Credential(name="key-1", provider="openai", key=key)
    scrubbed = credential.scrub(template.format(piece=piece))
    assert "<key key-1>" in scrubbed
    assert not [i for i in range(len(key) - 9) if key[i : i + 10] in scrubbed]


def test_the_rest_of_the_text_is_kept() -> None:
    key = make_key(164)
    credential = Credential(name="key-1", provider="openai", key=key)
    assert credential.scrub(f"401 Incorrect API key provided: {key[30:70]}. Try again.") == (
        "401 Incorrect API key provided: <key key-1> Try again.")
    assert credential.scrub(f"a {key[6:30]} b {key[100:130]} c") == "a <key key-1> b <key key-1> c"


@pytest.mark.parametrize("length", [20, 164])
def test_text_without_a_run_of_the_key_is_unchanged(length: int) -> None:
    key = make_key(length)
    credential = Credential(name="key-1", provider="openai", key=key)
    text = ("A design with **bold** words, https://example.test/a/b?c=d, sk-live-not-this-one, "
            f"and nine characters of the key: {key[9:18]} and {key[40:49]}.\n" * 300)
    assert credential.scrub(text) == text
    assert credential.scrub_answer(text) == text


def test_an_answer_keeps_markdown_but_loses_key_runs() -> None:
    key = make_key(164)
    credential = Credential(name="key-1", provider="openai", key=key)
    answer = f"***Note:*** the key starts {key[:8]} and ends {key[-8:]}; never paste {key[50:75]} anywhere."
    assert credential.scrub_answer(answer) == (f"***Note:*** the key starts {key[:8]} and ends {key[-8:]}; "
                                               "never paste <key key-1> anywhere.")


def test_scrubbing_a_long_text_is_fast() -> None:
    key = make_key(164)
    credential = Credential(name="key-1", provider="openai", key=key)
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 1000  # 80 KB
    started = time.perf_counter()
    assert credential.scrub(text + key[60:80]) == text + "<key key-1>"
    assert credential.scrub_answer(text) == text
    assert time.perf_counter() - started < 1.0


def test_a_gateways_hint_and_the_reset_headers_of_a_429_are_read() -> None:
    assert wait_hint({"llm_provider-retry-after": "60"}) == 60.0  # LiteLLM's gateway, no retry-after
    gateway = wait_hint({"llm_provider-retry-after": http_date(30)})
    assert gateway is not None and 25 <= gateway <= 31
    assert wait_hint({"retry-after": "3", "llm_provider-retry-after": "60"}) == 3.0  # the standard one first
    resets = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
              "x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "120ms"}
    assert wait_hint(resets, rate_limited=True) == 360.0  # the budget that ran out
    assert wait_hint(resets) is None  # an overload (503) is not waited out for a rate window
    soon = (utc_now() + timedelta(seconds=20)).isoformat()
    anthropic = wait_hint({"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": soon},
                          rate_limited=True)
    assert anthropic is not None and 18 < anthropic <= 20


@pytest.mark.parametrize("text, least, most", [
    ("This request would exceed the rate limit. Limit resets at: {at} UTC", 25, 30),
    ("Rate limit exceeded; resets at {at}Z.", 25, 30),
    ("Rate limit reached for gpt-4.1 in organization org-x on requests per min (RPM): Limit 3, Used 3. "
     "Please try again in 20s.", 20, 20),
    ("Please try again in 1m30.5s", 90.5, 90.5),
    ("Please try again in 340ms.", 0.34, 0.34),
])
def test_a_reset_time_or_wait_in_the_error_text_is_read(text: str, least: float, most: float) -> None:
    at = (utc_now() + timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
    hint = wait_hint({}, text=text.replace("{at}", at), rate_limited=True)
    assert hint is not None and least <= hint <= most


@pytest.mark.parametrize("headers, text", [
    ({"llm_provider-retry-after": "nan"}, ""),
    ({"llm_provider-retry-after": "-5"}, ""),
    ({"x-ratelimit-reset-requests": "soon"}, ""),
    ({"x-ratelimit-reset-requests": "-1s"}, ""),
    ({"anthropic-ratelimit-requests-reset": "2026-01-01T00:00:00"}, ""),  # no zone: not a time
    ({"anthropic-ratelimit-requests-reset": "9999-12-31T23:59:59-23:59x"}, ""),
    ({}, "Limit resets at: 2026-13-45 99:99:99 UTC"),
    ({}, "Limit resets at: 2026-11-23 21:05:00"),  # no zone: which one?
    ({}, "Please try again in a while."),
])
def test_a_gateway_or_text_hint_that_is_no_wait_is_ignored(headers: dict[str, str], text: str) -> None:
    assert wait_hint(headers, text=text, rate_limited=True) is None


def test_a_huge_reset_from_headers_or_text_is_read_as_huge() -> None:
    assert (wait_hint({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999999h"},
                      rate_limited=True) or 0) >= 3.5e11
    assert (wait_hint({}, text="Limit resets at: 9999-12-31 23:59:59 UTC", rate_limited=True) or 0) >= 2.5e11
