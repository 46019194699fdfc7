"""Whether doit's worker processes can run here: they share POSIX semaphores, which live in /dev/shm.

A container or a mount namespace may have no /dev/shm, or a full or read-only one; doit's process workers then
fail before the first item (an error that names no cause a person could find). Every item runs in a process of
its own anyway (the warm parent forks its wrapper), so doit's thread workers do the same work there: the run
says so in one line and uses them. Asked for by name (`-P process`), process workers are refused in one line.
"""

from __future__ import annotations

import multiprocessing
import sys

from agentos_jobs.core.fsutil import describe_os_error
from agentos_jobs.core.status import EXIT_REFUSED

SHM = "/dev/shm"  # noqa: S108 (named in messages, never written to)
MOUNT = "mount -t tmpfs -o mode=1777 tmpfs /dev/shm"


def semaphores_unusable() -> str | None:
    """Why a POSIX semaphore cannot be made here (as doit's process workers make them), or None."""
    # /dev/shm is Linux's home for POSIX semaphores. macOS has no /dev/shm but sem_open works, and Windows uses its
    # own semaphores, so the probe passes on both; only the message's wording is Linux's.
    try:
        multiprocessing.Lock()  # sem_open in /dev/shm, unlinked at once
    except OSError as exc:
        return exc.strerror or describe_os_error(exc) or str(exc)
    return None


def _asks_for_processes(argv: list[str]) -> bool:
    pairs = zip(argv, [*argv[1:], ""], strict=True)
    return any(arg in ("-Pprocess", "--parallel-type=process") or (arg in ("-P", "--parallel-type")
                                                                  and after == "process") for arg, after in pairs)


def parallel_type(argv: list[str]) -> str:
    """doit's par_type for this run: "process" where /dev/shm serves, else "thread", said in one line."""
    why = semaphores_unusable()
    if why is None:
        return "process"
    if _asks_for_processes(argv):
        sys.stderr.write(f"agentos-jobs: {SHM} cannot be used ({why}), and doit's process workers (-P process) need "
                         f"a semaphore there; leave out -P to run them as threads, or mount a writable {SHM} "
                         f"({MOUNT})\n")
        raise SystemExit(EXIT_REFUSED)
    sys.stderr.write(f"agentos-jobs: {SHM} cannot be used ({why}): doit's workers run as threads (each item still "
                     f"runs in a process of its own); for process workers, mount a writable {SHM} ({MOUNT})\n")
    return "thread"
