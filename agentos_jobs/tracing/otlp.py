"""OTLP export of a run's spans, done once, by the doit process, from the JSON lines every process writes.

Short-lived item processes never talk to a collector: importing the exporter costs ~0.25 s per process and a
down endpoint would hold each one at exit. The doit process forwards each item's spans as the item ends, in
a background batch, gives up after the first failed export with one warning, and waits at most a moment at
the end of the run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

FLUSH_BUDGET_MS = 2000
DEFAULT_TIMEOUT_SECONDS = 5.0


def readable_span(record: dict[str, Any]) -> ReadableSpan:
    def context_of(span_id: str, remote: bool) -> SpanContext:
        return SpanContext(int(record["trace_id"], 16), int(span_id, 16), is_remote=remote,
                           trace_flags=TraceFlags(TraceFlags.SAMPLED))

    parent = record.get("parent_span_id")
    return ReadableSpan(
        name=record["name"], context=context_of(record["span_id"], False),
        parent=context_of(parent, True) if parent else None, resource=Resource.create(record.get("resource", {})),
        attributes=record.get("attributes") or {}, kind=SpanKind.INTERNAL,
        status=Status(StatusCode[record.get("status", "UNSET")], record.get("status_message")),
        start_time=record.get("start_ns"), end_time=record.get("end_ns"))


class _GuardedExporter(SpanExporter):
    """After the first failure, say so once and stop trying: a down collector must not slow the run."""

    def __init__(self, inner: SpanExporter, warn: Callable[[str], None], endpoint: str) -> None:
        self.inner, self.warn, self.endpoint, self.failed = inner, warn, endpoint, False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.failed:
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self.failed = True
            self.warn(f"agentos-jobs: warning: OTLP export to {self.endpoint} failed; the run goes on and its spans "
                      "stay in its spans/ directory")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


class OtlpForwarder:
    def __init__(self, exporter: _GuardedExporter) -> None:
        self.processor = BatchSpanProcessor(exporter, schedule_delay_millis=500)
        self.sent: dict[Path, int] = {}

    @classmethod
    def from_env(cls, warn: Callable[[str], None]) -> OtlpForwarder | None:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if not endpoint:
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            warn("agentos-jobs: warning: OTEL_EXPORTER_OTLP_ENDPOINT is set but the exporter is not installed; run: "
                 "pip install 'agentos-jobs[otlp]'")
            return None
        logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)  # we say it once, ourselves
        timed = any(os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"))
        inner = OTLPSpanExporter() if timed else OTLPSpanExporter(timeout=DEFAULT_TIMEOUT_SECONDS)
        return cls(_GuardedExporter(inner, warn, endpoint))

    def forward(self, files: list[Path]) -> None:
        """Queue the spans of these files that were not sent yet."""
        for path in files:
            try:
                with path.open(encoding="utf-8") as handle:
                    handle.seek(self.sent.get(path, 0))
                    lines = handle.readlines()
                    self.sent[path] = handle.tell()
            except OSError:
                continue
            for line in lines:
                try:
                    self.processor.on_end(readable_span(json.loads(line)))
                except (ValueError, KeyError, TypeError):
                    continue

    def close(self) -> None:
        self.processor.force_flush(timeout_millis=FLUSH_BUDGET_MS)
