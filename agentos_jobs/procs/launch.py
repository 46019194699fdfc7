"""The door to an item's process: start the item's wrapper, say its pid, hand back its exit code.

Two ways through it, one interface (`Door.run`). The warm parent (warm_parent.py) forks each wrapper from an
interpreter that has imported everything and built the SDK clients: an item costs a fork. A fresh interpreter
(`python -m agentos_jobs.procs.wrapper`) costs a start, its imports and its clients, and needs nothing of the
platform. Which one a run uses is chosen once, here, as the doit process reads dodo.py (`open_for_run`), by the
platform and the `process_start` setting; each doit worker then goes through `door()`. A warm parent that dies
sends the items after it through the fresh door: slower, nothing lost.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agentos_jobs.core.errors import ConfigError, WarmParentGone
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.os_process import pid_alive, spawn_blocked
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.status import item_exit
from agentos_jobs.procs import warm_parent
from agentos_jobs.procs.warm_parent import WarmParent


@dataclass(frozen=True)
class ItemProcess:
    """What starting an item's wrapper takes: its arguments (workflow, id, hand-off), where it writes the item's
    result, and who is told its pid as soon as it is known (the worker's note, for the run's watch)."""

    argv: list[str]
    result: Path
    started: Callable[[int], None]


class Door(Protocol):
    def run(self, item: ItemProcess) -> int:
        """The wrapper's exit code (-N for a death by signal N): only success or failure, for doit."""


class FreshInterpreter:
    """A new Python per wrapper: every platform, with stop signals held back until its handlers are in."""

    def run(self, item: ItemProcess) -> int:
        wrapper = spawn_blocked([sys.executable, "-m", "agentos_jobs.procs.wrapper", *item.argv])
        item.started(wrapper.pid)
        return wrapper.wait()


class WarmFork:
    """A fork of the run's warm parent (Linux). An item whose request no wrapper took goes through the fresh
    door; one whose wrapper outlives the warm parent is waited for by its pid and read from its result."""

    def __init__(self, parent: WarmParent) -> None:
        self.parent = parent

    def run(self, item: ItemProcess) -> int:
        prefix = prefix_for(item.argv[0], item.argv[1])
        try:
            forked = self.parent.fork_wrapper(item.argv)
            pid = forked.started(lambda text: print(f"[{prefix}] {text}", file=sys.stderr, flush=True))
        except WarmParentGone:  # no wrapper has begun the item
            return FreshInterpreter().run(item)
        item.started(pid)
        try:
            return forked.wait()
        except WarmParentGone:  # the wrapper goes on without it (it watches this worker): wait for it
            while pid_alive(pid):
                time.sleep(0.1)
            written = ItemResult.read(item.result)
            return 0 if written and item_exit(written.status) == 0 else 1


def open_for_run(mode: str) -> None:
    """The one choice, made in the doit process before it forks its workers (they inherit the warm parent's
    handle). "fresh" starts no warm parent; "auto" starts one where the platform has what it needs; "warm"
    insists, and is refused in one line where it cannot be had.

    The warm parent is Linux-only: pidfds (Linux 5.3), SCM_RIGHTS over an AF_UNIX SOCK_SEQPACKET pair, fork, and
    doit workers that are forks of the doit process (Linux's multiprocessing default up to Python 3.13). macOS has
    no os.pidfd_open and spawns doit's workers, so they would not inherit the handle anyway; Windows has no fork
    and no fd passing. There every item starts as a fresh interpreter."""
    if mode == "fresh":
        return
    if not warm_parent.available():
        if mode == "warm":
            raise ConfigError(f"process_start = 'warm' needs the warm parent, which this platform ({sys.platform}) "
                              "cannot run: it is Linux-only (5.3 or later); set process_start to 'auto' or 'fresh'")
        return
    warm_parent.start()


def door() -> Door:
    """The way this worker starts its items: the warm parent's fork when the run has one, else a fresh one."""
    parent = warm_parent.current()
    return FreshInterpreter() if parent is None else WarmFork(parent)
