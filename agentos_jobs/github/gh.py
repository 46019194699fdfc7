"""The GitHub CLI, run as a subprocess: missing, logged out or failing, each said in one line with its fix."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import subprocess
import threading
import time
from typing import IO, Any

from agentos_jobs.core.errors import GhError
from agentos_jobs.core.fsutil import parse_json
from agentos_jobs.core.os_process import adopt_orphans, children_of, end_children
from agentos_jobs.core.settings import Settings

GH_TIMEOUT_SECONDS = 120  # a filing step makes up to 3 calls under the worktree lock, which others wait 600 s for
READ_SLICE_SECONDS = 0.1  # how often the read of gh's output looks whether gh has exited
_AUTH_HINTS = ("gh auth login", "not logged", "authentication", "auth token", "GH_TOKEN")


def run_gh(settings: Settings, *args: str, stdin: str | None = None, repo: bool = False) -> str:
    """gh's standard output; with `repo`, in the `repo` setting's repository (else gh's default one)."""
    gh = shutil.which("gh")
    if gh is None:
        raise GhError("gh (the GitHub CLI) is not on PATH; install it from https://cli.github.com and run: "
                      "gh auth login")
    where = ["--repo", settings.repo] if repo and settings.repo else []
    command = " ".join(args[:2])
    done = _run_until_exit([gh, *args, *where], settings, stdin)
    if done is None:
        raise GhError(f"gh {command} did not answer within {GH_TIMEOUT_SECONDS} s; check the network and try "
                      "again")
    said = " ".join(done.stderr.split())[:300]
    if done.returncode != 0:
        if any(hint.lower() in said.lower() for hint in _AUTH_HINTS):
            raise GhError(f"gh is not logged in to GitHub; run: gh auth login (gh said: {said})")
        raise GhError(f"gh {command} failed with exit code {done.returncode}: {said or 'no message'}")
    return done.stdout


def _run_until_exit(argv: list[str], settings: Settings, stdin: str | None) -> subprocess.CompletedProcess[str] | None:
    """gh's exit code and what it wrote, read until gh exits (not until its pipes close: a child it leaves
    behind may hold them open for ever), within GH_TIMEOUT_SECONDS (None: it did not exit). Whatever it leaves
    running, in its process group or a session of its own, is ended."""
    adopt_orphans()
    before = set(children_of(os.getpid()))
    proc = subprocess.Popen(argv, cwd=settings.root, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if stdin is not None and proc.stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        out, err = _read_until_exit(proc, time.monotonic() + GH_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        end_children(before)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if out is None or err is None:
        return None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _feed(pipe: IO[bytes], text: str) -> None:
    with contextlib.suppress(OSError):  # gh exited without reading it all
        pipe.write(text.encode())
        pipe.close()


def _read_until_exit(proc: subprocess.Popen[bytes], deadline: float) -> tuple[str | None, str | None]:
    """stdout and stderr, or (None, None) at the deadline."""
    # selectors on pipes: Linux (epoll) and macOS (kqueue). Windows select() takes only sockets: read each pipe in a
    # thread and wait for gh's exit with proc.wait(timeout). adopt_orphans/end_children are Linux-only (subreaper,
    # /proc): on macOS start gh in its own process group and killpg it; on Windows put it in a Job object.
    assert proc.stdout is not None and proc.stderr is not None  # made with PIPE
    read: dict[int, list[bytes]] = {proc.stdout.fileno(): [], proc.stderr.fileno(): []}
    with selectors.DefaultSelector() as selector:
        for fd in read:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and proc.poll() is None:
            if time.monotonic() > deadline:
                return None, None
            for key, _ in selector.select(READ_SLICE_SECONDS):
                if chunk := os.read(key.fd, 65536):
                    read[key.fd].append(chunk)
                else:
                    selector.unregister(key.fd)
        try:
            proc.wait(max(deadline - time.monotonic(), 0))  # both pipes closed: the exit is near
        except subprocess.TimeoutExpired:
            return None, None
        for key in list(selector.get_map().values()):  # gh has exited: what it wrote waits in the pipe
            os.set_blocking(key.fd, False)
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(key.fd, 65536):
                    read[key.fd].append(chunk)
    out, err = (b"".join(read[stream.fileno()]).decode("utf-8", "replace") for stream in (proc.stdout, proc.stderr))
    return out, err


def list_issues(settings: Settings, *args: str, repo: bool = False) -> list[Any]:
    """`gh issue list ... --json ...`: the issues it printed, as a list; anything else is said in one line."""
    out = run_gh(settings, "issue", "list", *args, repo=repo)
    try:
        issues = parse_json(out)
    except ValueError:
        raise GhError("gh issue list did not print JSON; is this gh 2.x?") from None
    if not isinstance(issues, list):
        raise GhError("gh issue list printed JSON that is not a list of issues")
    return issues
