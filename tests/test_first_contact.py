"""A new user's first ten minutes (issue 22): a mistake costs one line, never a traceback or paid work, and the
summary fits the terminal it is printed to."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.status import Status
from agentos_jobs.procs.prefixer import tinted_prefix
from agentos_jobs.run.progress import Progress

from conftest import BIN, REPO, Terminal, Workspace, rendered_rows


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


def _append(workspace: Workspace, text: str) -> int:
    """Lines added to the workspace's pyproject.toml, whose last table is [tool.agentos_jobs]; the line of the
    first one added."""
    pyproject = workspace.root / "pyproject.toml"
    before = pyproject.read_text()
    pyproject.write_text(before + text)
    return len(before.splitlines()) + 1


@pytest.mark.parametrize("added, offset, said", [
    ("max_iteration = 4\n", 0, " [tool.agentos_jobs]: max_iteration is not a setting; did you mean max_iterations?"),
    ("max_tokens = 'many'\n", 0,
     " [tool.agentos_jobs]: max_tokens must be a positive whole number, got 'many'"),
    ("[tool.agentos_jobs.reviewer]\nprovidr = 'openai'\n", 1,
     " [tool.agentos_jobs.reviewer]: providr is not a setting; did you mean provider?"),
    ("[tool.agentos-jobs]\nmax_iterations = 5\n", 0,
     ": [tool.agentos-jobs] is not read: agentos-jobs reads [tool.agentos_jobs] (with an underscore); rename the "
     "table"),
    ("[tool.agentos_job]\n", 0, ": [tool.agentos_job] is not read: agentos-jobs reads [tool.agentos_jobs]"),
    ("x = [\n", 0, ": not valid TOML: Invalid value; fix that line"),
])
def test_a_setting_mistake_is_one_line_naming_the_file_and_line_under_doit_as_under_agentos_jobs(
        workspace: Workspace, added: str, offset: int, said: str) -> None:
    workspace.add_issue(1)
    line = _append(workspace, added) + offset
    commands = [(str(BIN / "agentos-jobs"), "keys"), (str(BIN / "agentos-jobs"), "run", "lld", "1")]
    if "x = [" not in added:  # doit itself reads pyproject.toml before dodo.py: its own traceback comes first
        commands += [(str(BIN / "doit"), "lld"), (str(BIN / "doit"), "list")]
    for command in commands:
        result = workspace.command(*command)
        assert result.returncode == 3, (command, result.stdout + result.stderr)
        assert result.stderr.count("\n") == 1 and f"pyproject.toml:{line}{said}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not workspace.marker("lld", "1").exists()


@pytest.mark.parametrize("table", ["agentos", "agentos_lint", "agentos-core"])
def test_another_tools_table_of_a_like_name_is_left_alone(workspace: Workspace, table: str) -> None:
    workspace.add_issue(1)
    _append(workspace, f"[tool.{table}]\nmax_iterations = 5\n")
    listed = workspace.doit("list", "--all", "-s")
    assert listed.returncode == 0 and "lld:1" in listed.stdout, listed.stdout + listed.stderr


def test_doit_list_and_info_end_quietly_when_their_reader_stops_early(workspace: Workspace) -> None:
    for number in range(1, 801):  # more than a pipe holds (64 KiB; `info` says ~130 bytes an issue): doit is still
        # writing when the reader goes, so it meets the closed pipe (with less, it may finish first: info exits 1)
        workspace.add_issue(number, title=f"Issue {number} " + "x" * 400)
    for args in (("list", "--all", "-s"), ("info", "lld")):
        doit = subprocess.Popen([str(BIN / "doit"), *args], cwd=workspace.root, env=workspace.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert doit.stdout is not None and doit.stderr is not None
        first = doit.stdout.readline()  # `| head -1`
        doit.stdout.close()
        err = doit.stderr.read().decode()
        assert doit.wait(timeout=60) == -signal.SIGPIPE, err
        assert first and "Traceback" not in err and "BrokenPipeError" not in err, err


_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _summary_rows(term: Terminal, columns: int) -> list[str]:
    """The summary as printed (the bytes from its first line on), and as a terminal of that width shows them."""
    printed = bytes(term.screen)[bytes(term.screen).rindex(b"\nagentos-jobs run ") + 1:]
    lines = _ESCAPE.sub("", printed.decode()).replace("\r", "").splitlines()
    assert max(len(line) for line in lines) <= columns, lines
    shown = rendered_rows(printed, columns)
    assert shown[: len(lines)] == [line.rstrip() for line in lines], shown  # no row wrapped onto a second one
    return lines


@pytest.mark.parametrize("columns", [100, 50])
def test_the_summary_fits_the_terminal_as_wide_as_it_is_when_printed(workspace: Workspace, columns: int) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    workspace.add_issue(4, title="An issue whose title is long enough to wrap " * 2, criteria=())  # needs-revision
    workspace.add_issue(5)
    term = Terminal(workspace, "-n", "2", "lld", env={"AGENTOS_OFFLINE_LATENCY": "0.2"}, columns=100)
    workspace.wait_for(lambda: b"progress: " in term.screen, what="a first progress line")
    term.resize(columns)  # the summary is measured as it is printed, not as the run started
    assert term.wait(timeout=60) == 1, term.text()
    lines = _summary_rows(term, columns)
    assert "-- lld:" not in term.text()  # doit's own line for each item found done
    assert any(re.match(r"3 items +up-to-date", line) for line in lines), lines  # one counted row
    assert not any(line.startswith(("LLD-1 ", "LLD-2 ", "LLD-3 ")) for line in lines), lines
    header = next(index for index, line in enumerate(lines) if line.startswith("ITEM "))
    assert lines[header].split() == ["ITEM", "STATUS", "TIME", "STEPS", "TOKENS", "COST"][: len(lines[header].split())]
    logs = next(index for index, line in enumerate(lines) if line.startswith("logs: "))
    assert "".join(lines[logs:header]).endswith("/<ITEM>.log"), lines  # the logs' folder, once (maybe broken)
    assert any(line.startswith("LLD-4 ") and "needs-revision" in line for line in lines)
    assert "the reviewer did not approve within max_iterations" in " ".join(" ".join(lines).split())  # wrapped


def test_each_item_prefix_has_its_own_colour_on_a_terminal_and_none_elsewhere(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    term = Terminal(workspace, "-n", "2", "lld", env={})
    assert term.wait(timeout=60) == 0, term.text()
    assert tinted_prefix("LLD-1") != tinted_prefix("LLD-2")
    assert f"{tinted_prefix('LLD-1')} " in term.text() and f"{tinted_prefix('LLD-2')} " in term.text(), term.text()
    log = (BaseDir(workspace.base).run(workspace.summary()["run_id"]).log("LLD-1")).read_text()
    assert "\x1b" not in log and "[LLD-1] " in log
    for marker in (workspace.marker("lld", "1"), workspace.marker("lld", "2")):
        marker.unlink()
    plain = Terminal(workspace, "-n", "2", "lld", env={"NO_COLOR": "1"})
    assert plain.wait(timeout=60) == 0
    assert "\x1b[9" not in plain.text() and "\x1b[3" not in plain.text() and "[LLD-1] " in plain.text()


def test_the_eta_never_says_00_00_while_items_run(tmp_path: Path) -> None:
    progress = Progress(lambda text: None, 2, 1, BaseDir(tmp_path).run("run-1"), 15.0)
    progress.finish("lld:1", Status.DONE)
    progress.durations = [10.0]
    progress.running = {"lld:2": time.monotonic() - 9.5}  # half a second of the mean left
    assert progress.eta() == "ETA 00:01"
    progress.running = {"lld:2": time.monotonic() - 60}  # running past the mean: how long more is unknown
    assert progress.eta() == "ETA --:--"


def test_the_readme_demo_can_be_repeated_without_piling_up_folders(workspace: Workspace) -> None:
    reset = re.search(r"after `(rm -rf [^`]+)`", (REPO / "README.md").read_text())
    assert reset, "the README's demo names how to reset it"
    shutil.copytree(REPO / "examples" / "docs" / "issues", workspace.root / "examples" / "docs" / "issues",
                    ignore=shutil.ignore_patterns("drafts"))  # the issue workflow's output, if a demo made one
    shutil.copy(REPO / "pyproject.toml", workspace.root / "pyproject.toml")  # its [tool.agentos_jobs]: examples/
    inside = {"AGENTOS_BASE_DIR": ".agentos"}  # where the demo's state is, as the README's reset expects it
    for _ in range(3):
        result = workspace.doit("-n", "3", "lld", extra_env=inside)
        assert result.returncode == 0 and "3 done" in result.stdout, result.stdout + result.stderr
        subprocess.run(shlex.split(reset[1]), cwd=workspace.root, check=True)
    assert not (workspace.root / "examples/docs/lineage/superseded").exists()
    assert not (workspace.root / ".agentos").exists() and not (workspace.root / "examples/docs/lld").exists()
