"""The run's warm parent: one interpreter that has imported what an item needs and built the SDK client of every
key, and that forks each item's wrapper from that state. An item then costs a fork, not a fresh interpreter,
a round of imports and an SSL context per key; and a run pays for that start once, not once per doit worker.

The doit process starts it first thing when it reads dodo.py for a run (it warms up while doit loads the tasks
and starts the run; it is killed if no item turns out to be pending), before doit forks its workers, which
inherit the doit end of its socket.
A worker sends a wrapper's arguments and its own environment (the run's, with its trace context: as what differs
from the environment the warm parent was started with, so that a large one still fits a message) with the write
end of a pipe of its own; the warm parent forks the wrapper, whose first act is to say `pid <n>` on that pipe,
and says `exit <code>` there when the wrapper has ended: so a worker that has read a pid knows its item is that
wrapper's, and one that has not knows that no wrapper has begun it, even if the warm parent dies meanwhile.
It ends when the doit end of the socket closes (the run is over) once its
wrappers have ended, or with the doit process if that one is killed outright.

It stays a single thread and never runs an item of the run itself, so every wrapper is a fork of the same clean
(and frozen: gc.freeze) state. Its stop signals stay blocked all its life, and a wrapper starts with them blocked
until its handlers are in place: one sent after the fork stays pending in the wrapper until then; one sent
before reaches only the warm parent, where it is never delivered, and the wrapper learns of the stop from the
run's stop flag, which doit writes first. A wrapper is not watched by the warm parent but watches its doit
worker (wrapper.py), as it did when it was the worker's child; a request whose worker has gone meanwhile (a
stop during the warm-up) forks nothing. Should the warm parent die, a worker starts its next wrapper afresh
(launch.py, the door both ways go through).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import multiprocessing
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, NoReturn

from agentos_jobs.core.errors import WarmParentGone
from agentos_jobs.core.os_process import (
    arg_area,
    children_of,
    die_with_parent,
    end_forked_child,
    exit_now,
    is_stopped,
    set_title,
    signal_process,
    spawn_blocked,
)

# The title a wrapper shows (ps, pgrep) is written over this process's own arguments, which cannot grow: room
# for the longest item id is made by an argument of spaces (see os_process.set_title).
TITLE_ROOM = " " * 160
MAX_REQUEST = 1 << 20  # a wrapper's arguments: the hand-off names the item's files
# A worker waits for its wrapper's pid in slices: after SAY_SECONDS of them it says what it waits on; a warm
# parent seen stopped (SIGSTOP) for STOPPED_SECONDS of them, or silent for SILENT_SECONDS of them (its warm-up
# runs `git ls-files`: seconds, never minutes), is ended, and the items start afresh. Slices the
# worker spends stopped itself (Ctrl+Z stops the whole run) are not counted: never a wall-clock limit.
WAIT_SLICE_SECONDS = 0.5
SAY_SECONDS = 5.0
STOPPED_SECONDS = 10.0
SILENT_SECONDS = 300.0


class WarmParent:
    """The doit side: a handle every worker inherits."""

    def __init__(self) -> None:
        self._started_with = dict(os.environ)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = spawn_blocked([sys.executable, "-m", "agentos_jobs.procs.warm_parent", str(os.getpid()),
                                       str(theirs.fileno()), TITLE_ROOM],
                                      pass_fds=(theirs.fileno(),))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours

    def fork_wrapper(self, argv: list[str]) -> Forked:
        """Ask for a wrapper with `argv` and this process's environment; raises WarmParentGone when nobody is
        there to take the request (then nothing was forked)."""
        read, write = os.pipe()
        try:
            request = json.dumps({"argv": argv, "env": env_change(self._started_with, dict(os.environ))}).encode()
            socket.send_fds(self._socket, [request], [write])
        except OSError:
            os.close(read)
            raise WarmParentGone from None
        finally:
            os.close(write)
        return Forked(os.fdopen(read, "r", encoding="utf-8"), self.proc.pid)

    def close(self, timeout: float) -> None:
        """The run is over: the warm parent ends once its wrappers have."""
        self._socket.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)


class Forked:
    """A wrapper the warm parent forked: its pid, and its exit code once it has ended."""

    def __init__(self, replies: IO[str], parent: int) -> None:
        self._replies = replies
        self._parent = parent

    def started(self, say: Callable[[str], None]) -> int:
        """The wrapper's pid, which the wrapper says first. WarmParentGone: no wrapper has begun the item (the
        warm parent died before it forked one, or the one it forked died before its first act), so the item
        may be started afresh. A warm parent that stays stopped or silent is ended first (see SAY_SECONDS):
        its death is that same case, and a wrapper it forked just before still says its pid."""
        try:
            self._wait_for_answer(say)
            return self._reply("pid")
        except WarmParentGone:
            self._replies.close()
            raise

    def _wait_for_answer(self, say: Callable[[str], None]) -> None:
        waited = stopped = 0.0
        while not select.select([self._replies], [], [], WAIT_SLICE_SECONDS)[0]:
            waited += WAIT_SLICE_SECONDS
            stopped = stopped + WAIT_SLICE_SECONDS if is_stopped(self._parent) else 0.0
            how = "stopped (SIGSTOP)" if stopped else "not answering"
            if waited == SAY_SECONDS:
                say(f"waiting for the run's warm parent (pid {self._parent}, {how}) to start this item's wrapper; "
                    f"it is ended after {STOPPED_SECONDS:g} s stopped or {SILENT_SECONDS:g} s silent")
            if stopped >= STOPPED_SECONDS or waited >= SILENT_SECONDS:
                say(f"the run's warm parent (pid {self._parent}) is {how} after {waited:g} s: ended it; this item "
                    "and the next ones start afresh")
                signal_process(self._parent, signal.SIGKILL)
                return

    def _reply(self, word: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            line = self._replies.readline().split()
            if len(line) == 2 and line[0] == word:
                return int(line[1])
        raise WarmParentGone

    def wait(self) -> int:
        """The wrapper's exit code (-N for a death by signal N)."""
        try:
            return self._reply("exit")
        finally:
            self._replies.close()


_run_warm_parent: WarmParent | None = None  # in the doit process, and so in each worker it forks


def available() -> bool:
    """Can this machine run a warm parent? Linux with pidfds (5.3 or later): a kernel without them would only
    fail, in a line on every run. macOS and Windows have no os.pidfd_open at all (an AttributeError, not an
    OSError, hence the platform check first); there every item starts as a fresh interpreter (launch.py)."""
    if sys.platform != "linux" or not hasattr(os, "pidfd_open"):
        return False
    # Its forks are handed to doit's workers, which must be forks of doit themselves (the at-fork hooks); Python
    # 3.14 makes forkserver Linux's default start method, and there each item starts as a fresh interpreter.
    if (multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]) != "fork":
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


def start() -> None:
    """Called by the doit process as it reads dodo.py for a run, before it knows whether any item will run (it
    is discarded then); once, where `available()` (launch.open_for_run decides). A warm parent that cannot be
    started (no process or file left) is done without: each wrapper then starts afresh. A doit process that ends
    before its run does (a refused setting) takes it along at once, not when the warm parent notices."""
    global _run_warm_parent
    if _run_warm_parent is None:
        with contextlib.suppress(OSError):
            _run_warm_parent = WarmParent()
            atexit.register(discard)


def current() -> WarmParent | None:
    return _run_warm_parent


def stop(timeout: float) -> None:
    """The run is over: the warm parent ends once its wrappers have (waited for up to `timeout`)."""
    global _run_warm_parent
    if _run_warm_parent is not None:
        _run_warm_parent.close(timeout)
        _run_warm_parent = None


def discard() -> None:
    """No item of the run will start: the warm parent goes without finishing its warm-up, and so does what it
    runs meanwhile (`git ls-files` on a large repository), which would outlive it. Stopped first, it starts
    nothing more while its children are found."""
    if _run_warm_parent is not None:
        pid = _run_warm_parent.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
            for child in children_of(pid):
                signal_process(child, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        stop(5.0)


def warm() -> None:
    """Import what a wrapper and its workflow import, read what each of them would read alike (the templates,
    the file tree, the trace's resource), and build the SDK clients of the keys they would lease. Only a head
    start: whatever fails here fails again, and is reported, in the item that meets it."""
    from agentos_jobs.core.settings import load_settings
    from agentos_jobs.design.context import prepare_view
    from agentos_jobs.design.template import load_rubric, load_template
    from agentos_jobs.design.workflows.registry import get_workflow
    from agentos_jobs.procs import workflow, wrapper  # noqa: F401  (what every fork runs: imported once, here)
    from agentos_jobs.providers.registry import warm_clients
    from agentos_jobs.repo.files import keep_listing
    from agentos_jobs.tracing.spans import detected_resource

    with contextlib.suppress(Exception):
        arg_area()  # where each fork writes its title
        detected_resource()
        settings = load_settings()  # as the items will (project.py's would import doit here for its error)
        for name in ("lld", "issue"):
            get_workflow(name)
            load_template(settings, name)
            load_rubric(settings, name)
        keep_listing(settings.root)
        prepare_view(settings)
        warm_clients(settings)


def settle() -> None:
    """Once warm, before the first fork: make this process's state the one every wrapper shares. (An offline item
    rehearsed here, so that no fork would run code for the first time, saved no measurable wall time: issue 21.)"""
    for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written once per wrapper
        stream.flush()
    gc.collect()
    gc.freeze()  # what the wrappers share stays shared: no collection of theirs writes to these pages


def serve(doit_pid: int, requests: socket.socket) -> NoReturn:
    """Fork a wrapper per request until the doit end closes, then wait for the wrappers still running."""
    die_with_parent(signal.SIGKILL, doit_pid)  # its stop signals are blocked: only a SIGKILL would end it
    os.close(os.pidfd_open(os.getpid()))  # before any wrapper: a kernel without pidfds fails it here (main)
    started_with = dict(os.environ)  # what the doit process started it with: requests say what differs
    warm()
    settle()
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ)
    running: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, the worker's reply pipe)
    while selector.get_map():
        for key, _ in selector.select():
            if key.fileobj is requests:
                message, fds, _, _ = socket.recv_fds(requests, MAX_REQUEST, 1)
                if not message and not fds:  # every doit end is closed: the run is over
                    selector.unregister(requests)
                    continue
                if fds and not _reader_gone(fds[0]):
                    request = json.loads(message)
                    pid = _fork(request["argv"], changed_env(started_with, request["env"]), fds[0])
                    running[pidfd := os.pidfd_open(pid)] = (pid, fds[0])
                    selector.register(pidfd, selectors.EVENT_READ)
                else:  # its worker died while the request waited (a stop during the warm-up): nobody to run for
                    for fd in fds:
                        os.close(fd)
            else:
                pidfd = int(key.fd)
                selector.unregister(pidfd)
                os.close(pidfd)
                pid, reply = running.pop(pidfd)
                _answer(reply, f"exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}\n")
                os.close(reply)
    exit_now(0)


def _reader_gone(reply: int) -> bool:
    """The pipe's reading end, the worker's, is closed: the worker is gone."""
    poll = select.poll()
    poll.register(reply, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poll.poll(0))


def _answer(reply: int, text: str) -> None:
    with contextlib.suppress(OSError):  # its worker is gone: nobody is left to tell
        os.write(reply, text.encode())


def env_change(before: dict[str, str], after: dict[str, str]) -> dict[str, str | None]:
    """What turns `before` into `after`: the variables set or changed, and those unset (None). A message has a
    limit (the socket's buffer, some 200 KiB): a CI job's environment can be larger, its change is not."""
    change: dict[str, str | None] = {name: value for name, value in after.items() if before.get(name) != value}
    change.update((name, None) for name in before if name not in after)
    return change


def changed_env(before: dict[str, str], change: dict[str, str | None]) -> dict[str, str]:
    merged = {**before, **change}
    return {name: value for name, value in merged.items() if value is not None}


def _fork(argv: list[str], env: dict[str, str], reply: int) -> int:
    if threading.active_count() != 1:  # a fork would copy another thread's state half-way through
        raise RuntimeError("internal error: a thread is running in the warm parent")
    pid = os.fork()
    if pid == 0:
        _wrapper(argv, env, reply)
    return pid


def _wrapper(argv: list[str], env: dict[str, str], reply: int) -> NoReturn:
    """The forked wrapper: its pid said to its worker first, then only the standard streams kept open (the
    worker must see the end of its pipe when the warm parent goes), its worker's environment, its title, then
    the wrapper's own main. It never returns into the loop."""
    def body() -> int:
        try:
            os.write(reply, f"pid {os.getpid()}\n".encode())
        except OSError:  # its worker is gone (the pipe's reader with it): nobody to run the item for
            return 1
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.environ.clear()
        os.environ.update(env)
        set_title([sys.executable, "-m", "agentos_jobs.procs.wrapper", argv[0], argv[1]])
        from agentos_jobs.procs.wrapper import main

        return main(argv)

    end_forked_child(body, 1, lambda exc: f"agentos-jobs: internal error {type(exc).__name__}: {exc} (please "
                     "report this)")


def main(argv: list[str]) -> NoReturn:
    try:
        serve(int(argv[0]), socket.socket(fileno=int(argv[1])))
    except Exception as exc:  # the workers start their wrappers afresh: slower, nothing lost
        print(f"agentos-jobs: the run's warm parent stopped ({type(exc).__name__}: {exc}); the next items start "
              "afresh", file=sys.stderr)
        exit_now(1)


if __name__ == "__main__":
    main(sys.argv[1:])
