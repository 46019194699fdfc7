"""Item outcomes and the exit codes of our commands: the one table of which outcome exits with which code."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    NEEDS_REVISION = "needs-revision"
    NEEDS_HUMAN = "needs-human"  # the reviewer asked for a person's decision (a DISCUSS verdict)
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    NO_KEY = "no-key"
    OVER_BUDGET = "over-budget"  # its next call would have taken the run past max_cost_usd; checkpoint kept
    EXISTS = "exists"  # a file it did not write is at its output paths (owned.py): nothing ran, nothing paid
    NOT_STARTED = "not-started"  # the run was stopped (or halted by fail_fast) before doit started it
    UP_TO_DATE = "up-to-date"
    IGNORED = "ignored"  # `doit ignore lld:12`: the user's choice, not a shortfall
    WAITING = "waiting"  # its call is a provider's batch under way (batch = true): the next run takes the answer


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # a command line that cannot be read (as argparse exits)
EXIT_REFUSED = 3  # nothing started: a bad setting or credentials file, or another run holds the worktree
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL, try again later: no key within the retry budget, or the lease store out of reach
EXIT_INTERRUPTED = 130

# The exit code of an item's outcome (`agentos-jobs run`); every other outcome exits EXIT_FAILED.
ITEM_EXITS = {
    Status.DONE: EXIT_OK,
    Status.WAITING: EXIT_OK,  # nothing is wrong: the provider has the work
    Status.NO_KEY: EXIT_TEMPFAIL,
    Status.INTERRUPTED: EXIT_INTERRUPTED,
}


def item_exit(status: Status) -> int:
    return ITEM_EXITS.get(status, EXIT_FAILED)


def run_exit(statuses: list[Status]) -> int:
    """0 when every selected item is done or waits for its batch; 75 if every shortfall was a keyless wait. (An
    interrupted run exits 130 whatever its items say; one item stopped from outside the run is a failure of it.)"""
    unfinished = [s for s in statuses if s not in (Status.DONE, Status.UP_TO_DATE, Status.IGNORED, Status.WAITING)]
    if not unfinished:
        return EXIT_OK
    if all(s is Status.NO_KEY for s in unfinished):
        return EXIT_TEMPFAIL
    return EXIT_FAILED
