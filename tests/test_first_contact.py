"""A new user's first ten minutes (issue 22): a mistake costs one line, never a traceback or paid work, and the
summary fits the terminal it is printed to."""

from __future__ import annotations

import os
import signal
import subprocess

from conftest import BIN, Workspace


def _done(workspace: Workspace, *numbers: int) -> None:
    for number in numbers:
        workspace.add_issue(number)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_clean_that_names_no_item_is_refused_and_names_what_it_would_reset(workspace: Workspace) -> None:
    _done(workspace, 1, 2)
    markers = [workspace.marker("lld", "1"), workspace.marker("lld", "2")]
    for args in (("clean",), ("clean", "-a"), ("clean", "--clean-all", "lld:1")):
        refused = workspace.doit(*args)
        assert refused.returncode == 3, (args, refused.stdout + refused.stderr)
        assert refused.stderr.count("\n") == 1 and "would reset 2 item(s), lld:1, lld:2" in refused.stderr
        assert "'doit clean lld:1' for one item, 'doit clean lld' for every lld item" in refused.stderr
        assert all(marker.exists() for marker in markers)
    dry = workspace.doit("clean", "--dry-run")  # shows, removes nothing
    assert dry.returncode == 0 and "LLD-2: would remove" in dry.stdout and all(m.exists() for m in markers)
    group = workspace.doit("clean", "lld")  # named: every item of the group
    assert group.returncode == 0, group.stdout + group.stderr
    assert not any(marker.exists() for marker in markers) and workspace.checkpoints() == []


def test_a_clean_refused_because_a_run_holds_the_worktree_exits_non_zero(workspace: Workspace) -> None:
    _done(workspace, 1)
    workspace.add_issue(2)
    by_hand = subprocess.Popen([str(BIN / "agentos-jobs"), "run", "lld", "2"], cwd=workspace.root,
                               env={**workspace.env, "AGENTOS_OFFLINE_LATENCY": "60"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        workspace.wait_for(lambda: (workspace.base / "checkpoints/lld_workflow_2.db").exists(), what="item 2")
        refused = workspace.doit("clean", "lld:1")
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "LLD-1 not reset: another agentos-jobs run is using" in refused.stderr
        assert "Traceback" not in refused.stderr and workspace.marker("lld", "1").exists()
    finally:
        os.killpg(by_hand.pid, signal.SIGINT)
        by_hand.communicate(timeout=30)


def test_running_a_done_item_by_hand_names_doit_clean(workspace: Workspace) -> None:
    _done(workspace, 101)
    again = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "101")
    assert again.returncode == 0 and "to run it again from its first step: doit clean lld:101" in again.stdout
