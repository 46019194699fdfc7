"""Hostile and odd inputs: names that are not UTF-8 or hold escape sequences, links out of the repository,
files that are no item, and task names doit would misread. Each is named once, escaped, and the rest runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from agentos_jobs.core.errors import NotRepoContent
from agentos_jobs.repo.files import read_repo_file, repo_content_problem

from conftest import BIN, Workspace, issue_text
from fake_llm import FakeLLM, use_provider

RAW = (b"\x1b", b"\x07", "\u202e".encode(), b"\xff", b"\xe9", b"Traceback", b"please report")


def run(ws: Workspace, *args: str) -> tuple[int, bytes, bytes]:
    """A command's exit code and raw output: what reaches the terminal, byte for byte."""
    done = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ws.root, env=ws.env, capture_output=True,
                          timeout=90, check=False)
    for raw in RAW:
        assert raw not in done.stdout + done.stderr, (raw, done.stdout + done.stderr)
    return done.returncode, done.stdout, done.stderr


def said(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("agentos-jobs: ")]


def test_a_name_that_is_not_utf8_is_named_escaped_and_the_others_run(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    workspace.write(os.fsdecode(b"docs/issues/5-\xff.md"), issue_text("Five"))
    workspace.write("ideas/active/good.md", "# Good idea\n\nDo it.\n")
    workspace.write(os.fsdecode(b"ideas/active/caf\xe9.md"), "# Cafe\n\nCoffee.\n")
    lines = ["agentos-jobs: ignored docs/issues/5-\\xff.md: its name is not UTF-8; rename it",
             "agentos-jobs: ignored ideas/active/caf\\xe9.md: its name is not UTF-8; rename it"]

    code, out, err = run(workspace, "doit", "list", "--all", "-s")
    assert code == 0 and said(err) == lines
    assert b"lld:1" in out and b"lld:2" in out and b"issue:good" in out and b"lld:5" not in out

    code, out, err = run(workspace, "doit", "lld", "issue")
    assert code == 0 and said(err) == lines, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "ISSUE-good": "done"}


def test_a_link_out_of_the_repository_is_never_read(workspace: Workspace, fake: FakeLLM, tmp_path: Path) -> None:
    planted = "DB_PASSWORD=hunter2-secret"
    elsewhere = tmp_path / "elsewhere" / ".env"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f"# Settings\n\n{planted}\n\n## Acceptance criteria\n- [ ] {planted}\n")
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1)
    workspace.write("notes/3.md", issue_text("Three"))
    (workspace.root / "docs/issues/9.md").symlink_to(elsewhere)
    (workspace.root / "docs/issues/3.md").symlink_to("../../notes/3.md")  # a link inside the repository is fine
    workspace.write(".env.draft", elsewhere.read_text())  # ... but not to a file the repository never shows
    (workspace.root / "docs/issues/7.md").symlink_to("../../.env.draft")
    workspace.write(".drafts/8.md", elsewhere.read_text())  # outside git, the walk leaves hidden folders out
    (workspace.root / "docs/issues/8.md").symlink_to("../../.drafts/8.md")
    (workspace.root / "ideas/active").mkdir(parents=True)
    (workspace.root / "ideas/active/env.md").symlink_to(elsewhere)
    (workspace.root / "ideas/active/up.md").symlink_to("../../../elsewhere/.env")
    ignored = ["agentos-jobs: ignored docs/issues/7.md: it is a link to .env.draft, whose name looks like a secret's",
               "agentos-jobs: ignored docs/issues/8.md: it is a link to .drafts/8.md, which the repository's file list "
               "leaves out",
               f"agentos-jobs: ignored docs/issues/9.md: it leads outside the repository, to {elsewhere}",
               f"agentos-jobs: ignored ideas/active/env.md: it leads outside the repository, to {elsewhere}",
               f"agentos-jobs: ignored ideas/active/up.md: it leads outside the repository, to {elsewhere}"]

    code, out, err = run(workspace, "doit", "list", "--all", "-s")
    assert code == 0 and said(err) == ignored
    code, out, err = run(workspace, "doit", "lld", "issue")
    assert code == 0 and said(err) == ignored, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-3": "done"}
    code, out, err = run(workspace, "agentos-jobs", "run", "lld", "9")
    assert code == 1 and said(err) == ["agentos-jobs: error: no lld item '9' in "
                                       f"{workspace.root / 'docs/issues'}; 'doit list --all' shows the items "
                                       "there are, and why a file is ignored"]

    sent = b"".join(request.get_data() for request, _ in fake.server.log)
    assert b"Three" in sent and b"hunter2" not in sent
    for folder in (workspace.base, workspace.root / "docs"):
        for path in folder.rglob("*"):
            assert path.is_symlink() or not path.is_file() or b"hunter2" not in path.read_bytes(), path


def test_escape_sequences_in_file_names_never_reach_the_terminal(workspace: Workspace) -> None:
    folder = "docs/bad\x1b]0;x\x07\u202eissues"
    pyproject = workspace.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"docs/issues"', '"docs/bad\\u001b]0;x\\u0007\\u202eissues"'))
    workspace.write(f"{folder}/1.md", issue_text("One"))
    workspace.write(f"{folder}/2.md", "no heading here\n")
    workspace.write(f"{folder}/7-\x1b[2J\x1b]0;pwned\x07.md", issue_text("Seven"))
    workspace.write(f"{folder}/8-\u202egpj.md", issue_text("Eight"))
    shown = "docs/bad\\x1b]0;x\\x07\\u202eissues"
    ignored = [f"agentos-jobs: ignored {shown}/7-\\x1b[2J\\x1b]0;pwned\\x07.md: its name holds characters that "
               "cannot be shown (here escaped); rename it",
               f"agentos-jobs: ignored {shown}/8-\\u202egpj.md: its name holds characters that cannot be shown "
               "(here escaped); rename it"]

    code, out, err = run(workspace, "doit", "list", "--all", "-s")
    assert code == 0 and said(err) == ignored
    code, out, err = run(workspace, "doit", "lld")
    assert code == 1 and said(err) == ignored
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "failed"}
    assert f"/{shown}/2.md: the first line is not a '# Title' heading".encode() in out
    code, out, err = run(workspace, "agentos-jobs", "report")
    assert code == 0 and f"/{shown}/2.md: the first line".encode() in out


def test_an_equals_sign_in_a_task_id_is_refused(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    for argument in ("lld:2=x", "lld=2", "issue:a=b"):
        code, out, err = run(workspace, "doit", argument)
        assert (code, out) == (3, b""), err
        assert err.decode() == (f"agentos-jobs: '{argument}' is not a task: doit reads NAME=VALUE as a variable "
                                "and would run every pending item; task ids hold no '=' ('doit list --all' "
                                "shows them)\n")
    assert not workspace.base.joinpath("runs").exists() and not workspace.base.joinpath("done").exists()


def test_a_task_pattern_that_matches_nothing_is_refused(workspace: Workspace) -> None:
    workspace.add_issue(1)
    for argument in ("lld:99", "lld:9*", "issue:nothing"):
        code, out, err = run(workspace, "doit", argument)
        folder = "docs/issues" if argument.startswith("lld") else "ideas/active"
        assert (code, out) == (3, b""), err
        assert err.decode() == (f"agentos-jobs: '{argument}' matches no item in {folder}; 'doit list --all' "
                                "shows the items there are, and why a file is ignored\n")
        code, out, err = run(workspace, "doit", "list", argument)
        assert code == 3 and len(err.splitlines()) == 1
    assert not workspace.base.joinpath("runs").exists()
    code, out, err = run(workspace, "doit", "lld:1*")
    assert code == 0 and workspace.statuses() == {"LLD-1": "done"}


def test_every_file_that_is_no_item_is_named_once_and_the_rest_runs(workspace: Workspace) -> None:
    issues = workspace.root / "docs/issues"
    workspace.add_issue(1)
    workspace.write("docs/issues/2.md", b"\xef\xbb\xbf" + issue_text("Two with a byte-order mark").encode())
    workspace.write("docs/issues/notes.md", "# Notes\n")
    workspace.write("docs/issues/.gitkeep", "")  # hidden and no input: passed over in silence
    (issues / "drafts").mkdir()  # a folder of its own: passed over in silence
    (issues / "42.md").mkdir()
    os.mkfifo(issues / "43.md")
    (issues / "44.md").symlink_to("gone.md")
    (issues / "45.md").symlink_to("45.md")
    workspace.write(f"docs/issues/{'9' * 101}.md", issue_text("Long"))
    workspace.write(f"docs/issues/{'0' * 150}3.md", issue_text("Three, zero-padded"))
    workspace.write("docs/issues/\uff11\uff12.md", issue_text("Twelve in full-width digits"))
    workspace.write("docs/issues/.6.md", issue_text("Hidden"))
    workspace.write("ideas/active/.draft.md", "# A hidden brief\n")
    workspace.write("ideas/active/idea.txt", "not Markdown\n")
    workspace.write("ideas/active/real.md", "\ufeff# A real brief\n\nWith a byte-order mark.\n")
    expected = [
        "agentos-jobs: ignored docs/issues/.6.md: its name starts with '.'",
        "agentos-jobs: ignored docs/issues/42.md: it is a directory, not a file",
        "agentos-jobs: ignored docs/issues/43.md: it is a FIFO, not a regular file",
        "agentos-jobs: ignored docs/issues/44.md: it is a link to a missing file",
        "agentos-jobs: ignored docs/issues/45.md: it is a link loop",
        f"agentos-jobs: ignored docs/issues/{'9' * 101}.md: an issue number of 101 digits (at most 100)",
        "agentos-jobs: ignored docs/issues/notes.md: not <N>.md, <N>-<slug>.md or <N>.json",
        "agentos-jobs: ignored docs/issues/\uff11\uff12.md: its number is not in the digits 0-9",
        "agentos-jobs: ignored ideas/active/.draft.md: its name starts with '.'",
        "agentos-jobs: ignored ideas/active/idea.txt: not a *.md brief",
    ]
    code, out, err = run(workspace, "doit", "list", "--all", "-s")
    assert code == 0 and said(err) == expected, err
    tasks = [line.split()[1] for line in out.decode().splitlines()]
    assert [name for name in tasks if ":" in name] == ["issue:real", "lld:1", "lld:2", "lld:3"]
    assert b"Two with a byte-order mark" in out and b"A real brief" in out
    code, out, err = run(workspace, "doit", "lld", "issue")
    assert code == 0 and said(err) == expected, out + err
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done", "ISSUE-real": "done"}


def test_what_may_be_read_as_repository_content(tmp_path: Path) -> None:
    """The check that every input (and every context file sent to a model) goes through."""
    root, outside = tmp_path / "repo", tmp_path / "secret.env"
    (root / "docs").mkdir(parents=True)
    outside.write_text("DB_PASSWORD=hunter2-secret\n")
    (root / "docs/real.md").write_text("inside\n")
    links = {"in.md": "real.md", "out.md": str(outside), "up.md": "../../secret.env", "gone.md": "nothing.md",
             "loop.md": "loop.md"}
    for name, target in links.items():
        (root / "docs" / name).symlink_to(target)
    os.mkfifo(root / "docs/fifo.md")
    assert repo_content_problem(root / "docs/real.md", root) is None
    assert repo_content_problem(root / "docs/in.md", root) is None
    assert read_repo_file(root / "docs/in.md", root) == b"inside\n"
    for name in ("out.md", "up.md"):
        assert repo_content_problem(root / "docs" / name, root) == f"it leads outside the repository, to {outside}"
        with pytest.raises(NotRepoContent):
            read_repo_file(root / "docs" / name, root)
    assert repo_content_problem(root / "docs/gone.md", root) == "it is a link to a missing file"
    assert repo_content_problem(root / "docs/loop.md", root) == "it is a link loop"
    assert repo_content_problem(root / "docs", root) == "it is a directory, not a file"
    assert repo_content_problem(root / "docs/fifo.md", root) == "it is a FIFO, not a regular file"
    with pytest.raises(NotRepoContent, match="FIFO"):
        read_repo_file(root / "docs/fifo.md", root)  # refused, not waited on
