"""ItemResult and the error base, without doit or any process: the record every report on an item reads."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from agentos_jobs.core.errors import ConfigError, NoKeyAvailable, OverBudget, RunLocked, say_error
from agentos_jobs.core.results import ItemResult
from agentos_jobs.core.settings import load_settings
from agentos_jobs.core.status import Status
from agentos_jobs.run.summary import RunSummary, build_summary, render_summary


def test_a_result_round_trips_through_its_file(tmp_path: Path) -> None:
    result = ItemResult("lld", "42", Status.NEEDS_HUMAN, "review 1 asks a person to decide: which?",
                        title="Add OAuth", duration_seconds=1.5, steps_done=2, input_tokens=10, output_tokens=5,
                        cached_tokens=3, outputs=["docs/lld/active/LLD-042.md"], peak_rss_kb={"wrapper": 1})
    result.write(tmp_path / "r.json")
    again = ItemResult.read(tmp_path / "r.json")
    assert again == result
    data = result.to_json()
    assert (data["prefix"], data["status"], data["exit_code"]) == ("LLD-42", "needs-human", 1)


def test_a_result_is_frozen_once_built(tmp_path: Path) -> None:
    result = ItemResult("lld", "42", Status.DONE, outputs=["docs/lld/active/LLD-042.md"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.FAILED  # type: ignore[misc]
    assert result.outputs == ("docs/lld/active/LLD-042.md",)  # a list given is kept as a tuple, written as a list
    result.write(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["outputs"] == ["docs/lld/active/LLD-042.md"]
    changed = dataclasses.replace(result, status=Status.FAILED, message="not marked done")
    assert (result.status, changed.status, changed.outputs) == (Status.DONE, Status.FAILED, result.outputs)


def test_an_unreadable_or_foreign_record_is_no_result(tmp_path: Path) -> None:
    assert ItemResult.read(tmp_path / "missing.json") is None
    (tmp_path / "half.json").write_text('{"workflow": "lld", "id"')
    assert ItemResult.read(tmp_path / "half.json") is None
    with pytest.raises(ValueError, match="not an item result"):
        ItemResult.from_json({"workflow": "lld", "id": "1", "status": "exploded"})
    with pytest.raises(ValueError, match="not an item result"):
        ItemResult.from_json({"workflow": "lld", "status": "done"})


def test_the_summary_is_built_from_results_and_rendered_from_its_json(tmp_path: Path) -> None:
    rows = [ItemResult("lld", "1", Status.DONE, duration_seconds=1.0, steps_done=2, input_tokens=7, output_tokens=3),
            ItemResult("lld", "2", Status.NO_KEY, "no usable openai key"),
            ItemResult("lld", "3", Status.NOT_STARTED, "the run was stopped (SIGINT) before it started"),
            ItemResult("lld", "4", Status.NOT_STARTED, "the run was stopped (SIGINT) before it started")]
    summary = build_summary("run-1", "a", "b", 2.0, rows)
    assert summary.exit_code == 1
    assert summary.to_json()["totals"] == {"done": 1, "no-key": 1, "not-started": 2, "items": 4, "input_tokens": 7,
                                           "output_tokens": 3, "cached_tokens": 0, "cost_usd": 0.0}
    text = render_summary(RunSummary.from_json(summary.to_json()), load_settings(tmp_path, {}))
    assert re.search(r"^LLD-2 +no-key +- +- +- +-$", text, re.MULTILINE) and "no usable openai key" in text
    assert re.search(r"^2 items +not-started", text, re.MULTILINE) and "summary.json names each" in text
    assert build_summary("run-2", "a", "b", 1.0, rows[1:2]).exit_code == 75


def test_the_summary_is_one_frozen_record_that_reads_back_todays_file(tmp_path: Path) -> None:
    rows = [ItemResult("lld", "1", Status.DONE, input_tokens=7, output_tokens=3, cached_tokens=2, cost_usd=0.5)]
    summary = build_summary("run-1", "a", "b", 2.0, rows, 0.25, interrupted_by="SIGINT", trace_id="t1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.exit_code = 0  # type: ignore[misc]
    assert summary.exit_code == 130  # a stopped run, whatever its items say
    assert build_summary("r", "a", "b", 1.0, rows, failed_outside_items=True).exit_code == 1
    assert build_summary("r", "a", "b", 1.0, rows, halted_after="LLD-2", failed_outside_items=True).exit_code == 0
    # summary.json as this and earlier versions wrote it (no cached_tokens in the totals of an older one)
    today = {"run_id": "run-1", "started_at": "a", "finished_at": "b", "duration_seconds": 2.0, "exit_code": 130,
             "interrupted_by": "SIGINT", "trace_id": "t1", "items": [rows[0].to_json()],
             "totals": {"done": 1, "items": 1, "input_tokens": 7, "output_tokens": 3, "cached_tokens": 2,
                        "cost_usd": 0.5, "cache_saved_usd": 0.25}}
    assert summary.to_json() == today
    (tmp_path / "summary.json").write_text(json.dumps(today))
    assert RunSummary.read(tmp_path / "summary.json") == summary
    older = {**today, "totals": {"done": 1, "items": 1, "input_tokens": 7, "output_tokens": 3, "cost_usd": 0.5}}
    (tmp_path / "summary.json").write_text(json.dumps(older))
    again = RunSummary.read(tmp_path / "summary.json")
    assert again is not None and again.totals.cached_tokens == 0 and again.totals.counts == {Status.DONE: 1}
    (tmp_path / "summary.json").write_text(json.dumps({"run_id": "run-1", "items": []}))
    assert RunSummary.read(tmp_path / "summary.json") is None


def test_a_message_under_a_long_item_id_in_a_narrow_terminal_stays_readable(tmp_path: Path) -> None:
    rows = [ItemResult("issue", "faster-ci-for-the-whole-monorepo", Status.NEEDS_HUMAN,
                       "review 1 asks a person to decide: should the cache be shared between users?")]
    text = render_summary(build_summary("run-1", "a", "b", 2.0, rows), load_settings(tmp_path, {}), width=50)
    message = [line.strip() for line in text.splitlines() if line.startswith("  ") and "ISSUE-" not in line]
    assert all(len(line) <= 50 for line in text.splitlines()), text
    assert " ".join(message).startswith("review 1 asks a person to decide:") and len(message) <= 3, text


def test_each_user_error_carries_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert say_error(ConfigError("bad setting")) == 3
    assert say_error(RunLocked("another run")) == 3
    assert capsys.readouterr().err == "agentos-jobs: error: bad setting\nagentos-jobs: another run\n"
    assert NoKeyAvailable("none").item_status is Status.NO_KEY and OverBudget("x").item_status is Status.OVER_BUDGET
    assert ConfigError("x").item_status is Status.FAILED
