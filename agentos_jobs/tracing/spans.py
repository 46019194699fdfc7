"""One run, one trace. Each process writes its finished spans as JSON lines under the run's directory; the
W3C context travels to child processes as TRACEPARENT/TRACESTATE (the OpenTelemetry environment carrier).

Span and attribute values never hold a key: LLM call spans name the key, nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context, trace
from opentelemetry.sdk.resources import OTELResourceDetector, Resource, ServiceInstanceIdResourceDetector
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE = "agentos-jobs"
_PROPAGATOR = TraceContextTextMapPropagator()


def span_record(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": dict(span.attributes or {}),
        "resource": dict(span.resource.attributes),
    }


class JsonLinesExporter(SpanExporter):
    """Appends one JSON object per finished span; always on, so a run can be explained without a collector."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(span), sort_keys=True, default=str) + "\n" for span in spans)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(lines)
        except OSError:  # a full disk: the trace has a gap, the item goes on (its log and summary say why)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


_provider: TracerProvider | None = None  # this process's: never OpenTelemetry's global, which is set once


def start_tracing(spans_file: Path, process: str) -> None:
    """This process's spans go to `spans_file`, under the trace named by TRACEPARENT when there is one. Called
    again in a forked child, it starts afresh: a new provider with the child's pid, the wrapper's left behind."""
    global _provider
    resource = (detected_resource().merge(ServiceInstanceIdResourceDetector().detect())  # each process its own
                .merge(OTELResourceDetector().detect())  # but for an id the user set (OTEL_RESOURCE_ATTRIBUTES)
                .merge(Resource({"service.name": SERVICE, "agentos.process": process, "process.pid": os.getpid()})))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(spans_file)))
    _provider = provider
    context.attach(context_from_env(os.environ))


def detected_resource() -> Resource:
    """What OpenTelemetry detects of this process's setting (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, the
    SDK's own attributes): once for a run, by its warm parent, and not in each item's processes, where it costs
    a pool of threads and a few milliseconds. Detectors a user adds (OTEL_EXPERIMENTAL_RESOURCE_DETECTORS)
    describe the process they run in, so they run in each."""
    return _detect() if os.environ.get("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS") else _detected_once()


def _detect() -> Resource:
    return Resource.create({"service.name": SERVICE})


_detected_once = functools.cache(_detect)


def tracer() -> trace.Tracer:
    return (_provider or trace.get_tracer_provider()).get_tracer("agentos_jobs")


def context_from_env(environ: Mapping[str, str]) -> context.Context:
    carrier = {"traceparent": environ.get("TRACEPARENT", ""), "tracestate": environ.get("TRACESTATE", "")}
    return _PROPAGATOR.extract({k: v for k, v in carrier.items() if v})


def env_carrier() -> dict[str, str]:
    """TRACEPARENT (and TRACESTATE) for a child process, naming the current span as its parent."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {name.upper(): value for name, value in carrier.items()}


def trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else "-"


# OpenTelemetry's GenAI semantic conventions, so that Langfuse, Phoenix or Grafana read our call spans as they
# are; what the conventions do not name (the key's name, the attempt, our outcome) is `agentos.*`.
_GEN_AI_PROVIDERS = {"gemini": "gcp.gemini"}


@contextlib.contextmanager
def llm_span(provider: str, model: str, key_name: str | None, attempt: int) -> Iterator[trace.Span]:
    """One LLM call: provider, model, key name (never the key), attempt; the caller adds tokens and outcome."""
    system = _GEN_AI_PROVIDERS.get(provider, provider)
    attributes: dict[str, str | int] = {
        gen_ai.GEN_AI_OPERATION_NAME: "chat", gen_ai.GEN_AI_PROVIDER_NAME: system, gen_ai.GEN_AI_SYSTEM: system,
        gen_ai.GEN_AI_REQUEST_MODEL: model or provider, "agentos.attempt": attempt,
        "agentos.key_name": key_name or "-"}
    with tracer().start_as_current_span(f"chat {model or provider}", kind=trace.SpanKind.CLIENT,
                                        attributes=attributes) as span:
        yield span


def record_answer(span: trace.Span, model: str, input_tokens: int, output_tokens: int) -> None:
    """A call that succeeded: who answered (the dated model the server names) and what it cost."""
    span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, model)
    span.set_attribute(gen_ai.GEN_AI_USAGE_INPUT_TOKENS, input_tokens)
    span.set_attribute(gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens)
    span.set_attribute("agentos.outcome", "ok")


def record_cost(span: trace.Span, cost: float | None) -> None:
    """`agentos.cost_usd`: dollars at the price table's rates, or "unknown" for a model it does not price."""
    span.set_attribute("agentos.cost_usd", "unknown" if cost is None else cost)


def record_failure(span: trace.Span, kind: str, detail: str) -> None:
    """A call that failed: `error.type` is the pool's reading of it (rate-limit, quota, fatal ...); `detail` is
    already scrubbed of the key."""
    span.set_attribute(ERROR_TYPE, kind)
    span.set_attribute("agentos.outcome", kind)
    span.set_status(trace.StatusCode.ERROR, detail)
