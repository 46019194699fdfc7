"""OpenAI's Files and Batches endpoints and Anthropic's Message Batches on the fake server (fake_llm.py), as the
official SDKs speak to them.

A batch answers each of its lines as the chat endpoint would (the same scripted replies, the same request log,
each line marked with its batch) once `ready()` is true, when it is first looked up after that: a test decides
when the provider has finished, never a clock. `fates` scripts how the next batches end (completed, expired,
failed); `pause_after` holds the answer of the next upload or batch creation, done on the server, until `release`
is set: the moment a test kills the run.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug import Request, Response

if TYPE_CHECKING:
    from fake_llm import FakeLLM

CREATED = 1_900_000_000  # when the fake's first batch was made, in seconds since 1970: each next one a second on


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _refusal(status: int, key: str) -> Response:
    """OpenAI's own answer: a rate limit, or a key it does not take, which it echoes (as real servers do)."""
    if status == 429:
        refused = _json({"error": {"message": "Rate limit reached for requests per min (RPM).", "type": "requests",
                                   "param": None, "code": "rate_limit_exceeded"}}, 429)
        refused.headers["retry-after"] = "1"
        return refused
    return _json({"error": {"message": f"Incorrect API key provided: {key}. You can find your API key at "
                                       "https://platform.openai.com/account/api-keys.",
                            "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}, status)


class FakeBatches:
    """What a test controls of one provider's batches: when they end, how, and the moment to kill a run."""

    def __init__(self, fake: FakeLLM) -> None:
        self.fake = fake
        self.batches: dict[str, dict[str, Any]] = {}  # by id, in the order they were made
        self.keys: dict[str, str] = {}  # batch id -> the key that made it
        self.ready: Callable[[], bool] = lambda: True
        self.fates: list[str] = []  # how the next batches end; then they are answered
        self.pause_after: str | None = None  # what the next held answer follows: "files", "batches"
        self.refusals: list[int] = []  # the statuses the next submissions are refused with (429, 401), in order
        self.paused = threading.Event()
        self.release = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def created(self) -> list[dict[str, Any]]:
        return list(self.batches.values())

    def _pause(self, what: str) -> None:
        if self.pause_after == what:
            self.pause_after = None
            self.paused.set()
            self.release.wait(30)

    @staticmethod
    def _shown(batch: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in batch.items() if key != "fate"}

    def _taken(self, batch: dict[str, Any], under_way: str, status: str) -> bool:
        """Whether this lookup ends the batch: it is under way, and `ready()`. Marked `status` at once: a batch
        is answered once, whatever the lookups meanwhile."""
        with self._lock:
            if batch[under_way] != "in_progress" or not self.ready():
                return False
            batch[under_way] = status
            return True


class OpenAIBatches(FakeBatches):
    def __init__(self, fake: FakeLLM) -> None:
        super().__init__(fake)
        self.files: dict[str, bytes] = {}
        server = fake.server
        server.expect_request("/v1/files", method="POST").respond_with_handler(self._upload)
        server.expect_request(_path("/v1/files/", "/content"), method="GET").respond_with_handler(self._content)
        server.expect_request("/v1/batches", method="POST").respond_with_handler(self._create)
        server.expect_request("/v1/batches", method="GET").respond_with_handler(self._list)
        server.expect_request(_path("/v1/batches/", ""), method="GET").respond_with_handler(self._retrieve)

    def _upload(self, request: Request) -> Response:
        upload = request.files["file"]
        data = upload.read()
        with self._lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = data
        self._pause("files")
        return _json({"id": file_id, "object": "file", "bytes": len(data), "created_at": CREATED,
                      "filename": upload.filename, "purpose": request.form.get("purpose"), "status": "processed"})

    def _content(self, request: Request) -> Response:
        data = self.files.get(request.path.split("/")[3])
        if data is None:
            return _json({"error": {"message": "No such file", "type": "invalid_request_error"}}, 404)
        return Response(data, content_type="application/octet-stream")

    def _create(self, request: Request) -> Response:
        body = request.get_json()
        if self.refusals:
            return _refusal(self.refusals.pop(0), request.headers.get("Authorization", "").removeprefix("Bearer "))
        if body.get("input_file_id") not in self.files:
            return _json({"error": {"message": "No such file", "type": "invalid_request_error"}}, 400)
        with self._lock:
            number = next(self._ids)
            batch = {"id": f"batch_{number}", "object": "batch", "endpoint": body["endpoint"], "errors": None,
                     "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                     "status": "in_progress", "output_file_id": None, "error_file_id": None,
                     "created_at": CREATED + len(self.batches), "metadata": body.get("metadata"),
                     "request_counts": {"total": 1, "completed": 0, "failed": 0},
                     "fate": self.fates.pop(0) if self.fates else "completed"}
            self.batches[batch["id"]] = batch
            self.keys[batch["id"]] = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self._pause("batches")
        return _json(self._shown(batch))

    def _retrieve(self, request: Request) -> Response:
        batch = self.batches.get(request.path.rsplit("/", 1)[1])
        if batch is None:
            return _json({"error": {"message": "No such batch", "type": "invalid_request_error"}}, 404)
        self._advance(batch)
        return _json(self._shown(batch))

    def _list(self, request: Request) -> Response:
        """Newest first, `limit` a page, the next page `after` the last id shown."""
        newest = list(reversed(self.batches.values()))
        after = request.args.get("after")
        if after:
            newest = newest[[b["id"] for b in newest].index(after) + 1:]
        page = newest[: int(request.args.get("limit", 20))]
        return _json({"object": "list", "data": [self._shown(b) for b in page],
                      "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
                      "has_more": len(newest) > len(page)})

    def _advance(self, batch: dict[str, Any]) -> None:
        """A batch under way ends once `ready()`: its lines answered, or expired or failed as scripted."""
        if not self._taken(batch, "status", "finalizing"):
            return
        fate = batch["fate"]
        if fate == "failed":
            batch["errors"] = {"object": "list", "data": [{"code": "invalid_json_line", "line": 1, "param": None,
                                                           "message": "This line is not parseable as valid JSON."}]}
        elif fate == "completed":
            lines = []
            for line in self.files[batch["input_file_id"]].decode().splitlines():
                asked = json.loads(line)
                answer = self.fake.openai_answer(asked["body"], self.keys[batch["id"]], batch["id"])
                lines.append(json.dumps({"id": f"batch_req_{next(self._ids)}", "custom_id": asked["custom_id"],
                                         "response": {"status_code": answer.status_code, "request_id": "req",
                                                      "body": json.loads(answer.get_data())}, "error": None}))
            with self._lock:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "\n".join(lines).encode() + b"\n"
            batch["output_file_id"] = file_id
            batch["request_counts"] = {"total": len(lines), "completed": len(lines), "failed": 0}
        batch["status"] = fate


class AnthropicBatches(FakeBatches):
    """Message Batches: made from the requests themselves, listed newest first, results as JSONL once ended."""

    def __init__(self, fake: FakeLLM) -> None:
        super().__init__(fake)
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.results: dict[str, bytes] = {}
        server = fake.server
        server.expect_request("/v1/messages/batches", method="POST").respond_with_handler(self._create)
        server.expect_request("/v1/messages/batches", method="GET").respond_with_handler(self._list)
        server.expect_request(_path("/v1/messages/batches/", "/results"), method="GET"
                              ).respond_with_handler(self._results)
        server.expect_request(_path("/v1/messages/batches/", ""), method="GET").respond_with_handler(self._retrieve)

    def _create(self, request: Request) -> Response:
        asked = request.get_json()["requests"]
        with self._lock:
            batch_id = f"msgbatch_{next(self._ids)}"
            made = datetime.now(UTC)  # the SDK's lookups compare it with when a run was about to submit
            batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                     "request_counts": {"processing": len(asked), "succeeded": 0, "errored": 0, "canceled": 0,
                                        "expired": 0},
                     "created_at": made.isoformat(), "expires_at": (made + timedelta(days=1)).isoformat(),
                     "ended_at": None, "archived_at": None, "cancel_initiated_at": None, "results_url": None,
                     "fate": self.fates.pop(0) if self.fates else "succeeded"}
            self.batches[batch_id] = batch
            self.requests[batch_id] = asked
            self.keys[batch_id] = request.headers.get("x-api-key", "")
        self._pause("batches")
        return _json(self._shown(batch))

    def _retrieve(self, request: Request) -> Response:
        batch = self.batches.get(request.path.rsplit("/", 1)[1])
        if batch is None:
            return _json({"type": "error", "error": {"type": "not_found_error", "message": "No such batch"}}, 404)
        self._advance(batch, request.host_url.rstrip("/"))
        return _json(self._shown(batch))

    def _list(self, request: Request) -> Response:
        newest = list(reversed(self.batches.values()))
        after = request.args.get("after_id")
        if after:
            newest = newest[[b["id"] for b in newest].index(after) + 1:]
        page = newest[: int(request.args.get("limit", 20))]
        for batch in page:
            self._advance(batch, request.host_url.rstrip("/"))
        return _json({"data": [self._shown(b) for b in page], "has_more": len(newest) > len(page),
                      "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None})

    def _results(self, request: Request) -> Response:
        data = self.results.get(request.path.split("/")[4])
        if data is None:
            return _json({"type": "error", "error": {"type": "not_found_error", "message": "Not ended"}}, 404)
        return Response(data, content_type="application/binary")

    def _advance(self, batch: dict[str, Any], host: str) -> None:
        if not self._taken(batch, "processing_status", "canceling"):
            return
        fate, lines = batch["fate"], []
        for asked in self.requests[batch["id"]]:
            if fate == "succeeded":
                answer = self.fake.anthropic_answer(asked["params"], self.keys[batch["id"]], batch["id"])
                result = {"type": "succeeded", "message": json.loads(answer.get_data())}
            elif fate == "errored":
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "invalid_request_error", "message": "max_tokens: too large"}}}
            else:
                result = {"type": fate}
            lines.append(json.dumps({"custom_id": asked["custom_id"], "result": result}))
        self.results[batch["id"]] = "\n".join(lines).encode() + b"\n"
        batch["request_counts"] = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
                                   fate: len(lines)}
        batch["ended_at"] = datetime.now(UTC).isoformat()
        batch["results_url"] = f"{host}/v1/messages/batches/{batch['id']}/results"
        batch["processing_status"] = "ended"


def _path(start: str, end: str) -> re.Pattern[str]:
    return re.compile(re.escape(start) + r"[^/]+" + re.escape(end) + "$")
