"""What a person meets: the files a run writes, its terminal, its conventions (issue 9)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import BIN, Terminal, Workspace, rendered_rows


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    """The child processes inherit it: the umask of the shell a person types in."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_outputs_get_the_umask_mode_and_private_state_stays_private(workspace: Workspace) -> None:
    workspace.add_issue(1)
    (workspace.home / ".agentos").mkdir()
    with _umask(0o002):
        done = workspace.doit("lld")
        init = workspace.command(str(BIN / "agentos-jobs"), "init", "--root", str(workspace.root / "other"))
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = [workspace.root / "docs/lld/active/LLD-001.md", *sorted((workspace.root / "docs/lineage").rglob("*.md"))]
    assert len(outputs) >= 3
    assert {str(p.relative_to(workspace.root)): _mode(p) for p in outputs} == {
        str(p.relative_to(workspace.root)): 0o664 for p in outputs}
    assert init.returncode == 0, init.stderr
    assert _mode(workspace.root / "other/dodo.py") == 0o664 and _mode(workspace.root / "other/pyproject.toml") == 0o664


def test_a_leased_key_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from agentos_jobs.core.fsutil import atomic_write_json as w; "
              "w(Path(sys.argv[1]) / 'credentials.lease.json', {}, private=True); w(Path(sys.argv[1]) / 's.json', {})")
    with _umask(0o002):
        subprocess.run([str(BIN / "python"), "-c", script, str(tmp_path)], check=True)
    assert _mode(tmp_path / "credentials.lease.json") == 0o600
    assert _mode(tmp_path / "s.json") == 0o664


def test_init_keeps_an_existing_pyprojects_mode_and_line_endings(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    original = b'[project]\r\nname = "mine"\r\n'
    (root / "pyproject.toml").write_bytes(original)
    (root / "pyproject.toml").chmod(0o664)
    with _umask(0o022):
        done = subprocess.run([str(BIN / "agentos-jobs"), "init"], cwd=root, capture_output=True, text=True,
                              check=False, env={"PATH": str(BIN), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    data = (root / "pyproject.toml").read_bytes()
    assert data.startswith(original) and b"[tool.agentos_jobs]\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n")  # every line of it, old and new, ends the way the file did
    assert _mode(root / "pyproject.toml") == 0o664


BLOCK_SDK = '''
import sys


class _NotInstalled:
    """This machine, as one without the provider's SDK: the import system finds no such package."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] == "openai":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled)
'''


def test_a_missing_sdk_stops_the_run_before_any_item_starts(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    workspace.write("site/sitecustomize.py", BLOCK_SDK)
    result = workspace.doit("-n", "3", "lld", extra_env={
        "PYTHONPATH": str(workspace.root / "site"), "AGENTOS_PROVIDER": "openai", "AGENTOS_MODEL": "gpt-test",
        "OPENAI_API_KEY": "sk-test-0123456789abcdef"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr == ("agentos-jobs: error: provider 'openai' needs its SDK (openai is not installed); "
                             "run: pip install 'agentos-jobs[openai]'\n")
    assert "[LLD-" not in result.stdout and not workspace.runs()  # no item started, no run to summarise


def test_a_missing_key_names_its_own_provider_and_the_variable_it_ignored(workspace: Workspace) -> None:
    workspace.add_issue(1)
    credentials = workspace.home / "credentials.json"
    credentials.write_text('{"credentials": [{"name": "k", "provider": "openai", "key": "sk-openai-0123456789"}]}')
    credentials.chmod(0o600)
    result = workspace.doit("lld", extra_env={
        "AGENTOS_CREDENTIALS": str(credentials), "AGENTOS_PROVIDER": "anthropic", "AGENTOS_MODEL": "claude-test",
        "ANTHROPIC_API_KEY": "sk-ant-0123456789abcdef"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and f"no enabled anthropic key in {credentials}" in result.stderr
    assert "(ANTHROPIC_API_KEY is set but not used: when the credentials file exists" in result.stderr
    assert '"provider": "anthropic"' in result.stderr and '"provider": "openai"' not in result.stderr
    assert "sk-ant-0123456789abcdef" not in result.stderr


def test_a_narrow_terminal_keeps_no_stale_progress_rows_and_the_line_follows_a_resize(workspace: Workspace) -> None:
    for number in range(1, 9):
        workspace.add_issue(number)
    term = Terminal(workspace, "-n", "3", "lld", env={"AGENTOS_OFFLINE_LATENCY": "0.4"}, columns=60)
    workspace.wait_for(lambda: b"progress: " in term.screen, what="a first progress line")
    term.resize(40)
    time.sleep(0.6)  # a redraw drawn before the resize may still be on its way
    after_resize = len(term.screen)
    assert term.wait(timeout=60) == 0, term.text()
    rows = rendered_rows(bytes(term.screen[:after_resize]), 60)
    assert [row for row in rows if "progress:" in row] == []  # each draw replaced the last one whole
    draws = [part.split("\r")[0].split("\x1b")[0] for part in term.text()[after_resize:].split("\r\x1b[K")]
    progress = [draw for draw in draws if draw.startswith("progress: ")]
    assert progress and max(len(draw) for draw in progress) <= 39, progress


def test_the_progress_line_counts_each_status_as_the_summary_does(workspace: Workspace) -> None:
    workspace.add_issue(1, criteria=())  # no acceptance criteria: the offline reviewer never approves it
    workspace.add_issue(2)
    result = workspace.doit("-n", "1", "lld", extra_env={
        "AGENTOS_PROGRESS": "plain", "AGENTOS_PROGRESS_INTERVAL": "0.2", "AGENTOS_OFFLINE_LATENCY": "0.3"})
    assert result.returncode == 1, result.stdout
    assert workspace.statuses() == {"LLD-1": "needs-revision", "LLD-2": "done"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("progress: ")]
    assert any("1 needs-revision" in line for line in lines), lines
    assert not any("failed" in line for line in lines), lines


def test_statuses_are_coloured_on_a_terminal_and_plain_with_no_color_or_in_a_pipe(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2, criteria=())  # needs-revision
    term = Terminal(workspace, "-n", "2", "lld", env={})
    assert term.wait(timeout=60) == 1
    assert "\x1b[32mdone\x1b[0m" in term.text() and "\x1b[33mneeds-revision\x1b[0m" in term.text(), term.text()
    listing = workspace.command(str(BIN / "agentos-jobs"), "report")  # a pipe
    assert listing.returncode == 0 and "needs-revision" in listing.stdout and "\x1b[" not in listing.stdout
    for flag in (False, True):
        workspace.marker("lld", "1").unlink()
        term = Terminal(workspace, "lld", env={"NO_COLOR": "1"} if flag else {"TERM": "dumb"})
        assert term.wait(timeout=60) == 1
        assert "\x1b[3" not in term.text() and "needs-revision" in term.text()


def test_an_ignored_item_is_shown_as_the_users_choice_and_the_run_succeeds(workspace: Workspace) -> None:
    for number in (1, 2):
        workspace.add_issue(number)
    assert workspace.doit("ignore", "lld:2").returncode == 0
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "ignored"}
    assert "doit forget lld:2" in result.stdout


def test_fail_fast_starts_nothing_after_the_first_failure_and_says_so(workspace: Workspace) -> None:
    workspace.add_issue(1, criteria=())  # needs-revision: a shortfall, like a failure
    for number in (2, 3, 4, 5):
        workspace.add_issue(number)
    result = workspace.doit("-n", "1", "lld", extra_env={"AGENTOS_FAIL_FAST": "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = workspace.statuses()
    assert statuses["LLD-1"] == "needs-revision" and set(statuses.values()) == {"needs-revision", "not-started"}
    assert workspace.summary()["halted_after"] == "LLD-1"
    assert "fail_fast: no item was started after LLD-1 failed" in result.stdout
    assert "4 items  not-started" in result.stdout  # one counted row; summary.json names each
    assert sum(row["status"] == "not-started" for row in workspace.summary()["items"]) == 4
    assert "[LLD-2]" not in result.stdout and ".  lld:1" not in result.stdout  # doit's own line is not repeated


def test_version_and_the_list_of_past_runs(workspace: Workspace) -> None:
    from agentos_jobs import __version__

    version = workspace.command(str(BIN / "agentos-jobs"), "--version")
    assert version.returncode == 0 and version.stdout == f"agentos-jobs {__version__}\n"
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 0
    assert workspace.doit("lld").returncode == 0
    runs = workspace.command(str(BIN / "agentos-jobs"), "report", "--list")
    lines = runs.stdout.splitlines()
    assert runs.returncode == 0 and lines[0].split() == ["RUN", "STARTED", "TIME", "ITEMS", "EXIT", "OUTCOME"]
    assert [line.split()[0] for line in lines[1:]] == [p.parent.name for p in sorted(workspace.runs())]
    assert lines[1].endswith("1 done") and lines[2].endswith("1 up-to-date")


def _listing(workspace: Workspace) -> dict[str, str]:
    rows = [line.split() for line in workspace.doit("list", "--all", "-s").stdout.splitlines()]
    return {row[1]: row[0] for row in rows if row[1].startswith("lld")}


def test_doit_clean_is_the_way_to_run_an_item_again(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.add_issue(2)
    assert workspace.doit("lld").returncode == 0
    lld = workspace.root / "docs/lld/active/LLD-001.md"
    before = lld.read_bytes()
    assert _listing(workspace) == {"lld": "U", "lld:1": "U", "lld:2": "U"}  # the group too, once all are done
    dry = workspace.doit("clean", "--dry-run", "lld:1")
    assert "LLD-1: would remove" in dry.stdout and workspace.marker("lld", "1").exists()
    cleaned = workspace.doit("clean", "lld:1")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "LLD-1: removed" in cleaned.stdout and not workspace.marker("lld", "1").exists()
    assert workspace.marker("lld", "2").exists() and lld.read_bytes() == before  # committed work is never removed
    assert _listing(workspace) == {"lld": "R", "lld:1": "R", "lld:2": "U"}
    again = workspace.doit("lld")
    assert again.returncode == 0 and workspace.statuses() == {"LLD-1": "done", "LLD-2": "up-to-date"}


def test_doit_features_that_would_bypass_the_run_are_refused_in_one_line(workspace: Workspace) -> None:
    workspace.add_issue(1)
    for args in (("strace", "lld:1"), ("--reporter=json", "lld:1"), ("-r", "json", "lld"), ("run", "-r", "json")):
        result = workspace.doit(*args)
        assert result.returncode == 3, (args, result.stdout + result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("agentos-jobs: "), result.stderr
        assert not workspace.marker("lld", "1").exists() and "Traceback" not in result.stderr
