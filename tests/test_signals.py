"""Ctrl+C, SIGINT or SIGTERM to doit alone, timeouts and a second run: nothing is lost or left running."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from pathlib import Path

from conftest import Workspace


def _steps(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM steps WHERE status = 'done'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _db(ws: Workspace, number: int) -> Path:
    return ws.base / f"checkpoints/lld_workflow_{number}.db"


def _checkpointed(ws: Workspace, numbers: range) -> bool:
    return all(_steps(_db(ws, n)) >= 1 for n in numbers)


def _no_processes(ws: Workspace) -> None:
    ws.wait_for(lambda: not ws.processes(), timeout=15, what="every process of the run to end")


def test_080_ctrl_c_checkpoints_every_running_item_and_resumes(each_door: Workspace) -> None:
    workspace = each_door
    for number in (1, 2, 3):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "3", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1.5"})
    workspace.wait_for(lambda: _checkpointed(workspace, range(1, 4)), what="a finished draft in every item")
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C: the whole foreground process group
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - started < 5 + 4  # the spec's 5 s shutdown budget, plus slack for a loaded machine
    assert workspace.statuses() == {"LLD-1": "interrupted", "LLD-2": "interrupted", "LLD-3": "interrupted"}
    assert workspace.checkpoints() == ["lld_workflow_1.db", "lld_workflow_2.db", "lld_workflow_3.db"]
    assert not any(workspace.marker("lld", str(n)).exists() for n in (1, 2, 3))
    assert "Traceback" not in err
    _no_processes(workspace)

    again = workspace.doit("-n", "3", "lld")
    assert again.returncode == 0, again.stdout
    for number in (1, 2, 3):
        assert f"[LLD-{number}] draft-1: resumed from checkpoint" in again.stdout
    assert workspace.checkpoints() == []


def _interrupt_doit_alone(workspace: Workspace, signum: signal.Signals) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "0.6"})
    markers = [workspace.marker("lld", str(n)) for n in (1, 2, 3, 4)]
    workspace.wait_for(lambda: sum(m.exists() for m in markers) >= 2, what="two finished items")
    workspace.wait_for(lambda: len(list((workspace.base / "checkpoints").glob("*.db"))) >= 1,
                       what="a running item")
    proc.send_signal(signum)  # the doit pid alone, as `kill` or a CI runner would
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    _no_processes(workspace)
    finished = {m.stem for m in markers if m.exists()}
    time.sleep(1.5)  # an orphan would write its marker about now
    assert {m.stem for m in markers if m.exists()} == finished
    statuses = workspace.statuses()
    assert sorted(statuses.values()).count("done") == len(finished) >= 2
    # not-started: the signal can land before doit hands out the last item, and then that is the truth
    assert all(status in ("done", "interrupted", "not-started") for status in statuses.values()), statuses

    again = workspace.doit("-n", "2", "lld")
    assert again.returncode == 0, again.stdout
    rerun = {prefix for prefix, status in workspace.statuses().items() if status == "done"}
    assert rerun == {f"LLD-{n}" for n in (1, 2, 3, 4)} - {f"LLD-{n}" for n in finished}


def test_sigint_to_the_doit_pid_alone_leaves_no_process_and_loses_nothing(workspace: Workspace) -> None:
    _interrupt_doit_alone(workspace, signal.SIGINT)


def test_sigterm_to_doit_leaves_no_process_and_loses_nothing(workspace: Workspace) -> None:
    _interrupt_doit_alone(workspace, signal.SIGTERM)


def test_170_worker_timeout_kills_a_hung_item(workspace: Workspace) -> None:
    workspace.add_issue(1)
    started = time.monotonic()
    result = workspace.doit("lld", extra_env={"AGENTOS_WORKER_TIMEOUT": "1", "AGENTOS_OFFLINE_LATENCY": "60"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 20
    assert workspace.statuses() == {"LLD-1": "timeout"}
    assert "killed after worker_timeout_seconds=1" in result.stdout
    assert "[LLD-1] timed out after 1s" in result.stdout
    assert not workspace.processes()


def test_second_concurrent_run_is_refused_while_list_works(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    first = workspace.start_doit("lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: (workspace.base / "run.lock.json").exists(), what="the first run to start")
    second = workspace.doit("lld")
    assert second.returncode == 3
    assert "another agentos-jobs run is using" in second.stderr and "pid" in second.stderr
    assert second.stderr.count("\n") == 1
    listing = workspace.doit("list", "--all", "-s")
    assert listing.returncode == 0 and "lld:1" in listing.stdout
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert len(workspace.runs()) == 1  # the refused run wrote no summary


def test_kill_9_of_doit_leaves_no_process_and_the_next_run_starts(workspace: Workspace) -> None:
    """doit's workers are forks holding the run lock's file: they must die with doit, or no run starts again."""
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: _checkpointed(workspace, range(1, 2)), what="a finished draft")
    proc.kill()
    proc.wait(30)
    _no_processes(workspace)
    again = workspace.doit("-n", "2", "lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[LLD-1] draft-1: resumed from checkpoint" in again.stdout
    assert set(workspace.statuses().values()) <= {"done", "up-to-date"}


def test_kill_9_of_a_wrapper_stops_its_workflow(each_door: Workspace) -> None:
    workspace = each_door
    workspace.add_issue(1)
    workspace.add_issue(2)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "3"})
    workspace.wait_for(_db(workspace, 1).exists, what="the workflow of LLD-1 in its first call")
    wrapper = workspace.pid_of("agentos_jobs.procs.wrapper lld 1")
    assert wrapper is not None
    os.kill(wrapper, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert workspace.statuses() == {"LLD-1": "failed", "LLD-2": "done"}
    _no_processes(workspace)
    # An orphaned workflow would have finished (and paid for) the call it was in, with nobody recording it;
    # stopped with its wrapper, it never finished its first step.
    assert workspace.checkpoints() == ["lld_workflow_1.db"] and _steps(_db(workspace, 1)) == 0


def test_a_double_ctrl_c_still_writes_a_summary_naming_every_item(workspace: Workspace) -> None:
    for number in range(1, 6):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1"})
    workspace.wait_for(lambda: _checkpointed(workspace, range(1, 3)), what="two running items")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # the impatient second Ctrl+C
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    statuses = workspace.statuses()
    assert sorted(statuses) == [f"LLD-{n}" for n in range(1, 6)]
    assert "interrupted" in (statuses["LLD-1"], statuses["LLD-2"]) and statuses["LLD-5"] == "not-started"
    row = next(r for r in workspace.summary()["items"] if r["prefix"] == "LLD-5")
    assert row["message"] == "the run was stopped (SIGINT) before it started"
    _no_processes(workspace)


def test_sigterm_to_doit_stops_workflows_that_run_without_worker_processes(workspace: Workspace) -> None:
    """With -n 0 the wrapper is doit's own child: only the run's stop flag tells it the run is over."""
    workspace.add_issue(1)
    proc = workspace.start_doit("-n", "0", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "3"})
    workspace.wait_for(lambda: workspace.pid_of("agentos_jobs.procs.workflow lld 1"), what="the workflow of LLD-1")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    row = workspace.summary()["items"][0]
    assert row["status"] == "interrupted"
    assert re.match(r"stopped \(SIGTERM to the run\); \d+ finished step\(s\) checkpointed", row["message"])
    _no_processes(workspace)


def test_a_signal_to_one_workflow_fails_that_item_not_the_run(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    proc = workspace.start_doit("-n", "2", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1.5"})
    workspace.wait_for(_db(workspace, 1).exists, what="the workflow of LLD-1 at work")
    os.kill(workspace.pid_of("agentos_jobs.procs.workflow lld 1") or 0, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err  # nobody interrupted the run
    assert workspace.statuses() == {"LLD-1": "interrupted", "LLD-2": "done"}
    row = next(r for r in workspace.summary()["items"] if r["prefix"] == "LLD-1")  # rows come in start order
    assert row["message"].startswith("stopped (a signal from outside this run reached the workflow)")


def test_a_closed_terminal_still_gets_a_summary_and_leaves_nothing_running(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "3", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1.5"})
    workspace.wait_for(lambda: _checkpointed(workspace, range(1, 4)), what="a finished draft in every item")
    os.killpg(proc.pid, signal.SIGHUP)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert workspace.summary()["interrupted_by"] == "SIGHUP"
    stopped = [prefix for prefix, status in workspace.statuses().items() if status == "interrupted"]
    assert stopped and set(workspace.statuses().values()) <= {"interrupted", "done"}  # done: it beat the signal
    assert workspace.checkpoints() == sorted(f"lld_workflow_{p.removeprefix('LLD-')}.db" for p in stopped)
    _no_processes(workspace)
