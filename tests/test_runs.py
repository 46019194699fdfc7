"""Whole runs through real doit: the spec's scenarios 010-180 that need no signals, and re-runs."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentos_jobs.run.reporter import RunReporter

from conftest import REPO, Workspace, issue_text

LATENCY = {"AGENTOS_OFFLINE_LATENCY": "0.4"}


def _intervals(ws: Workspace, kind: str = "workflow_") -> list[tuple[datetime, datetime]]:
    """When each item's workflow held its slot (kind "workflow_") or its wrapper ran (kind "")."""
    rows = ws.summary()["items"]
    return [(datetime.fromisoformat(r[f"{kind}started_at"]), datetime.fromisoformat(r[f"{kind}finished_at"]))
            for r in rows]


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_010_happy_path_three_items_in_parallel(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = workspace.doit("-n", "3", "lld", extra_env=LATENCY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done"}
    assert workspace.summary()["totals"]["done"] == 3
    for number in (1, 2, 3):
        lld = (workspace.root / f"docs/lld/active/LLD-{number:03d}.md").read_text()
        assert lld.startswith(f"---\nissue: {number}\n")
        assert (workspace.root / f"docs/lineage/active/{number}-lld/001-draft.md").exists()
        assert (workspace.root / f"docs/lineage/active/{number}-lld/001-verdict.md").exists()
        marker = json.loads(workspace.marker("lld", str(number)).read_text())
        assert marker["outputs"] == [f"docs/lld/active/LLD-{number:03d}.md"]
    assert _max_overlap(_intervals(workspace)) == 3
    assert "3 done" in result.stdout and "exit 0" in result.stdout


def test_020_dry_run_lists_every_item_and_runs_nothing(workspace: Workspace) -> None:
    for number in range(1, 6):
        workspace.add_issue(number, title=f"Title of issue {number}")
    listing = workspace.doit("list", "--all", "-s")
    assert listing.returncode == 0, listing.stderr
    for number in range(1, 6):
        assert re.search(rf"^R lld:{number}\s+Title of issue {number}$", listing.stdout, re.M), listing.stdout
    assert not (workspace.base / "runs").exists() and not (workspace.root / "docs/lld").exists()
    assert workspace.doit("lld:2").returncode == 0
    listing = workspace.doit("list", "--all", "-s")
    assert re.search(r"^U lld:2\s", listing.stdout, re.M) and re.search(r"^R lld:3\s", listing.stdout, re.M)


def test_030_default_parallelism_is_three(workspace: Workspace) -> None:
    for number in range(1, 7):
        workspace.add_issue(number)
    result = workspace.doit("lld", extra_env=LATENCY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _max_overlap(_intervals(workspace)) == 3


def test_070_malformed_issue_fails_by_name_others_finish(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.write("docs/issues/2.json", '{"number": 2, "title": ')
    workspace.add_issue(3)
    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 1, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "failed", "LLD-3": "done"}
    row = next(r for r in workspace.summary()["items"] if r["id"] == "2")
    assert "docs/issues/2.json: not valid JSON" in row["message"]
    assert "docs/issues/2.json: not valid JSON" in result.stdout  # the summary table says why, by name
    assert not workspace.marker("lld", "2").exists()
    assert workspace.checkpoints() == []  # nothing half-made for an input that cannot be read


def test_090_every_workflow_line_is_prefixed(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number, body="Line one.\n\nShould this be asked?")
    result = workspace.doit("-n", "2", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    item_lines = [line for line in result.stdout.splitlines()
                  if any(word in line for word in ("draft-", "review", "workflow", "APPROVED", "started"))]
    assert len(item_lines) > 10
    summary_start = result.stdout.index("agentos-jobs run ")
    for line in result.stdout[:summary_start].splitlines():
        assert re.match(r"\[LLD-[12]\] |\.  lld:[12]  |$", line), f"unprefixed line: {line!r}"
    assert result.stderr == ""


def test_100_one_log_file_per_item_under_the_run(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    run_id = workspace.summary()["run_id"]
    logs = sorted(p.name for p in (workspace.base / "logs/parallel" / run_id).iterdir())
    assert logs == ["LLD-1.log", "LLD-2.log", "LLD-3.log"]
    text = (workspace.base / "logs/parallel" / run_id / "LLD-2.log").read_text()
    assert "[LLD-2] draft-1: done" in text and "[LLD-1]" not in text


def test_110_checkpoints_are_deleted_on_success(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    assert workspace.checkpoints() == []
    assert list((workspace.base / "checkpoints").iterdir()) == []  # no -wal or -shm left either


def test_120_failed_item_keeps_its_checkpoint(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2, criteria=())  # no acceptance criteria: the reviewer never approves
    result = workspace.doit("lld", extra_env={"AGENTOS_MAX_ITERATIONS": "2"})
    assert result.returncode == 1
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "needs-revision"}
    assert workspace.checkpoints() == ["lld_workflow_2.db"]
    lineage = sorted(p.name for p in (workspace.root / "docs/lineage/active/2-lld").iterdir())
    assert lineage == ["000-context.md", "000-issue.md", "001-draft.md", "001-verdict.md", "002-draft.md",
                       "002-verdict.md"]
    assert not (workspace.root / "docs/lld/active/LLD-002.md").exists()
    assert not workspace.marker("lld", "2").exists()
    # More rounds resume from the kept checkpoint: the finished rounds are not asked again.
    again = workspace.doit("lld", extra_env={"AGENTOS_MAX_ITERATIONS": "3"})
    assert "[LLD-2] review-2: resumed from checkpoint" in again.stdout
    assert "[LLD-2] review-3: done" in again.stdout


def test_revise_round_then_approval(workspace: Workspace) -> None:
    workspace.add_issue(7, body="Make it faster.\n\nShould the cache be shared between users?")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout
    assert ("[LLD-7] gate 1: draft 1 failed 1 check(s), no review asked: open question 'Should the cache be shared "
            "between users?' is unresolved") in result.stdout  # the gate sends it back; no review is paid for it
    lld = (workspace.root / "docs/lld/active/LLD-007.md").read_text()
    assert "**Assumed:**" in lld and "offline stand-in" in lld and "- [ ]" not in lld.split("## 2.")[0]
    assert "\nreviews: 1\n" in lld
    assert sorted(p.name for p in (workspace.root / "docs/lineage/active/7-lld").iterdir())[2:5] == [
        "001-draft.md", "001-gate.md", "002-draft.md"]


def test_140_nothing_is_written_outside_tmp_path(workspace: Workspace) -> None:
    before = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                            text=True, check=False).stdout
    workspace.add_issue(1)
    workspace.write("ideas/active/an-idea.md", "# An idea\n\n- it does a thing\n")
    assert workspace.doit("lld").returncode == 0
    assert workspace.doit("issue").returncode == 0
    after = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                           text=True, check=False).stdout
    assert before == after
    assert list(workspace.home.iterdir()) == []
    assert not (workspace.root / ".agentos").exists()  # the base dir came from AGENTOS_BASE_DIR
    assert (workspace.base / "done/lld/1.json").exists()


def test_180_exit_code_is_one_when_any_item_fails_also_for_the_group_task(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    workspace.write("docs/issues/3.md", "no heading here\n")
    group = workspace.doit("lld")
    assert group.returncode == 1, group.stdout + group.stderr
    named = workspace.doit("lld:3")
    assert named.returncode == 1
    assert workspace.statuses() == {"LLD-3": "failed"}
    workspace.write("docs/issues/3.md", issue_text("Now fixed"))
    assert workspace.doit("lld").returncode == 0
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "up-to-date", "LLD-3": "done"}


def test_editing_an_issue_reruns_only_that_one(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    workspace.add_issue(2, title="Issue 2, edited")
    result = workspace.doit("lld")
    assert result.returncode == 0
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "done", "LLD-3": "up-to-date"}
    assert "Issue 2, edited" in (workspace.root / "docs/lld/active/LLD-002.md").read_text()


def test_lost_doit_db_reruns_nothing(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    dep_files = list(workspace.base.glob("doit-deps*"))
    assert dep_files
    for path in dep_files:
        path.unlink()
    result = workspace.doit("lld")
    assert result.returncode == 0
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "up-to-date"}
    assert "[LLD-" not in result.stdout


def test_a_damaged_doit_db_is_set_aside_and_reruns_nothing(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    (workspace.base / "doit-deps.sqlite").write_bytes(b"garbage, not SQLite" * 50)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith(f"agentos-jobs: doit's dep file {workspace.base / 'doit-deps.sqlite'} was "
                                    "unreadable (file is not a database); moved it to doit-deps.sqlite.corrupt-")
    assert len(result.stderr.splitlines()) == 1
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "up-to-date"}


def test_issue_workflow_turns_briefs_into_drafts(workspace: Workspace) -> None:
    workspace.write("ideas/active/dark-mode.md", "# Dark mode\n\nAt night the page is too bright.\n\n"
                                                  "- follows the OS setting\n")
    workspace.write("ideas/active/Faster CI.md", "CI is slow because it installs everything again.\n")
    listing = workspace.doit("list", "--all")
    assert "issue:dark-mode" in listing.stdout and "issue:faster-ci" in listing.stdout
    result = workspace.doit("issue")
    assert result.returncode == 0, result.stdout + result.stderr
    draft = (workspace.root / "docs/issues/drafts/dark-mode.md").read_text()
    assert draft.startswith("# Dark mode") and "- [ ] follows the OS setting" in draft
    revised = (workspace.root / "docs/issues/drafts/faster-ci.md").read_text()
    assert "## Acceptance criteria" in revised and "(the brief gives none" not in revised
    assert "[ISSUE-faster-ci] gate 1: draft 1 failed 1 check(s), no review asked: the acceptance criteria hold no" \
        in result.stdout  # a brief with no criteria: the gate sends the draft back before any review
    assert (workspace.root / "docs/lineage/active/faster-ci-issue/002-draft.md").exists()
    assert workspace.doit("lld").returncode == 0  # drafts under docs/issues/drafts are not LLD inputs
    assert workspace.doit("list", "--all", "-s").stdout.count("U issue:") == 2


def test_gh_json_issue_is_an_input(workspace: Workspace) -> None:
    workspace.write("docs/issues/12.json", json.dumps({
        "number": 12, "title": "From GitHub", "labels": [{"name": "bug"}],
        "body": "Broken.\n\n- [ ] it is fixed\n- [ ] a test shows it"}))
    assert workspace.doit("lld").returncode == 0
    lld = (workspace.root / "docs/lld/active/LLD-012.md").read_text()
    assert "**Labels:** bug" in lld and "1. **REQ-1:** it is fixed" in lld


def test_two_files_for_one_issue_fail_that_item_by_name(workspace: Workspace) -> None:
    workspace.add_issue(5)
    workspace.write("docs/issues/5-dup.md", issue_text("Duplicate"))
    result = workspace.doit("lld")
    assert result.returncode == 1
    assert "several files give item 5; keep one" in result.stdout


def test_more_than_ten_processes_are_capped_and_said_once(workspace: Workspace) -> None:
    for number in range(1, 13):
        workspace.add_issue(number)
    result = workspace.doit("-n", "12", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "1.5"}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("at most 10 run at once") == 1
    assert result.stdout.count("waiting for a slot") >= 1
    assert _max_overlap(_intervals(workspace, "")) > 10  # doit ran more than 10 wrappers at once ...
    assert _max_overlap(_intervals(workspace)) == 10  # ... but only 10 workflows ran at any moment
    starts = [line for line in result.stdout.splitlines() if "lld workflow for" in line]
    assert len(starts) == 12


def test_summary_table_lists_every_item(workspace: Workspace) -> None:
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 0
    workspace.add_issue(2)
    result = workspace.doit("lld")
    table = result.stdout[result.stdout.index("agentos-jobs run"):]
    assert re.search(r"^LLD-1\s+up-to-date\s", table, re.M)
    assert re.search(r"^LLD-2\s+done\s+\d+\.\d+s\s+4\s", table, re.M)  # draft, gate, review, finalize
    path = Path(workspace.summary()["items"][1]["log"])
    assert (workspace.root / path).exists() or path.exists()


SPAWN_DOIT = """
import multiprocessing, sys
multiprocessing.set_start_method("spawn")  # as on macOS, Windows and Python 3.14+ on Linux
from doit.doit_cmd import DoitMain
sys.exit(DoitMain().run(["-n", "2", "lld"]))
"""


def test_tasks_pickle_and_run_under_spawn(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = workspace.command(str(Path(sys.executable)), "-c", SPAWN_DOIT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done"}
    assert len(list((workspace.base / "logs/parallel").iterdir())) == 1  # spawned workers kept the run id


def test_an_empty_issues_folder_says_where_it_looked(workspace: Workspace) -> None:
    result = workspace.doit("lld")
    assert result.returncode == 0
    assert result.stdout == ("agentos-jobs: nothing to do for 'lld': docs/issues has no <N>.md, <N>-<slug>.md or "
                             "<N>.json issues\n")


def test_a_closed_stdout_does_not_stop_the_run(workspace: Workspace) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "doit"), "-n", "2", "lld"], cwd=workspace.root,
                            env={**workspace.env, "AGENTOS_OFFLINE_LATENCY": "0.2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # like `doit lld | head -1`
    proc.stdout.close()
    assert proc.wait(60) == 0
    assert workspace.statuses() == {f"LLD-{n}": "done" for n in (1, 2, 3, 4)}


def test_an_edited_issue_moves_its_earlier_rounds_aside(workspace: Workspace) -> None:
    workspace.add_issue(1, body="Is it big?")
    assert workspace.doit("lld").returncode == 0
    assert (workspace.root / "docs/lineage/active/1-lld/002-verdict.md").exists()
    workspace.add_issue(1, body="It is small.")
    result = workspace.doit("lld")
    assert result.returncode == 0 and "earlier rounds moved to docs/lineage/superseded/1-lld-" in result.stdout
    assert sorted(p.name for p in (workspace.root / "docs/lineage/active/1-lld").iterdir()) == [
        "000-context.md", "000-issue.md", "001-draft.md", "001-verdict.md"]
    superseded = workspace.root / "docs/lineage/superseded"
    assert len(list(superseded.iterdir())) == 1
    now = datetime.now(UTC)
    for ahead in range(60):  # whatever second the next run supersedes in, that name is taken already
        (superseded / f"1-lld-{now + timedelta(seconds=ahead):%Y%m%dT%H%M%S}").mkdir(exist_ok=True)
    workspace.add_issue(1, body="It is tiny.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    moved = re.search(r"earlier rounds moved to docs/lineage/superseded/(1-lld-\d{8}T\d{6}-2)$", result.stdout, re.M)
    assert moved and (superseded / moved.group(1) / "001-draft.md").exists(), result.stdout


def test_running_one_item_by_hand_respects_its_marker(workspace: Workspace) -> None:
    workspace.add_issue(1)
    first = workspace.command(str(Path(sys.executable).parent / "agentos-jobs"), "run", "lld", "1")
    assert first.returncode == 0 and "[LLD-1] done in" in first.stdout
    again = workspace.command(str(Path(sys.executable).parent / "agentos-jobs"), "run", "lld", "1")
    assert again.returncode == 0 and again.stdout.startswith("LLD-1 is done (marker ")
    assert workspace.doit("list", "--all", "-s").stdout.count("U lld:1") == 1


def test_a_crash_under_doit_is_never_reported_as_success(workspace: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """doit calls complete_run from a `finally`; its SystemExit would otherwise replace the crash with exit 0."""
    monkeypatch.chdir(workspace.root)
    for name, value in workspace.env.items():
        monkeypatch.setenv(name, value)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        reporter = RunReporter(io.StringIO(), {})
        try:
            raise ValueError("boom")
        except ValueError:
            with pytest.raises(SystemExit) as ended:
                reporter.complete_run()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert ended.value.code == 1
    assert "agentos-jobs: internal error ValueError: boom (please report this)" in capsys.readouterr().err
