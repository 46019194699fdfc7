"""Issue 12: the issue workflow files what it approves with gh, once, and the filed issue is an LLD input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentos_jobs.core.errors import ConfigError
from agentos_jobs.core.settings import load_settings
from agentos_jobs.github.filing import split_draft

from conftest import Workspace
from fake_gh import FakeGh

BRIEF = ("---\ntitle: Dark mode\nlabels: [enhancement, ui]\n---\n\nAt night the page is too bright.\n\n"
         "- [ ] follows the OS setting\n- [ ] a toggle overrides it\n")
OTHER = "# Faster CI\n\nCI takes 20 minutes.\n\n- [ ] CI takes under 5 minutes\n"
MODEL_STEP_RAN = re.compile(r"\] (draft|review|revise)-\d+: done")


def test_a_drafts_title_is_its_first_heading() -> None:
    assert split_draft("# Dark mode\n\n## Problem\nToo bright.\n", "brief") == ("Dark mode", "## Problem\nToo bright.")
    assert split_draft("> a note\n\n# Dark mode\nBody\n", "brief") == ("Dark mode", "> a note\n\nBody")
    assert split_draft("## Problem\nToo bright.", "The brief's title") == ("The brief's title",
                                                                           "## Problem\nToo bright.")


def test_filing_settings_come_from_the_environment_and_a_bad_repo_is_refused(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {"AGENTOS_FILE_ISSUES": "1"}).file_issues is True
    assert load_settings(tmp_path, {}).file_issues is False and load_settings(tmp_path, {}).repo is None
    (tmp_path / "pyproject.toml").write_text('[tool.agentos_jobs]\nrepo = "acme"\n')
    with pytest.raises(ConfigError, match="repo = 'acme' is not a GitHub repository; write it as gh takes it, "
                                          "OWNER/REPO"):
        load_settings(tmp_path, {})


@pytest.fixture
def gh(workspace: Workspace) -> FakeGh:
    with (workspace.root / "pyproject.toml").open("a") as toml:
        toml.write('file_issues = true\nrepo = "acme/widgets"\n')
    workspace.write("ideas/active/dark-mode.md", BRIEF)
    return FakeGh(workspace.home, workspace.env)


def test_approved_drafts_are_filed_once_and_become_lld_items(workspace: Workspace, gh: FakeGh) -> None:
    workspace.write("ideas/active/faster-ci.md", OTHER)
    listing = workspace.doit("list", "--all")
    assert "Dark mode (files a GitHub issue when approved: file_issues)" in listing.stdout  # the dry run says so
    assert gh.calls() == []
    result = workspace.doit("issue")
    assert result.returncode == 0, result.stdout + result.stderr
    creates = gh.calls("issue create")
    assert len(creates) == 2 and all(c["args"][-2:] == ["--repo", "acme/widgets"] for c in creates)
    dark = next(c for c in creates if "Dark mode" in c["args"])
    assert dark["args"][dark["args"].index("--title") + 1] == "Dark mode"
    assert [a for i, a in enumerate(dark["args"]) if dark["args"][i - 1] == "--label"] == ["enhancement", "ui"]
    assert "- [ ] follows the OS setting" in dark["stdin"] and not dark["stdin"].startswith("# Dark mode")
    assert re.search(r"<!-- agentos-jobs: issue:dark-mode [0-9a-f]{16} -->\n$", dark["stdin"])
    assert len(gh.calls("issue list")) == 4  # each looked for its token first: searched, then the newest issues
    filed = {issue["title"]: issue for issue in gh.issues()}
    number = filed["Dark mode"]["number"]
    issue_file = workspace.root / f"docs/issues/{number}-dark-mode.md"
    text = issue_file.read_text()
    assert text.startswith(f'---\ntitle: "Dark mode"\nnumber: {number}\nurl: '
                           f'"https://github.com/acme/widgets/issues/{number}"\nlabels: ["enhancement", "ui"]\n---\n')
    assert not (workspace.root / "docs/issues/drafts/dark-mode.md").exists()
    assert f"[ISSUE-dark-mode] filed as #{number}: https://github.com/acme/widgets/issues/{number}" in result.stdout
    marker = json.loads(workspace.marker("issue", "dark-mode").read_text())
    assert marker["outputs"] == [f"docs/issues/{number}-dark-mode.md", filed["Dark mode"]["url"]]

    again = workspace.doit("issue")
    assert again.returncode == 0 and len(gh.calls()) == 6  # a re-run files nothing, asks gh nothing
    lld = workspace.doit("lld")
    assert lld.returncode == 0, lld.stdout + lld.stderr
    assert workspace.statuses() == {f"LLD-{n}": "done" for n in (1, 2)}
    assert "**Labels:** enhancement, ui" in (workspace.root / f"docs/lld/active/LLD-{number:03d}.md").read_text()


@pytest.mark.parametrize("lag", ["", "1"])
def test_a_crash_right_after_gh_creates_the_issue_does_not_file_it_twice(workspace: Workspace, gh: FakeGh,
                                                                         lag: str) -> None:
    flag = workspace.home / "killed"
    workspace.env["FAKE_GH_SEARCH_LAG"] = lag  # with lag, the search misses it: the newest issues hold it
    first = workspace.doit("issue", extra_env={"FAKE_GH_KILL_ONCE": str(flag)})
    assert flag.exists() and first.returncode == 1, first.stdout + first.stderr
    assert workspace.statuses() == {"ISSUE-dark-mode": "failed"}
    assert "killed by SIGKILL" in workspace.summary()["items"][0]["message"]
    assert len(gh.issues()) == 1  # GitHub has it; the checkpoint does not
    second = workspace.doit("issue")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(gh.issues()) == 1 and len(gh.calls("issue create")) == 1
    assert "already filed as #1 (https://github.com/acme/widgets/issues/1)" in second.stdout
    assert (workspace.root / "docs/issues/1-dark-mode.md").exists()
    assert not MODEL_STEP_RAN.search(second.stdout), second.stdout


def test_an_issue_closed_after_a_crash_is_still_found_not_filed_again(workspace: Workspace, gh: FakeGh) -> None:
    flag = workspace.home / "killed"
    assert workspace.doit("issue", extra_env={"FAKE_GH_KILL_ONCE": str(flag)}).returncode == 1
    gh.state.write_text(json.dumps([{**issue, "state": "CLOSED"} for issue in gh.issues()]))  # closed meanwhile
    second = workspace.doit("issue")
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(gh.issues()) == 1 and len(gh.calls("issue create")) == 1


@pytest.mark.parametrize("mode", ["missing", "unauthenticated", "error"])
def test_a_failing_gh_keeps_the_draft_and_the_rerun_files_it_without_model_calls(workspace: Workspace, gh: FakeGh,
                                                                               mode: str) -> None:
    env = {"PATH": workspace.env["PATH"].split(":", 1)[1]} if mode == "missing" else {"FAKE_GH_MODE": mode}
    first = workspace.doit("issue", extra_env=env)
    assert first.returncode == 1
    row = workspace.summary()["items"][0]
    assert row["status"] == "failed" and row["failed_step"] == "file-issue"
    fix = {"missing": "gh (the GitHub CLI) is not on PATH; install it from https://cli.github.com",
           "unauthenticated": "gh is not logged in to GitHub; run: gh auth login",
           "error": "gh issue list failed with exit code 1: HTTP 502"}[mode]
    assert fix in row["message"] and "the approved draft docs/issues/drafts/dark-mode.md is kept" in row["message"]
    assert "Traceback" not in first.stdout + first.stderr
    assert (workspace.root / "docs/issues/drafts/dark-mode.md").exists()
    assert workspace.checkpoints() == ["issue_workflow_dark-mode.db"] and gh.issues() == []
    second = workspace.doit("issue")
    assert second.returncode == 0, second.stdout + second.stderr
    assert not MODEL_STEP_RAN.search(second.stdout) and "draft-1: resumed from checkpoint" in second.stdout
    assert [issue["title"] for issue in gh.issues()] == ["Dark mode"]
    assert workspace.checkpoints() == []


def test_a_gh_that_exits_leaving_a_child_on_its_stdout_is_done_and_leaves_no_orphan(workspace: Workspace,
                                                                                  gh: FakeGh) -> None:
    """gh's answer is what it wrote when it exited: a child it leaves holding its stdout (started with setsid)
    used to stall the item for 120 s and fail it ("check the network"), though the issue was filed."""
    result = workspace.doit("issue", extra_env={"FAKE_GH_LINGER": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert [issue["title"] for issue in gh.issues()] == ["Dark mode"] and len(gh.calls("issue create")) == 1
    assert workspace.processes() == []  # the lingering child was ended
