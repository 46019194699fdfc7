"""Run ids: how a run is named, and how doit's process hands its name to its workers."""

from __future__ import annotations

import os
import secrets

from agentos_jobs.core.fsutil import utc_now


def new_run_id() -> str:
    """Sortable by start time to the millisecond, unique across machines: `20261123T081002.123Z-3f2a`."""
    now = utc_now()
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


def current_run_id() -> str:
    """The run id doit's process put in the environment, or a fresh one for a wrapper started by hand."""
    return os.environ.get("AGENTOS_RUN_ID") or new_run_id()


def ensure_run_env() -> str:
    """Called when dodo.py loads: the doit process names the run; its spawned workers inherit the name.

    A spawned worker re-imports dodo.py with the environment of the doit process, whose pid is its parent.
    """
    if os.environ.get("AGENTOS_RUN_PID") != str(os.getppid()) or "AGENTOS_RUN_ID" not in os.environ:
        os.environ["AGENTOS_RUN_ID"] = new_run_id()
        os.environ["AGENTOS_RUN_PID"] = str(os.getpid())
    return os.environ["AGENTOS_RUN_ID"]
