"""The run controller without doit: the lock, a stop request, and rows -> summary -> exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentos_jobs.core.errors import RunLocked
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.settings import Settings, load_settings
from agentos_jobs.core.status import Status
from agentos_jobs.run.controller import ItemTask, RunController

ITEMS = [ItemTask(f"lld:{n}", "lld", str(n), f"Issue {n}") for n in (1, 2, 3)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path, {"AGENTOS_BASE_DIR": str(tmp_path / "base"), "AGENTOS_FAIL_FAST": "1"})


def controller(settings: Settings, lines: list[str], run_id: str = "run-1") -> RunController:
    return RunController(settings, run_id, lines.append, lines.append)


def statuses(settings: Settings, run_id: str = "run-1") -> dict[str, tuple[str, str]]:
    summary = json.loads((settings.base_dir / "runs" / run_id / "summary.json").read_text())
    return {row["prefix"]: (row["status"], row["message"]) for row in summary["items"]}


def test_a_stopped_run_accounts_for_every_item_and_exits_130(settings: Settings) -> None:
    lines: list[str] = []
    run = controller(settings, lines)
    run.start(ITEMS, pending=False)
    with pytest.raises(RunLocked, match="another agentos-jobs run"):
        controller(settings, [], "run-2").start(ITEMS, pending=False)
    run.item_started(ITEMS[0])
    ItemResult("lld", "1", Status.DONE, duration_seconds=1.0, steps_done=3).write(run.run_dir.item_result("LLD-1"))
    run.item_ended(ITEMS[0], ok=True)
    run.item_up_to_date(ITEMS[1])
    assert run.request_stop("SIGINT") and not run.request_stop("SIGTERM")
    assert run.run_dir.stop_flag.read_text() == "SIGINT"
    assert run.finish(colour=False) == 130
    assert statuses(settings) == {"LLD-1": ("done", ""), "LLD-2": ("up-to-date", ""),
                                  "LLD-3": ("not-started", "the run was stopped (SIGINT) before it started")}
    assert "exit 130" in "".join(lines)


def test_an_item_without_a_result_fails_and_fail_fast_halts_the_rest(settings: Settings) -> None:
    run = controller(settings, [])
    run.start(ITEMS, pending=False)
    run.item_started(ITEMS[0])
    run.item_ended(ITEMS[0], ok=False)
    assert run.finish(colour=False) == 1
    assert statuses(settings) == {
        "LLD-1": ("failed", "the item's wrapper ended without recording a result"),
        "LLD-2": ("not-started", "fail_fast: not started after LLD-1 failed"),
        "LLD-3": ("not-started", "fail_fast: not started after LLD-1 failed")}


def test_a_dead_worker_fails_its_item_by_name_unless_it_had_ended(settings: Settings) -> None:
    run = controller(settings, [])
    run.start(ITEMS[:2], pending=False)
    run.item_started(ITEMS[0])
    run.item_started(ITEMS[1])
    run.item_ended(ITEMS[1], ok=True)
    ItemResult("lld", "2", Status.DONE).write(run.run_dir.item_result("LLD-2"))
    assert run.worker_died(ITEMS[1], 42, "SIGKILL") is None
    assert run.worker_died(ITEMS[0], 41, "SIGKILL") == ("its doit worker process (pid 41) died (SIGKILL); run "
                                                        "again to resume from its checkpoint")
    assert run.finish(colour=False) == 1
    assert statuses(settings)["LLD-1"][0] == "failed" and statuses(settings)["LLD-2"] == ("done", "")
