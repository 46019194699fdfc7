"""A run's life from outside: who may run at once, a doit worker that dies, signals at every moment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agentos_jobs.core.os_process import pid_alive
from agentos_jobs.procs import warm_parent

from conftest import BIN, Terminal, Workspace

WRAPPER_1, WORKFLOW_1 = "agentos_jobs.procs.wrapper lld 1", "agentos_jobs.procs.workflow lld 1"  # their process titles


def _run_by_hand(workspace: Workspace, number: int, latency: str = "2") -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "agentos-jobs"), "run", "lld", str(number)], cwd=workspace.root,
                            env={**workspace.env, "AGENTOS_OFFLINE_LATENCY": latency}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_running_an_item_by_hand_holds_the_run_lock_until_it_ends(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    by_hand = _run_by_hand(workspace, 1, latency="60")  # still in its first call when the checks below are done
    workspace.wait_for(lambda: (workspace.base / "checkpoints/lld_workflow_1.db").exists(), what="item 1 to start")

    refused = workspace.doit("-n", "3", "lld")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "another agentos-jobs run is using" in refused.stderr
    second = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "2")
    assert second.returncode == 3, second.stdout + second.stderr
    assert by_hand.poll() is None  # the refusals came while it ran: they were the lock's

    os.killpg(by_hand.pid, signal.SIGINT)
    out, err = by_hand.communicate(timeout=30)
    assert by_hand.returncode == 130, out + err
    after = workspace.doit("-n", "3", "lld")  # the lock went with it
    assert after.returncode == 0, after.stdout + after.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done"}


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _worker_of(workspace: Workspace, task: str) -> int:
    """The doit worker running `task`, as its note names it (worker.py)."""
    notes = (workspace.base / "runs").glob("*/workers/*.json")
    return next(int(note.stem) for note in notes if json.loads(note.read_text()).get("task") == task)


def test_a_killed_doit_worker_fails_its_item_by_name_and_the_run_goes_on(each_door: Workspace) -> None:
    workspace = each_door
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: workspace.pid_of(WRAPPER_1) is not None, what="item 1's wrapper")
    wrapper = workspace.pid_of("agentos_jobs.procs.wrapper lld 1")
    assert wrapper is not None
    worker = _worker_of(workspace, "lld:1")  # it waits for the wrapper (forked by the warm parent, or its child)
    assert worker != proc.pid and _parent(worker) == proc.pid  # a doit worker, not doit itself
    os.kill(worker, signal.SIGKILL)

    out, err = proc.communicate(timeout=60)  # before: doit waited for the dead worker's result for ever
    assert proc.returncode == 1, out + err
    statuses = workspace.statuses()
    assert statuses == {"LLD-1": "failed", "LLD-2": "done", "LLD-3": "done", "LLD-4": "done"}, out + err
    row = next(row for row in workspace.summary()["items"] if row["prefix"] == "LLD-1")
    assert f"its doit worker process (pid {worker}) died (SIGKILL)" in row["message"]
    assert "Traceback" not in out + err
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")

    again = workspace.doit("-n", "2", "lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "up-to-date", "LLD-3": "up-to-date",
                                    "LLD-4": "up-to-date"}


def test_each_wrapper_is_forked_by_the_runs_one_warm_parent(workspace: Workspace) -> None:
    """Even in an environment larger than one request to the warm parent may be (a CI job's can be)."""
    for number in (1, 2, 3):
        workspace.add_issue(number)
    blobs = {f"CI_BLOB_{n}": "x" * 100_000 for n in range(3)}  # 128 KiB at most a variable
    proc = workspace.start_doit("-n", "3", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1", **blobs})
    wrappers = [f"agentos_jobs.procs.wrapper lld {n}" for n in (1, 2, 3)]
    workspace.wait_for(lambda: all(workspace.pid_of(w) for w in wrappers), what="the three wrappers")
    parents = {_parent(workspace.pid_of(w) or 0) for w in wrappers}
    warm = workspace.pids_of("agentos_jobs.procs.warm_parent")
    assert parents == set(warm) and len(warm) == 1  # one for the run, not one per worker or per item
    assert _parent(warm[0]) == proc.pid
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")


def test_process_start_fresh_starts_no_warm_parent_and_each_wrapper_afresh(workspace: Workspace) -> None:
    """The switch that forces the other door (launch.py): each wrapper is a new interpreter, the child of its doit
    worker, and the run has no warm parent at all; a value it does not know is refused in one line."""
    for number in (1, 2, 3):
        workspace.add_issue(number)
    env = {"AGENTOS_OFFLINE_LATENCY": "1", "AGENTOS_PROCESS_START": "fresh"}
    proc = workspace.start_doit("-n", "3", "lld", extra_env=env)
    wrappers = [f"agentos_jobs.procs.wrapper lld {n}" for n in (1, 2, 3)]
    workspace.wait_for(lambda: all(workspace.pid_of(w) for w in wrappers), what="the three wrappers")
    workers = {_worker_of(workspace, f"lld:{n}") for n in (1, 2, 3)}
    assert {_parent(workspace.pid_of(w) or 0) for w in wrappers} == workers
    assert workspace.pids_of("agentos_jobs.procs.warm_parent") == []
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done"}
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")
    workspace.add_issue(4)
    refused = workspace.doit("lld", extra_env={"AGENTOS_PROCESS_START": "cold"})
    assert refused.returncode != 0 and "process_start must be one of auto, warm, fresh, got 'cold'" in refused.stderr


def test_a_run_that_starts_no_item_leaves_no_warm_parent(workspace: Workspace) -> None:
    """The warm parent is started as doit reads dodo.py, before it is known whether any item is pending: a run
    with nothing to do, or one refused before it starts, takes it along as it ends."""
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 0
    again = workspace.doit("lld")
    assert again.returncode == 0 and workspace.statuses() == {"LLD-1": "up-to-date"}, again.stdout + again.stderr
    assert workspace.processes() == []
    refused = workspace.doit("lld:9")
    assert refused.returncode != 0 and "matches no item" in refused.stderr
    assert workspace.processes() == []


def test_a_discarded_warm_parent_takes_along_the_process_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with nothing pending kills its warm parent, which may be running `git ls-files` on a large
    repository just then: that process must not outlive it."""
    ours, theirs = socket.socketpair()
    parent = object.__new__(warm_parent.WarmParent)  # in the place of one: a process with a child of its own
    parent.proc = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    parent._socket = ours
    assert parent.proc.stdout is not None
    child = int(parent.proc.stdout.readline())
    monkeypatch.setattr(warm_parent, "_run_warm_parent", parent)
    try:
        warm_parent.discard()
        assert parent.proc.returncode is not None and warm_parent.current() is None
        deadline = time.monotonic() + 10
        while pid_alive(child) and time.monotonic() < deadline:  # orphaned, it is reaped by init
            time.sleep(0.05)
        assert not pid_alive(child)
    finally:
        theirs.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        parent.proc.stdout.close()


def test_a_killed_warm_parent_loses_no_item_and_the_run_goes_on(workspace: Workspace) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: workspace.pid_of(WRAPPER_1) is not None, what="item 1's wrapper")
    warm = _parent(workspace.pid_of("agentos_jobs.procs.wrapper lld 1") or 0)
    os.kill(warm, signal.SIGKILL)  # the OOM killer's choice, say

    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err  # the running wrappers finish on their own; the next start afresh
    assert workspace.statuses() == {f"LLD-{n}": "done" for n in (1, 2, 3, 4)}, out + err
    assert "Traceback" not in out + err
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")


def _two_items_and_a_stopped_warm_parent(ws: Workspace) -> tuple[subprocess.Popen[str], list[int]]:
    """A run of two items whose warm parent is stopped (SIGSTOP) in its warm-up, before it forks a wrapper (the
    test is skipped when it was too late)."""
    for number in (1, 2):
        ws.add_issue(number)
    proc = ws.start_doit("-n", "2", "lld")
    deadline = time.monotonic() + 30
    while not (warm := ws.pids_of("agentos_jobs.procs.warm_parent")) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert warm, "no warm parent"
    os.kill(warm[0], signal.SIGSTOP)
    if ws.pids_of("agentos_jobs.procs.wrapper"):
        os.kill(warm[0], signal.SIGCONT)
        proc.communicate(timeout=60)
        pytest.skip("the warm parent forked a wrapper before it could be stopped")
    return proc, warm


def test_a_warm_parent_killed_before_it_forks_leaves_the_items_to_start_afresh(workspace: Workspace) -> None:
    """A wrapper's first act is to say its pid to its worker: a worker that has not read one knows that no
    wrapper began its item, so when the warm parent dies with the requests unanswered, the items start afresh
    (they used to be failed, in case a wrapper had begun them)."""
    proc, warm = _two_items_and_a_stopped_warm_parent(workspace)  # the requests wait in its socket
    time.sleep(0.5)
    os.kill(warm[0], signal.SIGKILL)

    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done"}, out + err
    assert "Traceback" not in out + err
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")


def _lock_taken_after(workspace: Workspace, launched: float) -> bool:
    info = workspace.base / "run.lock.json"
    return info.exists() and info.stat().st_mtime > launched


MOMENTS = {
    "as the run starts": lambda ws, term, launched: _lock_taken_after(ws, launched),
    "as the wrappers start": lambda ws, term, launched: "started:" in term.text(),
    "mid-step": lambda ws, term, launched: len(list((ws.base / "checkpoints").glob("*.db"))) >= 2,
}


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_ctrl_c_in_a_terminal_at_any_moment(workspace: Workspace, moment: str, twice: bool) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    launched = time.time()
    term = Terminal(workspace, "-n", "2", "lld", env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: MOMENTS[moment](workspace, term, launched), timeout=30, what=moment)
    typed = time.monotonic()
    term.type(b"\x03")
    if twice:
        time.sleep(0.2)
        with contextlib.suppress(OSError):
            term.type(b"\x03")
    code = term.wait(timeout=30)
    took = time.monotonic() - typed
    screen = term.text()
    assert code == 130, screen
    assert took < 5, f"exit took {took:.1f}s"  # the README's 5 s promise; 2 s typically
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen, screen
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")
    if workspace.runs():  # a stop before any item started ends in one line, with nothing to summarise
        statuses = workspace.statuses()
        assert set(statuses.values()) <= {"interrupted", "not-started", "done"}, statuses
        for prefix, status in statuses.items():
            assert workspace.marker("lld", prefix.removeprefix("LLD-")).exists() == (status == "done")
    else:
        assert "no item had started" in screen, screen

    again = workspace.doit("-n", "2", "lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(workspace.marker("lld", str(n)).exists() for n in (1, 2, 3, 4))


def test_the_workflow_process_is_forked_from_its_wrapper_into_its_own_group(workspace: Workspace) -> None:
    workspace.add_issue(1)
    proc = workspace.start_doit("lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1.5"})
    workspace.wait_for(lambda: workspace.pid_of("agentos_jobs.procs.workflow lld 1"), what="the workflow of LLD-1")
    workflow, wrapper = workspace.pid_of(WORKFLOW_1), workspace.pid_of(WRAPPER_1)
    assert workflow and wrapper and _parent(workflow) == wrapper
    assert os.getpgid(workflow) == workflow != os.getpgid(wrapper)  # its own group: stopped as one, by the wrapper
    # Forked, not started afresh: it has its wrapper's start-up environment, not one the wrapper made for it.
    assert Path(f"/proc/{workflow}/environ").read_bytes() == Path(f"/proc/{wrapper}/environ").read_bytes()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "[LLD-1] lld workflow for 1.md" in out and "[LLD-1] done in" in out  # its lines, through the prefixer
    spans = {path.name.split("-")[2] for path in (workspace.base / "runs").glob("*/spans/LLD-1-*.jsonl")}
    assert spans == {"wrapper", "workflow"}  # each process its own tracing, the child's started afresh


def test_the_warm_parent_knows_a_request_whose_worker_is_gone() -> None:
    """A stop during the warm-up ends the workers; their queued requests must fork no wrapper after the summary."""
    from agentos_jobs.procs.warm_parent import _reader_gone

    read, write = os.pipe()
    assert not _reader_gone(write)
    os.close(read)
    assert _reader_gone(write)
    os.close(write)


def test_a_stopped_warm_parent_is_waited_for_with_a_word_and_a_limit(workspace: Workspace) -> None:
    """A warm parent stopped (SIGSTOP) in its warm-up and never continued: each worker says what it waits on,
    then ends it, and the items start afresh (they used to wait with no word and no limit)."""
    proc, warm = _two_items_and_a_stopped_warm_parent(workspace)

    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done"}, out + err
    assert f"waiting for the run's warm parent (pid {warm[0]}, stopped (SIGSTOP)) to start this item's wrapper" in err
    assert f"the run's warm parent (pid {warm[0]}) is stopped (SIGSTOP) after 10 s: ended it" in err
    assert "Traceback" not in out + err
    workspace.wait_for(lambda: not workspace.processes(), timeout=15, what="every process of the run to end")
