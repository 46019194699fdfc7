"""A real provider behind the credential pool: lease a key, call, and act on the failure as a careful person would.

Every answer's rate-limit headers go to the pool, which stops leasing a key whose budget is spent until its
reset. A 429 cools the key (and its scope) for the server's wait hint (at most MAX_COOLDOWN_SECONDS) or, without
one, a backoff that grows with the key's strikes and the call's own 429s (see `rate_backoff`), and the call moves
on to another key; when every key cools longer than the item has left of worker_timeout_seconds, the item ends
`no-key` now rather than sleep into its timeout. A hard quota disables the key; an overload or a broken
connection backs off the call itself. `max_retries` bounds the attempts answered with a failure; waiting for a
key, busy or cooling, is no attempt (the worker timeout bounds it).
"""

from __future__ import annotations

import functools
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from agentos_jobs.core.errors import (
    BatchWaiting,
    ErrorKind,
    LockTimeout,
    NoKeyAvailable,
    ProviderError,
    RetriesExhausted,
    StoreUnavailable,
)
from agentos_jobs.core.fsutil import describe_os_error, iso, utc_now
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.metering import Limits, Usage
from agentos_jobs.core.os_process import start_time
from agentos_jobs.core.prices import Price, batch_price, cache_saving, cost_usd, price_of
from agentos_jobs.core.settings import ModelChoice, Settings
from agentos_jobs.core.text import one_line
from agentos_jobs.pool.budget import Ledger, budget_price
from agentos_jobs.pool.credentials import Credential, KeyMask
from agentos_jobs.pool.policy import DISABLE_SECONDS, MAX_COOLDOWN_SECONDS, Cooled, CredentialPool, PoolView
from agentos_jobs.providers.base import Completion, Request, estimate_tokens, user_parts
from agentos_jobs.providers.batched import BatchAdapter, BatchCalls
from agentos_jobs.providers.errors import unexpected
from agentos_jobs.tracing.spans import llm_span, record_answer, record_cost, record_failure

POLL_SECONDS = 0.25
MESSAGE_LIMIT = 300  # characters of a server's message that reach a log line


def _process_age() -> float:
    """Seconds since this process started (Linux, from /proc), 0 where that cannot be told: the wrapper
    counts worker_timeout_seconds from the moment it started this workflow process."""
    ticks = start_time(os.getpid())
    if ticks is None or not hasattr(time, "CLOCK_BOOTTIME"):
        return 0.0
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - int(ticks) / os.sysconf("SC_CLK_TCK"))


def rate_backoff(settings: Settings, strikes: int, at_least: int = 1) -> float:
    """A cooldown after a 429 that gave no hint: the key's `strikes`-th in a row, or the call's own
    `at_least`-th, whichever is more. It doubles from base_backoff_seconds, but from no less than the share of
    max_wait_seconds that makes the max_retries - 1 waits of a call add up to max_wait_seconds (the default,
    120 s, outlasts a 60-second rate-limit window); capped at max_backoff_seconds, and jittered upwards only, so
    that the waits never add up to less."""
    share = settings.max_wait_seconds / (2.0 ** max(settings.max_retries - 1, 1) - 1)
    first = max(settings.base_backoff_seconds, share)
    doublings = max(strikes, at_least) - 1
    return min(settings.max_backoff_seconds, first * 2.0 ** doublings * random.uniform(1.0, 1.2))


@dataclass(frozen=True)
class Failure:
    """An attempt that failed: the key it used, the classified error, its message (scrubbed and cut), and for a
    429 the cooldown it gave the key."""

    credential: Credential
    error: ProviderError
    detail: str
    cooled: Cooled | None = None


@dataclass(frozen=True)
class Attempt:
    """Which attempt of which call: its number, and the 429s the call met before it."""

    call: str
    number: int
    limited: int


class Adapter(Protocol):
    """One SDK: make the call with this key, or raise ProviderError."""

    def call(self, credential: Credential, request: Request) -> Completion: ...


class PooledProvider:
    def __init__(self, choice: ModelChoice, adapter: Adapter, pool: CredentialPool, settings: Settings,
                 holder: str, say: Callable[[str], None]) -> None:
        self.name = choice.provider
        self.model = choice.model or ""
        self.adapter = adapter
        self.pool = pool
        self.settings = settings
        self.holder = holder
        self.say = say
        self.deadline = time.monotonic() - _process_age() + settings.worker_timeout_seconds
        self.ledger = Ledger(BaseDir(settings.base_dir).run(pool.run_id).budget, settings.max_cost_usd)
        self.mask = KeyMask(pool.credentials.values())
        self.said_unknown = False
        self.batches = BatchCalls(self.model, adapter, pool.credentials, self._lease,
                                  lambda credential: self._release(credential, {}, True), self._cost, say
                                  ) if choice.batch and isinstance(adapter, BatchAdapter) else None

    def backoff(self, attempt: int) -> float:
        """base x 2^(attempt-1), capped, with jitter so that parallel workers do not retry in lockstep."""
        ceiling = min(self.settings.max_backoff_seconds, self.settings.base_backoff_seconds * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def _lease(self, call: str, only: str | None) -> Credential:
        """A key (the one named `only`, when the call waits to retry it), waiting as long as it takes (the
        item's worker timeout bounds it)."""
        flag = BaseDir(self.settings.base_dir).run(self.pool.run_id).waiting / self.holder
        try:
            return self._wait_for_key(flag, call, only)
        finally:
            flag.unlink(missing_ok=True)

    def _wait_for_key(self, flag: Path, call: str, only: str | None) -> Credential:
        said = only is not None  # the rate-limit line said what this call waits for
        while True:
            got = self.pool.try_reserve(self.name, self.holder, call, only)
            if isinstance(got, Credential):
                return got
            view: PoolView = got
            if view.usable == 0 and only:
                only = None  # disabled meanwhile (another run met its quota): any key will do
                continue
            if view.usable == 0:
                raise NoKeyAvailable(f"no usable {self.name} key: all {view.total} are disabled "
                                     "('agentos-jobs keys' shows why)" if view.total else
                                     f"no {self.name} key in the pool")
            if view.only_cooling and view.next_free_at:
                self._check_time_left(view.next_free_key, view.next_free_at)
            if not said:
                self.say(view.line(self.name))
                flag.parent.mkdir(parents=True, exist_ok=True)
                flag.touch()
                said = True
            pause = POLL_SECONDS
            if view.only_cooling and view.next_free_at:
                pause = max(0.05, min((view.next_free_at - utc_now()).total_seconds(), 5.0))
            time.sleep(pause)

    def _check_time_left(self, key: str | None, free_at: datetime) -> None:
        """A wait beyond the item's own timeout would only end as `timeout`, an hour later: end it now."""
        wait, left = (free_at - utc_now()).total_seconds(), self.deadline - time.monotonic()
        if wait > left:
            raise NoKeyAvailable(
                f"every usable {self.name} key is cooling: {key} is free again at {iso(free_at)} (in {wait:.0f}s), "
                f"after this item's worker_timeout_seconds={self.settings.worker_timeout_seconds:g} has run out "
                f"({max(left, 0):.0f}s left); run again then")

    def _release(self, credential: Credential, limits: Limits, succeeded: bool) -> None:
        """End the lease; a store out of reach does not cost the answer already paid for: the lease runs out
        by itself after its TTL."""
        try:
            self.pool.release(credential, limits, succeeded)
        except (StoreUnavailable, LockTimeout, OSError) as exc:  # Redis gone; a lease file locked or unwritable
            self.say(f"key {credential.name} not released: {exc}; its lease runs out by itself after "
                     f"lease_ttl_seconds={self.settings.lease_ttl_seconds:g}")

    def _worst_case(self, request: Request) -> float:
        """The most the call can cost: its input as sent (~4 characters a token, all uncached) and max_tokens out."""
        if self.ledger.limit is None:
            return 0.0
        sent = estimate_tokens("".join([request.system, *user_parts(request)]))
        price = budget_price(self.settings, self.model)
        return cost_usd(batch_price(price) if self.batches else price, sent, 0, self.settings.max_tokens) or 0.0

    def _price(self, usage: Completion | Usage) -> Price | None:
        """At the price of the model that answered (a dated version), else of the one asked for; half of it in
        batch mode, or when OpenAI's flex tier served it (an answer that is no use is counted at the full price)."""
        price = price_of(usage.model, self.settings.prices) or price_of(self.model, self.settings.prices)
        half = self.batches or (isinstance(usage, Completion) and usage.service_tier == "flex")
        return batch_price(price) if half else price

    def _saved(self, completion: Completion) -> float:
        return cache_saving(self._price(completion), completion.cached_tokens)

    def _cost(self, usage: Completion | Usage) -> float | None:
        """At the price of the model that answered (a dated version), else of the one asked for; unknown when
        the server's usage is no token count, said once per item (the ledger counts the call's worst case)."""
        if usage.unknown_usage:
            if not self.said_unknown:
                self.said_unknown = True
                counted = (f"; counted at the worst case held for it against max_cost_usd="
                           f"{self.ledger.limit:g}" if self.ledger.limit is not None else "")
                self.say(f"the {self.name} server reported usage that is no token count "
                         f"({one_line(usage.unknown_usage, MESSAGE_LIMIT)}): the call's cost is unknown{counted}")
            return None
        return cost_usd(self._price(usage), usage.input_tokens, usage.cached_tokens, usage.output_tokens)

    def complete(self, request: Request) -> Completion:
        """The call, within the run's budget: its worst case is held first (OverBudget: not made), and what it
        cost is counted when it returns; retries of one call are one hold. A refused attempt is not billed, an
        answer that is no use (cut off, empty) is; a call stopped by a signal may have been, so its hold stays, as
        does a batch's while it waits: every run that sees it waiting holds its worst case until it is read."""
        request = self._masked(request)
        hold = f"{self.holder}#{secrets.token_hex(4)}"
        self.ledger.reserve(hold, self._worst_case(request), f"the {request.kind} call")
        billed: list[float | None] = []
        try:
            completion = (self.batches.complete(request, hold, billed) if self.batches
                          else self._complete(request, hold, billed))
        except BatchWaiting:
            raise
        except Exception:
            if billed:
                self.ledger.settle(hold, None if None in billed else sum(c or 0.0 for c in billed))
            else:
                self.ledger.release(hold)
            raise
        try:
            self.ledger.settle(hold, completion.cost_usd, self._saved(completion))
        except (OSError, LockTimeout) as exc:  # a full disk: the answer is paid for, and worth more than the count
            self.say(f"the run's spend ledger could not be updated ({describe_os_error(exc) or exc}); this call's "
                     "worst case stays held in it")
        return completion

    def _masked(self, request: Request) -> Request:
        """The request as it may leave: no key of the pool in what is sent (the system prompt, the context, the
        call's own text), whichever file or answer brought it in."""
        return replace(request, system=self.mask.mask(request.system), prompt=self.mask.mask(request.prompt),
                       prefix=tuple(self.mask.mask(part) for part in request.prefix))

    def _complete(self, request: Request, call: str, billed: list[float | None]) -> Completion:
        """Lease a key and call, until an answer, or a failure that ends the call (see `_react`)."""
        attempts = limited = 0  # attempts answered with a failure; of them, 429s
        retry_on: str | None = None  # after a 429 without a hint, the call tries the same key again, first
        while True:
            outcome = self._attempt(self._lease(call, retry_on), request, Attempt(call, attempts + 1, limited), billed)
            if isinstance(outcome, Completion):
                return outcome
            attempts += 1
            if outcome.error.kind is ErrorKind.RATE_LIMIT:
                limited += 1
            retry_on = self._react(outcome, attempts)

    def _attempt(self, credential: Credential, request: Request, attempt: Attempt,
                 billed: list[float | None]) -> Completion | Failure:
        """One call with a leased key, in its span: the answer (scrubbed of the key's pieces) or the failure
        (scrubbed whole, then cut to one line). The key goes back to the pool with what the answer said; after a
        429, only once it is cooled: released first, it could be leased by a waiting call and cost a second 429
        in the same window."""
        limits: Limits = {}
        succeeded = False
        try:
            with llm_span(self.name, self.model, credential.name, attempt.number) as span:
                try:
                    completion = self.adapter.call(credential, request)
                except Exception as error:
                    failure = error if isinstance(error, ProviderError) else unexpected(error)
                    limits = failure.limits
                    detail = one_line(credential.scrub(str(failure)), MESSAGE_LIMIT)
                    record_failure(span, failure.kind.value, detail)
                    if failure.billed:  # an answer that is no use, paid for all the same
                        billed.append(self._cost(failure.billed))
                        record_cost(span, billed[-1])
                    cooled = self._cool(credential, failure, attempt) if failure.kind is ErrorKind.RATE_LIMIT else None
                    return Failure(credential, failure, detail, cooled)
                limits, succeeded = completion.limits, True
                completion = replace(completion, text=credential.scrub_answer(completion.text),
                                     model=credential.scrub(completion.model))
                completion = replace(completion, cost_usd=self._cost(completion))
                record_answer(span, completion.model, completion.input_tokens, completion.output_tokens)
                record_cost(span, completion.cost_usd)
                return completion
        finally:
            self._release(credential, limits, succeeded)

    def _cool(self, credential: Credential, failure: ProviderError, attempt: Attempt) -> Cooled:
        """The server's hint is honoured: the key is useless before it; without one, the key's backoff."""
        return self.pool.cool(credential, failure.retry_after, f"{failure.status or 429}: rate limited",
                              functools.partial(rate_backoff, self.settings, at_least=attempt.limited + 1),
                              attempt.call)

    def _react(self, failed: Failure, attempts: int) -> str | None:
        """What a careful person does after a failed attempt: raise when it ends the call (fatal, out of retries),
        else say how the key was cooled (429), disable it (quota) or back off (overload, a broken connection).
        Returns the key the next attempt waits for, if any (a 429 without a hint)."""
        failure, credential, detail = failed.error, failed.credential, failed.detail
        if failure.kind is ErrorKind.FATAL:
            raise ProviderError(failure.kind, f"{self.name} call with key {credential.name} failed: {detail}",
                                failure.status)
        if attempts >= self.settings.max_retries:
            raise RetriesExhausted(f"max retries ({self.settings.max_retries}) exceeded; last error with key "
                                   f"{credential.name}: {detail}")
        if failed.cooled:  # a 429: the key was cooled as it came back (see `_attempt`)
            hinted, cooled = failure.retry_after is not None, failed.cooled
            capped = (f" (the server asked for {cooled.seconds:g} s, capped)"
                      if cooled.seconds > MAX_COOLDOWN_SECONDS else "")
            then = "" if hinted else f", no hint from the server: this call tries {credential.name} again then"
            self.say(f"rate limited on key {credential.name}; cooling {', '.join(cooled.names)} for "
                     f"{min(cooled.seconds, MAX_COOLDOWN_SECONDS):.1f}s{capped}{then} "
                     f"(attempt {attempts}/{self.settings.max_retries})")
            return None if hinted else credential.name
        if failure.kind is ErrorKind.QUOTA:
            self.pool.disable(credential, detail)
            self.say(f"key {credential.name} is out of quota; disabled for {DISABLE_SECONDS / 60:g} minutes, "
                     f"for every run that shares its lease store: {detail}")
        else:
            wait = failure.retry_after if failure.retry_after is not None else self.backoff(attempts)
            wait = min(wait, self.settings.max_backoff_seconds)  # this worker sleeps: never beyond the cap
            self.say(f"{failure.kind.value} ({detail}); retrying in {wait:.1f}s "
                     f"(attempt {attempts}/{self.settings.max_retries})")
            time.sleep(wait)
        return None
