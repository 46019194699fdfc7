"""A run's life from outside: who may run at once, a doit worker that dies, signals at every moment."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import BIN, Workspace


def _run_by_hand(workspace: Workspace, number: int, latency: str = "2") -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "agentos-jobs"), "run", "lld", str(number)], cwd=workspace.root,
                            env={**workspace.env, "AGENTOS_OFFLINE_LATENCY": latency}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_running_an_item_by_hand_holds_the_run_lock_until_it_ends(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    by_hand = _run_by_hand(workspace, 1)
    workspace.wait_for(lambda: (workspace.base / "checkpoints/lld_workflow_1.db").exists(), what="item 1 to start")

    refused = workspace.doit("-n", "3", "lld")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "another agentos-jobs run is using" in refused.stderr
    second = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "2")
    assert second.returncode == 3, second.stdout + second.stderr

    out, err = by_hand.communicate(timeout=60)
    assert by_hand.returncode == 0, out + err
    after = workspace.doit("-n", "3", "lld")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "[LLD-1]" not in after.stdout  # paid for once: the doit run found it done
    assert "[LLD-2] done in" in after.stdout
