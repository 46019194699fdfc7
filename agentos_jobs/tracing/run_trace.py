"""The run's trace as the doit process holds it: the root span, its context for every item process, and the
forwarding of all the run's spans to OTLP as items end."""

from __future__ import annotations

import os
from collections.abc import Callable

from opentelemetry import context, trace

from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.settings import Settings
from agentos_jobs.tracing.otlp import OtlpForwarder
from agentos_jobs.tracing.spans import env_carrier, start_tracing, tracer


class RunTrace:
    def __init__(self, settings: Settings, run_id: str, warn: Callable[[str], None]) -> None:
        """Open the root span under the caller's TRACEPARENT, if any, and put its own in this process's
        environment: doit's workers, forked or spawned after this, hand it to every wrapper."""
        self.folder = BaseDir(settings.base_dir).run(run_id).spans
        start_tracing(self.folder / f"run-{os.getpid()}.jsonl", "doit")
        self.span = tracer().start_span(f"run {run_id}", attributes={"agentos.run_id": run_id})
        context.attach(trace.set_span_in_context(self.span))
        os.environ.pop("TRACESTATE", None)
        os.environ.update(env_carrier())
        self.forwarder = OtlpForwarder.from_env(warn)

    @property
    def trace_id(self) -> str:
        return f"{self.span.get_span_context().trace_id:032x}"

    def forward(self, pattern: str = "*.jsonl") -> None:
        if self.forwarder:
            self.forwarder.forward(sorted(self.folder.glob(pattern)))

    def end(self, exit_code: int) -> None:
        self.span.set_attribute("agentos.exit_code", exit_code)
        self.span.end()
        self.forward()
        if self.forwarder:
            self.forwarder.close()
