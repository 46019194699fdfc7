"""Run ids and where one run keeps its records."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .config import Settings
from .fsutil import utc_now


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


def item_results_dir(settings: Settings, run_id: str) -> Path:
    return settings.runs_dir / run_id / "items"


def outcomes_dir(settings: Settings, run_id: str) -> Path:
    """What each workflow process says of its own outcome (an ItemResult with its status and message); its
    wrapper completes it into the item's result."""
    return settings.runs_dir / run_id / "outcomes"


def waiting_dir(settings: Settings, run_id: str) -> Path:
    """One empty file per item that is waiting for an API key: the progress line counts them."""
    return settings.runs_dir / run_id / "waiting"


def stop_flag(settings: Settings, run_id: str) -> Path:
    """Written by doit's process when the run is interrupted, holding the signal's name: every wrapper stops
    its workflow at once, whether it is doit's grandchild (-n 3), its child (-n 0, -P thread) or neither."""
    return settings.runs_dir / run_id / "stopping"


def workers_dir(settings: Settings, run_id: str) -> Path:
    """One note per doit worker: the item it runs and its wrapper's pid (see worker.py)."""
    return settings.runs_dir / run_id / "workers"


def log_dir(settings: Settings, run_id: str) -> Path:
    return settings.logs_dir / run_id
