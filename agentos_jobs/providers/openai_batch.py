"""OpenAI's Batch API through the official SDK: one request a batch (the discount is the same), uploaded as a
JSONL file, its batch tagged with the request's custom id so that it can be found again without the checkpoint."""

from __future__ import annotations

import json
from typing import Any, Final

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion

from agentos_jobs.providers.batched import UNDER_WAY, BatchState

ENDPOINT: Final = "/v1/chat/completions"
TAG = "agentos_custom_id"  # the batch's metadata key that holds its request's custom id
SKEW_SECONDS = 300.0  # the provider's clock against ours: a batch made a little "before" is looked at too


def find(client: openai.OpenAI, custom_id: str, since: float | None) -> str | None:
    """The batch of this request that a run which stopped while submitting it (at `since`) may have made, and
    that is under way or answered, newest first as the provider lists them. Only batches made since then: an
    older one of the same request ended without an answer, and its step was failed for it."""
    if since is None:  # no submission began: none to find
        return None
    for batch in client.batches.list(limit=100):  # the SDK pages on by itself
        if batch.created_at < since - SKEW_SECONDS:
            break
        if (batch.metadata or {}).get(TAG) == custom_id and (batch.status in UNDER_WAY or batch.status == "completed"):
            return batch.id
    return None


def submit(client: openai.OpenAI, custom_id: str, body: dict[str, Any]) -> str:
    line = json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}, ensure_ascii=False)
    upload = client.files.create(file=(f"{custom_id}.jsonl", line.encode("utf-8") + b"\n"), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                                  metadata={TAG: custom_id})
    return batch.id


def poll(client: openai.OpenAI, batch_id: str, custom_id: str) -> tuple[BatchState, ChatCompletion | None]:
    """The batch's state and, once it has ended, its request's answer or why there is none. An expired batch may
    still hold the answer (it keeps what it finished in time)."""
    batch = client.batches.retrieve(batch_id)
    if batch.status in UNDER_WAY:
        return BatchState(batch.status), None
    for file_id in (batch.output_file_id, batch.error_file_id):
        record = _record(client, file_id, custom_id) if file_id else None
        if record is None:
            continue
        response = record.get("response") or {}
        if record.get("error") or response.get("status_code") != 200:
            error = record.get("error") or (response.get("body") or {}).get("error") or {}
            why = f"{response.get('status_code') or '-'} {error.get('code') or ''}: {error.get('message') or error}"
            return BatchState(batch.status, failure=f"the request failed ({why})"), None
        # Read as it came, unvalidated, as the synchronous call reads its answer: usage that is no token count
        # (NaN, text) is the provider's and counted as unknown, never a reason to throw a paid answer away.
        return BatchState(batch.status), ChatCompletion.construct(**(response.get("body") or {}))
    return BatchState(batch.status, failure=_why(batch)), None


def _record(client: openai.OpenAI, file_id: str, custom_id: str) -> dict[str, Any] | None:
    for line in client.files.content(file_id).text.splitlines():
        record = json.loads(line) if line.strip() else None
        if isinstance(record, dict) and record.get("custom_id") == custom_id:
            return record
    return None


def _why(batch: Batch) -> str:
    """What the provider says of a batch that ended without an answer."""
    errors = [f"{error.code}: {error.message}" for error in (batch.errors.data or [])] if batch.errors else []
    if errors:
        return "; ".join(errors)
    return {"expired": "it expired: not answered within its 24 h window",
            "cancelled": "it was cancelled"}.get(batch.status, f"it ended {batch.status} without an answer")
