"""The one base of every error a user can fix: said in one line, never as a traceback, and ending the command
with the exit code its class carries."""

from __future__ import annotations

import sys
from typing import ClassVar

from agentos_jobs.core.status import EXIT_FAILED, Status


class AgentosError(Exception):
    """A problem the message names with its fix. `exit_code` is what a command that ends on it exits with."""

    exit_code: ClassVar[int] = EXIT_FAILED
    item_status: ClassVar[Status] = Status.FAILED  # how an item that ends on it ends
    label: ClassVar[str] = "error: "  # a refusal (another run holds the worktree) is not an error of the user's


def say_error(exc: AgentosError) -> int:
    """The one place a user-facing error is shown: `agentos-jobs: error: ...` on stderr; returns its exit code."""
    sys.stderr.write(f"agentos-jobs: {exc.label}{exc}\n")
    return exc.exit_code
