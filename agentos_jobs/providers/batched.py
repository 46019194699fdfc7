"""Batch mode (`batch = true`): a role's call goes to the provider's batch API at half price, and its item waits
across runs instead of holding a doit slot while the provider works.

The call's custom id is derived from the item, the step's kind and everything sent. The batch's id is
checkpointed (in the item's checkpoint) the moment the provider gives it, before anything else; the item then ends
`waiting`. A later run looks the batch up: it takes the answer once there is one, else the item waits again. A
crash between submitting and checkpointing leaves a batch the checkpoint does not know, so the intent to submit is
checkpointed first (when, with which key), and the provider's batches since then are searched by custom id before
submitting again: it is found, never submitted twice (OpenAI's are searched before every submission, by the tag
each batch carries; Anthropic's batches carry none, so their results are read, once each has ended). A batch that
failed, expired or was cancelled fails the step, naming it and the provider's reason; its record is dropped, so
the re-run submits again. A waiting batch holds no key: one is leased to submit, and looking it up leases none.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from agentos_jobs.core.errors import BatchWaiting, ErrorKind, ProviderError
from agentos_jobs.core.metering import Usage
from agentos_jobs.core.text import one_line
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.providers.base import Completion, Request, user_parts
from agentos_jobs.providers.errors import unexpected

UNDER_WAY = ("validating", "in_progress", "finalizing", "cancelling", "canceling")  # a batch with no outcome yet
SUBMITTING = "submitting"  # the record of a batch about to be submitted: "submitting <unix time> <key>"
MESSAGE_LIMIT = 300


_LATER = (ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED, ErrorKind.TRANSIENT)  # a submission refused for now


class BatchBook(Protocol):
    """Where an item's batch ids are kept: its checkpoint."""

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def drop_meta(self, key: str) -> None: ...


@dataclass(frozen=True)
class BatchState:
    """What the provider says of a batch: its status, and once it has ended, the answer or why there is none."""

    status: str
    completion: Completion | None = None
    failure: str | None = None


@runtime_checkable
class BatchAdapter(Protocol):
    """One SDK's batch API; every method raises ProviderError when the provider refuses."""

    def find_batch(self, credential: Credential, custom_id: str, since: float | None) -> str | None:
        """The batch of this request, if one was submitted (`since`: when an earlier run was about to, and may
        have); raises BatchWaiting while that cannot be told yet."""

    def submit_batch(self, credential: Credential, custom_id: str, request: Request) -> str: ...

    def poll_batch(self, credential: Credential, batch_id: str, custom_id: str) -> BatchState: ...


def custom_id(request: Request, model: str) -> str:
    """The request's tag: the same item, step and text give the same id, in this run or a later one."""
    sent = json.dumps([request.item_id, request.kind, model, request.system, user_parts(request), request.schema],
                      sort_keys=True, ensure_ascii=False)
    return f"agentos-{request.kind}-{hashlib.sha256(sent.encode('utf-8')).hexdigest()[:32]}"


class BatchCalls:
    """One role's calls as batches. `book` is the item's checkpoint, given once it is open."""

    def __init__(self, model: str, adapter: BatchAdapter, credentials: Mapping[str, Credential],
                 lease: Callable[[str, str | None], Credential], release: Callable[[Credential], None],
                 cost: Callable[[Completion | Usage], float | None], say: Callable[[str], None]) -> None:
        self.model = model
        self.adapter = adapter
        self.credentials = credentials
        self.lease = lease
        self.release = release
        self.cost = cost
        self.say = say
        self.book: BatchBook | None = None

    def complete(self, request: Request, call: str, billed: list[float | None]) -> Completion:
        """The answer of the request's batch; BatchWaiting while there is none (the batch just submitted, or
        still under way); ProviderError when its batch ended without one."""
        if self.book is None:
            raise RuntimeError("internal error: a batch call without the item's checkpoint")
        tag = custom_id(request, self.model)
        entry = f"batch {tag}"
        stored, submitted = self.book.meta(entry), False
        if stored is None or stored.startswith(f"{SUBMITTING} "):
            stored, submitted = self._submit(self.book, request, call, tag, entry, stored)
        batch_id, _, key = stored.partition(" ")
        if submitted:
            raise BatchWaiting(f"batch {batch_id} submitted (key {key}); the next run of the same command takes "
                               "its answer")
        # Batches belong to the account: a key removed or renamed since, another of the provider's looks it up (a
        # resubmission would pay again); with none left, it waits for one.
        credential = self.credentials.get(key) or next(iter(self.credentials.values()), None)
        if credential is None:
            raise BatchWaiting(f"batch {batch_id} was submitted with key {key}, and the credentials hold no key "
                               "of its provider to look it up: add one, and the next run takes its answer")
        state = self._poll(self.book, credential, batch_id, tag, entry, billed)
        if state.failure:
            self.book.drop_meta(entry)
            raise ProviderError(ErrorKind.FATAL, f"batch {batch_id} {state.status}: "
                                                 f"{one_line(credential.scrub(state.failure), MESSAGE_LIMIT)}; "
                                                 "the next run submits it again")
        if state.completion is None:
            raise BatchWaiting(f"batch {batch_id} is still {state.status}; a later run takes its answer")
        answer = state.completion  # kept in the checkpoint by its step: the batch's record may stay
        answer = replace(answer, text=credential.scrub_answer(answer.text), model=credential.scrub(answer.model))
        return replace(answer, cost_usd=self.cost(answer))

    def _submit(self, book: BatchBook, request: Request, call: str, tag: str, entry: str,
                stored: str | None) -> tuple[str, bool]:
        """The batch of this request, as its record says it ("<id> <key>"), and whether it was submitted now (else
        found: an earlier run submitted it before it stopped); the intent checkpointed before submitting, the id
        the moment it is known."""
        since, key = None, None
        if stored is not None:  # "submitting <time> <key>": an earlier run stopped around its submission
            _, moment, key = stored.split(" ", 2)
            since = float(moment)
        credential = self.lease(call, key if key in self.credentials else None)  # batches belong to the account
        try:
            batch_id = self.adapter.find_batch(credential, tag, since)
            found = batch_id is not None
            if batch_id is None:
                book.set_meta(entry, f"{SUBMITTING} {time.time():.3f} {credential.name}")
                batch_id = self.adapter.submit_batch(credential, tag, request)
            record = f"{batch_id} {credential.name}"
            book.set_meta(entry, record)
        except ProviderError as exc:
            said = one_line(credential.scrub(str(exc)), MESSAGE_LIMIT)  # a server's message may echo the key
            if exc.kind not in _LATER:
                raise ProviderError(exc.kind, f"{request.kind}: the batch was refused (key {credential.name}): {said}",
                                    exc.status) from None
            if exc.kind is ErrorKind.RATE_LIMIT:  # a 429 made nothing: no batch to look for (a 5xx may have)
                if stored is None:
                    book.drop_meta(entry)
                else:
                    book.set_meta(entry, stored)
            # A 429, an overloaded or unreachable server: nothing to fail, the batch can wait a run (an intent
            # left recorded, when the connection broke, makes the next run look for it before it submits again).
            raise BatchWaiting(f"{request.kind}: the batch could not be submitted for now ({said}); the next run "
                               "submits it") from None
        finally:
            self.release(credential)
        self.say(f"{request.kind}: {'found' if found else 'submitted'} batch {batch_id} (key {credential.name}, "
                 "half price)")
        return record, not found

    def _poll(self, book: BatchBook, credential: Credential, batch_id: str, tag: str, entry: str,
              billed: list[float | None]) -> BatchState:
        """The batch's state. A lookup that fails for a while (a broken connection, a 429) leaves it waiting; a
        batch the provider refuses to show, or an answer that is no use (empty, cut off: paid for all the same),
        fails the step and drops its record."""
        try:
            return self.adapter.poll_batch(credential, batch_id, tag)
        except Exception as exc:
            error = exc if isinstance(exc, ProviderError) else unexpected(exc)
            detail = one_line(credential.scrub(str(error)), MESSAGE_LIMIT)
            if error.kind is not ErrorKind.FATAL:
                raise BatchWaiting(f"batch {batch_id} could not be looked up ({detail}); the next run asks again"
                                   ) from None
            if error.billed:
                billed.append(self.cost(error.billed))
            book.drop_meta(entry)
            raise ProviderError(ErrorKind.FATAL, f"batch {batch_id}: {detail}; the next run submits it again"
                                ) from None
