"""One run, one trace: spans as JSON lines per process, the run's root span, the OTLP export."""
