"""Anthropic's Message Batches through the official SDK: one request a batch (the discount is the same).

A message batch carries no tag of its own, and its requests can be read only once it has ended (in its results).
So a batch is looked for only when the item's checkpoint says an earlier run was about to submit it (`since`):
among the batches made since then, every one must have ended to tell whether it holds the request; meanwhile the
item waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import anthropic
from anthropic.types import Message
from anthropic.types.messages import MessageBatchIndividualResponse, batch_create_params

from agentos_jobs.core.errors import BatchWaiting
from agentos_jobs.providers.batched import BatchState

ENDED = "ended"
SKEW = timedelta(minutes=5)  # the provider's clock against ours: a batch made a little "before" is looked at too


def find(client: anthropic.Anthropic, custom_id: str, since: float | None) -> str | None:
    if since is None:
        return None
    horizon = datetime.fromtimestamp(since).astimezone() - SKEW
    for batch in client.messages.batches.list(limit=100):  # newest first; the SDK pages on by itself
        if batch.created_at < horizon:
            break
        if batch.processing_status != ENDED:
            raise BatchWaiting(f"batch {batch.id}, made when an earlier run stopped while submitting this request, "
                               "may hold it: a run after it has ended looks again")
        result = _result(client, batch.id, custom_id)
        if result is not None and result.result.type == "succeeded":
            return batch.id
    return None


def submit(client: anthropic.Anthropic, custom_id: str, params: dict[str, Any]) -> str:
    request = cast(batch_create_params.Request, {"custom_id": custom_id, "params": params})
    return client.messages.batches.create(requests=[request]).id


def poll(client: anthropic.Anthropic, batch_id: str, custom_id: str) -> tuple[BatchState, Message | None]:
    batch = client.messages.batches.retrieve(batch_id)
    if batch.processing_status != ENDED:
        return BatchState(batch.processing_status), None
    found = _result(client, batch_id, custom_id)
    if found is None:
        return BatchState(ENDED, failure="it ended without this request's result"), None
    result = found.result
    if result.type == "succeeded":
        return BatchState(ENDED), result.message
    if result.type == "errored":
        error = result.error.error
        return BatchState(ENDED, failure=f"the request failed ({error.type}: {error.message})"), None
    return BatchState(result.type, failure=_WHY.get(result.type, f"it ended {result.type}")), None


_WHY = {"expired": "it expired: not answered within its 24 h window", "canceled": "it was cancelled"}


def _result(client: anthropic.Anthropic, batch_id: str, custom_id: str) -> MessageBatchIndividualResponse | None:
    return next((line for line in client.messages.batches.results(batch_id) if line.custom_id == custom_id), None)


