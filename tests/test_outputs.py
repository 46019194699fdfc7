"""What a run writes, and what it never touches: a file at an item's output paths that agentos-jobs did not write
stops the item, `exists`, before any paid call, until the user adopts or replaces it; the filed LLD is what a team
commits (YAML front matter, the design, the review log); the lineage keeps the issue as read."""

from __future__ import annotations

import subprocess

from agentos_jobs.items.front_matter import split_front_matter

from conftest import BIN, Workspace
from fake_llm import FakeLLM, use_provider

HUMAN_LLD = "# 1001 - Feature: Retry\n\n## 1. Context & Goal\nApproved by a person, 318 lines long.\n"


def _snapshot(ws: Workspace, folder: str) -> dict[str, bytes]:
    return {str(p.relative_to(ws.root)): p.read_bytes() for p in sorted((ws.root / folder).rglob("*")) if p.is_file()}


def _git(ws: Workspace, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=ws.root, capture_output=True, text=True, check=True).stdout


def _commit_all(ws: Workspace) -> None:
    _git(ws, "init", "-q")
    _git(ws, "add", "-A")
    _git(ws, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "committed work")


def test_committed_designs_and_lineage_stop_their_items_before_any_paid_call(workspace: Workspace,
                                                                             fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    workspace.write("docs/lld/active/LLD-001.md", HUMAN_LLD)
    workspace.write("docs/lineage/active/2-lld/001-issue.md", "# Issue 2, as another tool kept it\n")
    _commit_all(workspace)
    committed = _snapshot(workspace, "docs")

    listing = workspace.doit("list", "--all", "-s")
    assert "R lld:1 " in listing.stdout and "(exists: docs/lld/active/LLD-001.md not written by agentos-jobs" \
        in listing.stdout
    assert "(exists: docs/lineage/active/2-lld/001-issue.md not written" in listing.stdout
    assert "lld:3         Issue 3\n" in listing.stdout  # nothing of anyone's there: it runs

    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 1, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "exists", "LLD-2": "exists", "LLD-3": "done"}
    assert workspace.summary()["totals"]["exists"] == 2 and "1 done, 2 exists (3 item(s))" in result.stdout
    assert ("[LLD-1] exists in " in result.stdout and "docs/lld/active/LLD-001.md not written by agentos-jobs, left "
            "untouched: 'agentos-jobs adopt lld 1' takes it as done, 'agentos-jobs replace lld 1' lets a run write "
            "over it") in result.stdout
    assert {call.model for call in fake.calls} and len(fake.calls) == 2  # the draft and review of item 3 only
    assert all(_snapshot(workspace, "docs").get(path) == data for path, data in committed.items())
    assert not (workspace.root / "docs/lineage/superseded").exists()
    assert _git(workspace, "status", "--porcelain", "--untracked-files=no") == ""
    assert workspace.doit("lld").returncode == 1 and len(fake.calls) == 2  # again: still nothing paid


def test_the_tools_own_rounds_move_aside_but_a_persons_edit_of_them_stops_the_item(workspace: Workspace) -> None:
    workspace.add_issue(1, body="First.")
    assert workspace.doit("lld").returncode == 0
    workspace.add_issue(1, body="Second.")
    again = workspace.doit("lld")  # its own earlier rounds: moved aside, its own LLD: written over
    assert again.returncode == 0 and "earlier rounds moved to docs/lineage/superseded/1-lld-" in again.stdout
    lld = workspace.root / "docs/lld/active/LLD-001.md"
    lld.write_text(lld.read_text() + "\nA person's note.\n")
    workspace.add_issue(1, body="Third.")
    edited = workspace.doit("lld")
    assert edited.returncode == 1 and workspace.statuses() == {"LLD-1": "exists"}
    assert lld.read_text().endswith("A person's note.\n")
    assert len(list((workspace.root / "docs/lineage/superseded").iterdir())) == 1


def test_adopt_takes_the_existing_design_as_done_and_replace_lets_a_run_write_over_it(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    workspace.write("docs/lld/active/LLD-001.md", HUMAN_LLD)
    workspace.write("docs/lld/active/LLD-002.md", HUMAN_LLD)
    workspace.write("docs/lineage/active/2-lld/notes.md", "kept by hand\n")
    tool = str(BIN / "agentos-jobs")
    adopted = workspace.command(tool, "adopt", "lld", "1")
    assert adopted.returncode == 0 and adopted.stdout.startswith("LLD-1: adopted docs/lld/active/LLD-001.md")
    replaced = workspace.command(tool, "replace", "lld", "2")
    assert replaced.returncode == 0 and "the next run may write over docs/lld/active/LLD-002.md" in replaced.stdout
    assert "U lld:1 " in workspace.doit("list", "--all", "-s").stdout
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "done"}
    assert (workspace.root / "docs/lld/active/LLD-001.md").read_text() == HUMAN_LLD
    assert (workspace.root / "docs/lld/active/LLD-002.md").read_text().startswith("---\nissue: 2\n")
    aside = list((workspace.root / "docs/lineage/superseded").glob("2-lld-*/notes.md"))
    assert len(aside) == 1 and aside[0].read_text() == "kept by hand\n"  # moved, never deleted
    workspace.add_issue(3)
    workspace.write("docs/lld/active/LLD-003.md", HUMAN_LLD)
    every = workspace.command(tool, "adopt", "lld", "--all")  # the items that would stop, exists: 3 alone
    assert every.returncode == 0 and every.stdout.startswith("LLD-3: adopted") and every.stdout.count("\n") == 1
    assert workspace.doit("lld").returncode == 0 and workspace.statuses()["LLD-3"] == "up-to-date"
    assert workspace.command(tool, "adopt", "lld").returncode == 2  # neither items nor --all: a usage error


def test_the_filed_lld_is_what_a_team_commits_and_the_lineage_keeps_the_issue_as_read(workspace: Workspace,
                                                                                       fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    issue = ("---\ntitle: \"Retry: failed uploads\"\nurl: https://github.com/acme/app/issues/7\nlabels: [bug]\n"
             "---\n\nUploads fail.\n\n- [ ] It retries\n")
    workspace.write("docs/issues/7-retry.md", issue)
    workspace.add_issue(8)
    _commit_all(workspace)
    head = _git(workspace, "rev-parse", "HEAD").strip()
    with (workspace.root / "pyproject.toml").open("a") as handle:
        handle.write('repo = "acme/app"\n')
    result = workspace.doit("lld", extra_env={"AGENTOS_MODEL": "gpt-4.1"})
    assert result.returncode == 0, result.stdout + result.stderr
    text = (workspace.root / "docs/lld/active/LLD-007.md").read_text()
    front, rest = split_front_matter(text)
    assert front is not None
    assert {key: front.text(key) for key in front.fields} == {
        "issue": "7", "title": "Retry: failed uploads", "status": "APPROVED", "date": front.text("date"),
        "drafter": "openai/gpt-4.1", "reviewer": "openai/gpt-4.1", "reviews": "1", "commit": head,
        "issue_url": "https://github.com/acme/app/issues/7", "lineage": "docs/lineage/active/7-lld"}
    assert str(front.text("date"))[:4].isdigit() and rest.lstrip().startswith("#")
    assert rest.index("## Appendix: Review Log") > 0 and "Issue: #7" not in text
    eight = split_front_matter((workspace.root / "docs/lld/active/LLD-008.md").read_text())[0]
    assert eight is not None and eight.text("issue_url") == "https://github.com/acme/app/issues/8"  # from `repo`
    copy = (workspace.root / "docs/lineage/active/7-lld/000-issue.md").read_text()
    kept, body = split_front_matter(copy)
    assert kept is not None and kept.text("source") == "docs/issues/7-retry.md" and kept.names("labels") == ["bug"]
    assert kept.text("url") == "https://github.com/acme/app/issues/7" and "Uploads fail.\n\n- [ ] It retries" in body


def test_the_stand_in_marks_a_named_file_modify_at_its_real_path_once(workspace: Workspace) -> None:
    workspace.write("src/shop/cart.py", "def total():\n    return 0\n")
    workspace.write("tests/shop/cart.py", "def test_total():\n    pass\n")  # a second cart.py: only the named one is
    workspace.write("src/shop/tax.py", "RATE = 0.2\n")
    workspace.add_issue(1, body="Change `src/shop/cart.py` so that `cart.py` rounds; `tax.py` too; add "
                                "`src/shop/coupons.py`.")
    assert workspace.doit("lld").returncode == 0
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    table = [line for line in lld.splitlines() if line.startswith("| `")]
    assert table == ["| `src/shop/cart.py` | Modify | As the issue describes |",
                     "| `src/shop/tax.py` | Modify | As the issue describes |",
                     "| `src/shop/coupons.py` | Add | As the issue describes |"]


def test_the_stand_in_adds_the_new_folders_a_new_file_needs_so_that_its_draft_passes_the_gate(
        workspace: Workspace) -> None:
    workspace.write("src/shop/cart.py", "def total():\n    return 0\n")
    workspace.add_issue(1, body="Add `src/shop/promo/rules/engine.py` beside `src/shop/cart.py`.")
    assert workspace.doit("lld").returncode == 0
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    table = [line for line in lld.splitlines() if line.startswith("| `")]
    assert table == ["| `src/shop/promo/` | Add | As the issue describes |",
                     "| `src/shop/promo/rules/` | Add | As the issue describes |",
                     "| `src/shop/promo/rules/engine.py` | Add | As the issue describes |",
                     "| `src/shop/cart.py` | Modify | As the issue describes |"]


def test_an_adopted_design_is_never_written_over_when_its_input_changes_until_replaced(workspace: Workspace,
                                                                                      fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(5, body="First.")
    workspace.write("docs/lld/active/LLD-005.md", HUMAN_LLD)
    workspace.write("docs/lineage/active/5-lld/001-draft.md", "kept by hand\n")
    _commit_all(workspace)
    committed = _snapshot(workspace, "docs")
    tool = str(BIN / "agentos-jobs")
    assert workspace.doit("lld").returncode == 1 and workspace.statuses() == {"LLD-5": "exists"}
    adopted = workspace.command(tool, "adopt", "lld", "5")
    assert adopted.returncode == 0 and "'agentos-jobs replace lld 5'" in adopted.stdout, adopted.stdout
    assert workspace.doit("lld").returncode == 0 and workspace.statuses() == {"LLD-5": "up-to-date"}

    workspace.add_issue(5, body="Second: a line added.")  # as an edit, or `doit sync_issues`, would change it
    changed = workspace.doit("lld")
    assert changed.returncode == 1 and workspace.statuses() == {"LLD-5": "exists"}, changed.stdout
    assert ("docs/lld/active/LLD-005.md and 1 more file(s) not written by agentos-jobs (adopted for an earlier "
            "version of the input), left untouched: 'agentos-jobs adopt lld 5' takes it as done") in changed.stdout
    assert workspace.command(tool, "adopt", "lld", "--all").stdout.startswith("LLD-5: adopted")  # done as it is
    workspace.add_issue(5, body="Third.")
    assert workspace.doit("clean", "lld:5").returncode == 0
    assert workspace.doit("lld").returncode == 1 and workspace.statuses() == {"LLD-5": "exists"}
    assert _snapshot(workspace, "docs") == {**committed, "docs/issues/5.md": (workspace.root / "docs/issues/5.md")
                                            .read_bytes()}
    assert not (workspace.root / "docs/lineage/superseded").exists() and not fake.calls

    # replace, then a change of mind: adopt again makes it the person's again
    assert workspace.command(tool, "replace", "lld", "5").returncode == 0
    assert workspace.command(tool, "adopt", "lld", "5").returncode == 0
    workspace.add_issue(5, body="Fourth.")
    assert workspace.doit("lld").returncode == 1 and workspace.statuses() == {"LLD-5": "exists"}
    assert (workspace.root / "docs/lld/active/LLD-005.md").read_text() == HUMAN_LLD and not fake.calls

    assert workspace.command(tool, "replace", "lld", "5").returncode == 0  # only replace lets a run write over it
    replaced = workspace.doit("lld")
    assert replaced.returncode == 0 and workspace.statuses() == {"LLD-5": "done"}, replaced.stdout
    assert (workspace.root / "docs/lld/active/LLD-005.md").read_text().startswith("---\nissue: 5\n")
    assert len(list((workspace.root / "docs/lineage/superseded").glob("5-lld-*/001-draft.md"))) == 1


def test_a_committed_lld_under_the_repositorys_own_name_is_the_items_design_not_drafted_again(
        workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    for number in (4, 7, 42):
        workspace.add_issue(number)
    workspace.write("docs/lld/active/LLD-42.md", HUMAN_LLD)
    workspace.write("docs/lld/active/lld-007-Cache.MD", HUMAN_LLD)
    workspace.write("docs/lld/active/LLD-40.md", HUMAN_LLD)  # item 40's, of no item here: 4 runs beside it
    _commit_all(workspace)
    listing = workspace.doit("list", "--all", "-s").stdout
    assert "(exists: docs/lld/active/LLD-42.md not written by agentos-jobs" in listing, listing
    assert "(exists: docs/lld/active/lld-007-Cache.MD not written" in listing and "lld:4         Issue 4\n" in listing
    result = workspace.doit("lld")
    assert result.returncode == 1 and workspace.statuses() == {"LLD-4": "done", "LLD-7": "exists", "LLD-42": "exists"}
    assert len(fake.calls) == 2  # item 4's draft and review: no second design of 7 or 42 is paid for
    lld = workspace.root / "docs/lld/active"
    assert sorted(p.name for p in lld.iterdir()) == ["LLD-004.md", "LLD-40.md", "LLD-42.md", "lld-007-Cache.MD"]
    tool = str(BIN / "agentos-jobs")
    adopted = workspace.command(tool, "adopt", "lld", "42")
    assert adopted.returncode == 0 and adopted.stdout.startswith("LLD-42: adopted docs/lld/active/LLD-42.md")
    replaced = workspace.command(tool, "replace", "lld", "7")
    assert replaced.stdout == ("LLD-7: the next run may write over docs/lld/active/lld-007-Cache.MD (1 file(s); git "
                               "keeps what is committed)\n"), replaced.stdout  # it has no lineage to move aside
    assert workspace.doit("lld").returncode == 0, workspace.statuses()
    assert workspace.statuses() == {"LLD-4": "up-to-date", "LLD-7": "done", "LLD-42": "up-to-date"}
    assert (lld / "lld-007-Cache.MD").read_text().startswith("---\nissue: 7\n")  # written in its place, once
    assert (lld / "LLD-42.md").read_text() == HUMAN_LLD and not (lld / "LLD-007.md").exists()
