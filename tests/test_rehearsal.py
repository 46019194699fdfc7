"""The warm parent's rehearsal (rehearsal.py): one offline item of each workflow in a scratch repository, run
in the process that forks every wrapper. It must leave nothing behind that a fork would inherit."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from opentelemetry import context

from agentos_jobs.procs import rehearsal
from agentos_jobs.tracing import spans as tracing


def test_a_rehearsal_runs_both_workflows_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    scratch_parent = tmp_path / "shm"
    scratch_parent.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setattr(rehearsal, "SHARED_MEMORY", scratch_parent)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("AGENTOS_PROVIDER", "openai")  # the user's settings play no part in it ...
    monkeypatch.setenv("AGENTOS_MAX_ITERATIONS", "0")  # ... not even one that would make it fail
    monkeypatch.setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    attached = dict(context.get_current())
    dead = _dead_pid()
    stale = scratch_parent / f"{rehearsal.PREFIX}{dead}-x1"  # a rehearsal killed half-way (doit killed outright)
    live = scratch_parent / f"{rehearsal.PREFIX}{os.getpid()}-x2"  # another run's, under way
    for folder in (stale, live):
        (folder / "docs").mkdir(parents=True)
        os.utime(folder, (time.time() - 3600, time.time() - 3600))  # both from an hour ago
    environ, threads = dict(os.environ), threading.active_count()
    ran: list[Path] = []
    real = rehearsal._one_item

    def one_item(scratch: Path, workflow: str) -> None:
        real(scratch, workflow)  # raises if the item cannot run: the rehearsal itself would say nothing
        ran.append(next(scratch.glob(".agentos/done/*/*.json")))
        for marker in scratch.glob(".agentos/done/*/*.json"):
            marker.unlink()

    monkeypatch.setattr(rehearsal, "_one_item", one_item)
    rehearsal.rehearse(["lld", "issue"])
    assert [path.parent.name for path in ran] == ["lld", "issue"]  # each item ran to its marker
    assert list(scratch_parent.iterdir()) == [live]  # its scratch repository is gone, and the stale one
    assert Path.cwd() == repo and dict(os.environ) == environ and threading.active_count() == threads
    assert tracing._provider is None  # no later span goes to the removed folder ...
    assert dict(context.get_current()) == attached  # ... and no trace context of its items stays attached
    assert capfd.readouterr() == ("", "")  # not a line on the console, which is doit's
    assert list(repo.iterdir()) == []


def _dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
