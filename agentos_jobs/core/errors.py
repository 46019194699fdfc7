"""Every exception class of the package, in one tree: what ends a command, and what passes between our own layers.

An `AgentosError` is the user's to fix (or to wait out): `say_error` says it in one line, never as a traceback,
and a command that ends on it exits with the code its class carries (`exit_code`, from core/status.py); an item
that ends on it ends with its class's `item_status`. Every other class is a signal between our own layers: each is
caught by the layer named beside it and becomes an item's status, a retry, or one of the first kind; none reaches a
user as a traceback.

    BaseException
    ├── Interrupted             SIGINT/SIGTERM reached a workflow (steps/engine, caught by procs/)
    └── Exception
        ├── AgentosError            exit 1    the user's to fix; said in one line
        │   ├── ConfigError         exit 3    a setting that cannot be used; the run does not start
        │   ├── CredentialsError    exit 3    the credentials file or key variable cannot be used
        │   ├── RunLocked           exit 3    another run holds the worktree (said without "error: ")
        │   ├── StoreUnavailable    exit 75   the lease store cannot be reached: try again later
        │   │   └── StoreRefused    exit 3    it answers but refuses (a password, a replica): fix it
        │   ├── NoKeyAvailable      exit 75   no key within the retry budget; the item ends no-key
        │   ├── InputError          exit 1    an issue or brief that cannot be used
        │   ├── InvalidItemId       exit 1    an id unsafe in a path (also a ValueError)
        │   ├── ExistingWork        exit 1    files we did not write at its outputs; the item ends exists
        │   ├── OverBudget          exit 1    the next call would pass max_cost_usd; the item ends over-budget
        │   ├── BatchWaiting        exit 1    a provider batch under way; the item ends waiting (exit 0)
        │   ├── CheckpointBusy      exit 1    a checkpoint in use by another process, or on a full disk
        │   ├── GhError             exit 1    gh missing, logged out, or failing
        │   └── ReportError         exit 1    no such run to report
        ├── ProviderError           a classified call failure (providers/, acted on by providers/pooled)
        ├── RetriesExhausted        every attempt of a call failed (providers/pooled; the step fails)
        ├── StepFailed              a step raised (steps/engine; procs/workflow ends the item with its status)
        ├── LockTimeout             a lock file still held at its timeout (core/filelock; core/run_locks, pooled)
        ├── WarmParentGone          the warm parent died (procs/warm_parent; procs/worker starts afresh)
        ├── NotRepoContent          a path that must not be read as the repository's (repo/files; items, design)
        └── ValueError
            ├── FrontMatterError    unreadable front matter (items/front_matter; discovery: an InputError)
            ├── TomlSyntaxError     not valid TOML (core/toml_source; core/settings: a ConfigError)
            └── UnreadableReview    a reply that is no review (design/verdict; design/workflows asks again)

Some of the second kind are local plumbing (LockTimeout, FrontMatterError, TomlSyntaxError, WarmParentGone): they
live here all the same, so that the one place to look for what a layer may raise is this file.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import ClassVar

from agentos_jobs.core.metering import Limits, Usage
from agentos_jobs.core.status import EXIT_FAILED, EXIT_REFUSED, EXIT_TEMPFAIL, Status


class AgentosError(Exception):
    """A problem the message names with its fix. `exit_code` is what a command that ends on it exits with."""

    exit_code: ClassVar[int] = EXIT_FAILED
    item_status: ClassVar[Status] = Status.FAILED  # how an item that ends on it ends
    label: ClassVar[str] = "error: "  # a refusal (another run holds the worktree) is not an error of the user's


def say_error(exc: AgentosError) -> int:
    """The one place a user-facing error is shown: `agentos-jobs: error: ...` on stderr; returns its exit code."""
    sys.stderr.write(f"agentos-jobs: {exc.label}{exc}\n")
    return exc.exit_code


# Refusals: nothing started (exit 3).


class ConfigError(AgentosError):
    """A setting that cannot be used; the message names the setting (its file and line) and the fix. The run
    does not start: exit 3, under doit as under `agentos-jobs`."""

    exit_code = EXIT_REFUSED


class CredentialsError(AgentosError):
    """The credentials cannot be used; the message names the file or variable and the fix, never a key."""

    exit_code = EXIT_REFUSED


class RunLocked(AgentosError):
    """The run lock cannot be taken: another run holds this worktree, or its base dir cannot be written."""

    exit_code = EXIT_REFUSED
    label = ""


# Temporary failures: nothing is wrong with what the user wrote; run again later (exit 75, EX_TEMPFAIL).


class StoreUnavailable(AgentosError):
    """The lease store cannot be reached: said in one line, before any item starts when it can be. A Redis that is
    down is a temporary failure, not a bad setting: exit 75, as for a key that cannot be had."""

    exit_code = EXIT_TEMPFAIL


class StoreRefused(StoreUnavailable):
    """The lease store answers but refuses (a wrong password, a read-only replica, a server that cannot save):
    waiting would not change its mind, so it is to fix, exit 3. Still a StoreUnavailable to the layers that carry
    on without the store (a lease released late, a heartbeat)."""

    exit_code = EXIT_REFUSED


class NoKeyAvailable(AgentosError):
    """No key could be had within the retry budget (exit 75)."""

    exit_code = EXIT_TEMPFAIL
    item_status = Status.NO_KEY


# What ends one item (exit 1 when a command ends on one).


class InputError(AgentosError):
    """An input file that cannot be used; the message names the file and the fix."""


class InvalidItemId(AgentosError, ValueError):
    """Raised for an id that could escape its directory or confuse a command line."""


class ExistingWork(AgentosError):
    """Files this tool did not write are where the item would write: it stops before anything is paid for."""

    item_status = Status.EXISTS


class OverBudget(AgentosError):
    """The call was not made: its worst case would take the run past max_cost_usd."""

    item_status = Status.OVER_BUDGET


class BatchWaiting(AgentosError):
    """The call is a batch the provider has not answered yet: the item ends `waiting`, and nothing is wrong."""

    item_status = Status.WAITING


class CheckpointBusy(AgentosError):
    """The checkpoint cannot be used now: another process has it open for writing, or its disk is full or
    read-only. Never mistake that for corruption: the file is kept as it is."""


class GhError(AgentosError):
    """gh is missing, not logged in, or said something else; the message says which and what to do."""


class ReportError(AgentosError):
    pass


# Signals between our own layers.


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the workflow: stop now; finished steps are already committed."""


class ErrorKind(Enum):
    RATE_LIMIT = "rate-limit"  # 429: cool this key (and its scope), retry with another
    QUOTA = "quota"  # a hard or daily quota, a spend limit: disable the key for the run
    OVERLOADED = "overloaded"  # 529/503 and other 5xx: back off the call; another key would not help
    TRANSIENT = "transient"  # the connection failed or timed out: back off and retry
    FATAL = "fatal"  # any other 4xx: fail the item now, keep its checkpoint


class ProviderError(Exception):
    """A classified failure: the status and the server's message, whole. It may echo the key, so it is
    scrubbed (then cut to one line) before it is shown anywhere: see `PooledProvider.complete`."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None,
                 retry_after: float | None = None, limits: Limits | None = None, billed: Usage | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.limits = limits or {}  # what the answer's headers said of the key's budget
        self.billed = billed


class RetriesExhausted(Exception):
    """Every attempt of a call failed (exit 1); the message names max_retries and the last error."""


class StepFailed(Exception):
    """A step raised; the message names the step. The checkpoint keeps every step before it. `status` is the
    item's outcome: the `item_status` of the user-facing error that stopped it (no-key, over-budget), else
    failed."""

    def __init__(self, message: str, status: Status = Status.FAILED) -> None:
        super().__init__(message)
        self.status = status


class LockTimeout(Exception):
    """The lock was still held by another process when the timeout ran out."""


class WarmParentGone(Exception):
    """The warm parent died (it was killed, or ran out of memory) before it said how a wrapper ended."""


class NotRepoContent(Exception):
    """A path that must not be read as the repository's content; the message says why, after its name."""


class FrontMatterError(ValueError):
    """Front matter that cannot be read; the message gives the line number and what is wrong."""


class TomlSyntaxError(ValueError):
    """Not valid TOML: `line` is where the parser stopped (1-based), `why` what it found there."""

    def __init__(self, why: str, line: int) -> None:
        super().__init__(why)
        self.why, self.line = why, line


class UnreadableReview(ValueError):
    """A reply that is not a review the workflow may act on; its message says what was wrong, as one line."""
