"""The step engine: a workflow's steps run once each, checkpointed in SQLite, resumed after a failure or a stop."""
