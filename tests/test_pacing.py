"""Pacing by the provider's own headers: what each answer says of a key's budget is read, kept in the pool, and a
spent budget is not leased again before its reset. Against a fake server that enforces N requests per window
per key, as a provider or a gateway does, with OpenAI's x-ratelimit-* headers, only a gateway's
llm_provider-retry-after, or no hint at all.

The default suite uses a 5-second window; the 60-second runs are marked slow (`pytest -m slow tests/test_pacing.py`).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from agentos_jobs.core.fsutil import iso, utc_now
from agentos_jobs.core.metering import Headroom
from agentos_jobs.core.settings import load_settings
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.limits import duration, read_limits, refill_wait
from agentos_jobs.pool.policy import CredentialPool, PoolView
from agentos_jobs.providers.pooled import rate_backoff

from conftest import Workspace
from fake_llm import FakeLLM, RateLimit, use_provider

ITEMS, KEYS = 12, 2  # 24 calls


@pytest.mark.parametrize("text, seconds", [("6m0s", 360.0), ("1s", 1.0), ("120ms", 0.12), ("1h2m3.5s", 3723.5),
                                           ("2m59.56s", 179.56), ("17", 17.0), ("0.5", 0.5)])
def test_openai_durations(text: str, seconds: float) -> None:
    assert duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "-1s", "1x", "s", "nan", "-3", "1s 2m"])
def test_a_duration_that_is_none_is_left_out(text: str) -> None:
    assert duration(text) is None


def test_openai_and_anthropic_headers_are_read() -> None:
    openai = read_limits({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                          "x-ratelimit-reset-requests": "1s", "x-ratelimit-remaining-tokens": "149984",
                          "x-ratelimit-reset-tokens": "6m0s"})
    assert openai == {"requests": Headroom(0, 1.0), "tokens": Headroom(149984, 360.0)}
    soon = iso(utc_now() + timedelta(seconds=30))
    anthropic = read_limits({"anthropic-ratelimit-requests-remaining": "49", "anthropic-ratelimit-requests-reset": soon,
                             "anthropic-ratelimit-output-tokens-remaining": "0",
                             "anthropic-ratelimit-output-tokens-reset": soon,
                             "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:00"})  # no zone: not a time
    assert set(anthropic) == {"requests", "output-tokens"}
    assert anthropic["requests"].remaining == 49 and 28 < (anthropic["output-tokens"].reset_seconds or 0) <= 30
    assert read_limits({"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "nan"}) == {}
    assert read_limits(None) == {}


def test_the_refill_of_the_spent_budget_is_the_wait() -> None:
    assert refill_wait({"requests": Headroom(0, 2.0), "tokens": Headroom(500, 60.0)}) == 2.0
    assert refill_wait({"requests": Headroom(3, 2.0), "tokens": Headroom(5, 60.0)}) == 60.0  # none says 0: the latest
    assert refill_wait({"requests": Headroom(0, None)}) is None


def test_a_spent_budget_is_not_leased_until_its_reset_and_the_scope_shares_it(tmp_path: Path) -> None:
    keys = [Credential(name=f"k{n}", provider="openai", key=f"s{n}", scope="org") for n in (1, 2)]
    pool = CredentialPool(tmp_path / "l.json", keys, "run", print)
    first = pool.try_reserve("openai", "A")
    assert isinstance(first, Credential)
    pool.release(first, {"requests": Headroom(1, 1.0)}, succeeded=True)
    second = pool.try_reserve("openai", "B")  # the last request of the window: spoken for at once
    assert isinstance(second, Credential)
    view = pool.try_reserve("openai", "C")
    assert isinstance(view, PoolView) and view.only_cooling and view.cooling == 2  # the whole scope is spent
    assert "requests budget is spent until the provider's reset" in pool.snapshot()[0].describe()
    pool.release(second, {"requests": Headroom(0, 1.0)}, succeeded=True)
    time.sleep(1.05)
    assert isinstance(pool.try_reserve("openai", "C"), Credential)
    assert "budget" not in json.loads((tmp_path / "l.json").read_text())["keys"]["k1"]  # gone by: forgotten


@dataclass
class Paced:
    statuses: set[str]
    limited: Counter[tuple[str, int]]  # (key, window) -> 429s
    makespan: float  # the first request's arrival to the last answer, at the server
    ideal: float  # windows the quota forces, plus the time the first window's calls took

    @property
    def ratio(self) -> float:
        return self.makespan / self.ideal


def paced_run(ws: Workspace, fake: FakeLLM, hints: str, window: float, per_window: int, **settings: str) -> Paced:
    """12 items, -n 4, over 2 keys that each serve `per_window` requests a window."""
    use_provider(ws, fake, "openai", keys=KEYS, **settings)
    fake.delay = 0.1
    fake.limit = limit = RateLimit(per_window=per_window, window=window, hints=hints)
    for number in range(1, ITEMS + 1):
        ws.add_issue(number)
    result = ws.doit("-n", "4", "lld", timeout=max(120, 30 / per_window * window))
    assert "Traceback" not in result.stdout + result.stderr
    epoch = limit.epoch or 0.0
    served = sorted(c.at for c in fake.calls if c.status == 200)
    batch = KEYS * per_window
    windows = math.ceil(len(served) / batch)
    paced = Paced(set(ws.statuses().values()),
                  Counter((c.key, int((c.started - epoch) // window)) for c in fake.calls if c.status == 429),
                  served[-1] - epoch, (windows - 1) * window + served[batch - 1] - epoch)
    print(f"{hints}, {window:g}s window: makespan {paced.makespan:.1f}s, ideal {paced.ideal:.1f}s, "
          f"ratio {paced.ratio:.3f}, 429s {sum(paced.limited.values())} {dict(paced.limited)}")
    return paced


def check_paced(paced: Paced) -> None:
    assert paced.statuses == {"done"}
    assert max(paced.limited.values(), default=0) <= 1  # at most one 429 per key per window


@pytest.mark.parametrize("hints", ["openai", "gateway"])
def test_the_pool_keeps_to_the_quota_in_a_short_window(workspace: Workspace, fake: FakeLLM, hints: str) -> None:
    check_paced(paced_run(workspace, fake, hints, window=5.0, per_window=2))


def test_without_any_hint_no_item_fails_in_a_short_window(workspace: Workspace, fake: FakeLLM) -> None:
    # max_wait_seconds twice the window, as the defaults (120 s) are to a 60-second window
    paced = paced_run(workspace, fake, "none", window=5.0, per_window=2, AGENTOS_MAX_WAIT="10",
                      AGENTOS_BASE_BACKOFF="0.5", AGENTOS_MAX_BACKOFF="10")
    assert paced.statuses == {"done"}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("hints", ["openai", "gateway"])
def test_the_pool_keeps_to_the_quota_in_a_60_second_window(workspace: Workspace, fake: FakeLLM, hints: str) -> None:
    """The issue's measurement: in a 60-second window the 0.1 s calls are noise, so the makespan is the quota's
    (a short window's ratio is mostly scheduling and is only printed)."""
    paced = paced_run(workspace, fake, hints, window=60.0, per_window=4)
    check_paced(paced)
    assert paced.ratio <= 1.10


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_any_hint_no_item_fails_in_a_60_second_window(workspace: Workspace, fake: FakeLLM) -> None:
    defaults = {"AGENTOS_BASE_BACKOFF": "10", "AGENTOS_MAX_BACKOFF": "300"}  # use_provider's quick ones undone
    assert paced_run(workspace, fake, "none", window=60.0, per_window=4, **defaults).statuses == {"done"}


@pytest.mark.parametrize("settings, least", [
    ({}, 120.0),  # the defaults: 10, 20, 40, 80 s
    ({"base_backoff_seconds": 1.0}, 120.0),  # a small base does not shorten them below the budget
    ({"max_wait_seconds": 60.0, "base_backoff_seconds": 0.1}, 60.0),
    ({"max_retries": 3, "base_backoff_seconds": 0.1}, 120.0),
])
def test_without_a_hint_the_waits_of_one_call_cover_max_wait_seconds(tmp_path: Path, settings: dict[str, float],
                                                                      least: float) -> None:
    chosen = replace(load_settings(tmp_path, {}), **settings)
    waits = [rate_backoff(chosen, strike) for strike in range(1, chosen.max_retries)]
    assert sum(waits) >= least
    assert waits == sorted(waits) and all(wait <= chosen.max_backoff_seconds for wait in waits)
    assert rate_backoff(chosen, 1, at_least=3) >= 4 * waits[0] / 1.2  # the call's own 429s count too


def test_after_a_hinted_429_the_call_that_met_it_goes_first(tmp_path: Path) -> None:
    """A server that says nothing of a budget until it is spent costs one 429 a window: it must fall on another
    call each time, not on one unlucky item until it runs out of retries."""
    one = Credential(name="key-1", provider="openai", key="s1")
    pool = CredentialPool(tmp_path / "l.json", [one], "run", print)
    assert pool.try_reserve("openai", "LLD-1", "LLD-1#a") == one
    pool.release(one)
    pool.cool(one, 0.3, "429: rate limited", call="LLD-1#a")  # the window's end, as the server said
    time.sleep(0.35)
    behind = pool.try_reserve("openai", "LLD-2", "LLD-2#b")  # another call, after the reset
    assert isinstance(behind, PoolView) and behind.next_free_at is not None
    assert behind.next_free_at <= utc_now() + timedelta(seconds=0.5)  # it looks again soon, not in 5 s
    assert pool.try_reserve("openai", "LLD-1", "LLD-1#a") == one  # the call that met the 429: first
    pool.release(one, succeeded=True)
    assert pool.try_reserve("openai", "LLD-2", "LLD-2#b") == one  # then anyone


def test_a_call_that_takes_another_key_frees_the_one_kept_for_it(tmp_path: Path) -> None:
    one, two = (Credential(name=f"key-{n}", provider="openai", key=f"s{n}") for n in (1, 2))
    pool = CredentialPool(tmp_path / "l.json", [one, two], "run", print)
    pool.cool(one, 0.1, "429: rate limited", call="LLD-1#a")
    assert pool.try_reserve("openai", "LLD-1", "LLD-1#a") == two  # key-1 cools: the call goes on with key-2
    time.sleep(0.15)
    assert pool.try_reserve("openai", "LLD-2", "LLD-2#b") == one  # not kept for a call that has a key


def test_a_key_kept_for_a_call_shows_the_others_its_real_cooldown(tmp_path: Path) -> None:
    """Others look again soon only once the cooldown is over: not 5 times a second for as long as it lasts."""
    one = Credential(name="key-1", provider="openai", key="s1")
    pool = CredentialPool(tmp_path / "l.json", [one], "run", print)
    pool.cool(one, 600, "429: rate limited", call="LLD-1#a")
    for call in ("LLD-1#a", "LLD-2#b", None):
        view = pool.try_reserve("openai", "LLD-2", call)
        assert isinstance(view, PoolView) and view.next_free_at is not None
        assert view.next_free_at >= utc_now() + timedelta(seconds=590), call
