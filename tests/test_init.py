"""`agentos-jobs init` makes a repository ready and changes nothing the second time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import BIN, Workspace


def _init(root: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "agentos-jobs"), "init"], cwd=root, capture_output=True, text=True,
                          check=False, env=env)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_init_is_idempotent_and_keeps_existing_pyproject(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    original = '[project]\nname = "mine"\n\n[tool.ruff]\nline-length = 99\n'
    (root / "pyproject.toml").write_text(original)
    env = {"PATH": str(BIN), "HOME": str(tmp_path)}
    first = _init(root, env)
    assert first.returncode == 0, first.stderr
    assert "wrote dodo.py" in first.stdout and "added [tool.agentos_jobs] to pyproject.toml" in first.stdout
    text = (root / "pyproject.toml").read_text()
    assert text.startswith(original) and "[tool.agentos_jobs]" in text
    assert (root / ".agentos/.gitignore").read_text().splitlines()[-1] == "*"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    assert ".agentos" not in status  # ignored by its own .gitignore
    before = _snapshot(root)
    second = _init(root, env)
    assert second.returncode == 0
    assert "unchanged" in second.stdout and "wrote" not in second.stdout
    assert _snapshot(root) == before
    listing = subprocess.run([str(BIN / "doit"), "list"], cwd=root, capture_output=True, text=True, env=env)
    assert listing.returncode == 0 and "lld" in listing.stdout


def test_init_leaves_a_foreign_dodo_alone_and_refuses_broken_toml(tmp_path: Path) -> None:
    (tmp_path / "dodo.py").write_text("def task_hello():\n    return {'actions': ['echo hi']}\n")
    (tmp_path / "pyproject.toml").write_text("[project\nname=")
    result = _init(tmp_path, {"PATH": str(BIN), "HOME": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr.startswith("agentos-jobs: error: ") and "pyproject.toml: not valid TOML" in result.stderr
    assert (tmp_path / "pyproject.toml").read_text() == "[project\nname="
    assert "echo hi" in (tmp_path / "dodo.py").read_text()


def test_bad_setting_is_one_line_naming_the_key(tmp_path: Path) -> None:
    _init(tmp_path, {"PATH": str(BIN), "HOME": str(tmp_path)})
    with (tmp_path / "pyproject.toml").open("a") as handle:
        handle.write("\n")
    text = (tmp_path / "pyproject.toml").read_text().replace("max_iterations = 3", "max_iterations = 0")
    (tmp_path / "pyproject.toml").write_text(text)
    result = subprocess.run([str(BIN / "doit"), "lld"], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": str(BIN), "HOME": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        "ERROR: pyproject.toml:6 [tool.agentos_jobs]: max_iterations must be a positive whole number, got 0"]


@pytest.mark.parametrize("variable, value, expected", [
    ("AGENTOS_PROGRESS_INTERVAL", "abc", "progress_interval_seconds must be a positive finite number, got 'abc'"),
    ("AGENTOS_PROGRESS_INTERVAL", "0", "progress_interval_seconds must be a positive finite number, got '0'"),
    ("AGENTOS_OFFLINE_LATENCY", "inf", "offline_latency_seconds must be a non-negative finite number, got 'inf'"),
    ("AGENTOS_MAX_BACKOFF", "nan", "max_backoff_seconds must be a positive finite number, got 'nan'"),
    ("AGENTOS_PROGRESS", "loud", "progress must be one of auto, plain, off, got 'loud'"),
])
def test_a_bad_environment_value_stops_the_run_in_one_line(workspace: Workspace, variable: str, value: str,
                                                           expected: str) -> None:
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={variable: value})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"ERROR: environment variable {variable}: {expected}"]
    assert not workspace.marker("lld", "1").exists() and workspace.checkpoints() == []


def test_a_base_dir_that_cannot_be_written_stops_the_run_before_it_starts(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.base.mkdir(parents=True, exist_ok=True)
    (workspace.base / "runs").write_text("not a directory")
    result = workspace.doit("lld")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"ERROR: {workspace.base / 'runs'}: cannot be written (a file is in the way); fix it or set AGENTOS_BASE_DIR "
        "to a writable directory"]
    assert not workspace.marker("lld", "1").exists() and not (workspace.root / "docs/lineage").exists()


@pytest.mark.parametrize("content, expected", [
    ("tool = 5\n", "pyproject.toml:1: 'tool' must be a table; fix the file"),
    ("x = [\n", "pyproject.toml:1: not valid TOML: Invalid value; fix that line"),
    (None, "pyproject.toml: cannot be read (Is a directory); fix the file"),
])
def test_a_broken_pyproject_is_one_line_naming_it(workspace: Workspace, content: str | None, expected: str) -> None:
    pyproject = workspace.root / "pyproject.toml"
    pyproject.unlink(missing_ok=True)
    if content is None:
        pyproject.mkdir()
    else:
        pyproject.write_text(content)
    result = workspace.command(str(BIN / "agentos-jobs"), "keys")
    assert result.returncode == 3
    assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr


def test_init_follows_the_repositorys_own_template_and_folders_and_says_so(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for path, text in {"docs/templates/0102-feature-lld-template.md": "# Feature\n\n## 1. Context\n\n## 2. Plan\n",
                       "docs/templates/0106-lld-pre-impl-review.md": "# Review\n",
                       "docs/templates/0101-issue-template.md": "# Issue\n",
                       "docs/issues/12-lld-template-cache.md": "# An issue, not a template\n",
                       "notes/lld-template.md": "# Not in a templates folder\n",
                       "design/lld/current/LLD-042.md": "# 42\n", "design/lld/current/LLD-043.md": "# 43\n",
                       "design/lld/done/LLD-007.md": "# 7\n",
                       "design/history/42-lld/001-draft.md": "draft\n",
                       "design/history/42-lld/templates-lld-notes.md": "not a template: a round\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    result = _init(root, {"PATH": str(BIN), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    stanza = (root / "pyproject.toml").read_text()
    assert 'lld_template = "docs/templates/0102-feature-lld-template.md"' in stanza
    assert 'lld_dir = "design/lld/current"' in stanza and 'lineage_dir = "design/history"' in stanza
    assert ('lld_template = "docs/templates/0102-feature-lld-template.md": the repository\'s own LLD template'
            in result.stdout)
    assert "(also there: docs/templates/0106-lld-pre-impl-review.md, notes/lld-template.md)" in result.stdout
    assert 'lld_dir = "design/lld/current": it already holds 2 LLD-<N>.md files; also design/lld/done' in result.stdout
    assert 'lineage_dir = "design/history": it already holds 1 <N>-lld lineage folders' in result.stdout
    (root / "docs/issues/12-lld-template-cache.md").unlink()
    (root / "docs/issues/42.md").write_text("# Forty-two\n\nIt should.\n\n- [ ] it does\n")
    env = {"PATH": str(BIN), "HOME": str(tmp_path), "AGENTOS_BASE_DIR": str(tmp_path / "base")}
    listing = subprocess.run([str(BIN / "doit"), "list", "--all", "-s"], cwd=root, capture_output=True, text=True,
                             env=env)
    assert "(exists: design/lld/current/LLD-042.md and 2 more file(s) not written by agentos-jobs" in listing.stdout


def test_init_ends_with_the_next_steps_and_offers_an_example_only_where_there_is_no_issue(tmp_path: Path) -> None:
    env = {"PATH": str(BIN), "HOME": str(tmp_path), "AGENTOS_BASE_DIR": str(tmp_path / "base")}
    first = _init(tmp_path, env)
    assert first.returncode == 0, first.stderr
    steps = first.stdout[first.stdout.index("next steps:"):]
    assert "1. put each issue in docs/issues/ as <N>.md" in steps and "2. doit list --all -s" in steps
    assert "3. doit -n 3 lld" in steps and "into docs/lld/active/" in steps
    assert "docs/issues/ has no issue yet: 'agentos-jobs init --example' writes one to try a run on" in steps
    assert not (tmp_path / "docs/issues").exists()  # offered, not written
    example = subprocess.run([str(BIN / "agentos-jobs"), "init", "--example"], cwd=tmp_path, capture_output=True,
                             text=True, env=env)
    assert "wrote docs/issues/1-example.md, an example issue to try a run on" in example.stdout
    run = subprocess.run([str(BIN / "doit"), "lld"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0 and (tmp_path / "docs/lld/active/LLD-001.md").exists(), run.stdout + run.stderr
    (tmp_path / "docs/issues/1-example.md").unlink()
    (tmp_path / "docs/issues/7.md").write_text("# Mine\n\nIt should.\n\n- [ ] it does\n")
    again = subprocess.run([str(BIN / "agentos-jobs"), "init", "--example"], cwd=tmp_path, capture_output=True,
                           text=True, env=env)
    assert "no example written: docs/issues/ has issues already" in again.stdout
    assert sorted(p.name for p in (tmp_path / "docs/issues").iterdir()) == ["7.md"]


@pytest.mark.parametrize("tool, expected", [
    ("tool = {black = {line-length = 100}}\n", "pyproject.toml:3: 'tool' is an inline table (tool = {...}), which "
     "no [tool.agentos_jobs] table can be added to: write it as [tool.<name>] tables, then run 'agentos-jobs init' "
     "again"),
    ("tool = 5\n", "pyproject.toml:3: 'tool' must be a table; fix the file"),
])
def test_init_on_a_tool_key_it_cannot_add_to_is_one_line_and_writes_nothing(tmp_path: Path, tool: str,
                                                                            expected: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    original = f'name = "mine"\n\n{tool}\n[project]\nversion = "1"\n'
    (root / "pyproject.toml").write_text(original)
    result = _init(root, {"PATH": str(BIN), "HOME": str(tmp_path)})
    assert result.returncode == 3 and result.stdout == "", result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr
    assert _snapshot(root) == {"pyproject.toml": original.encode()}  # no dodo.py, no .agentos: nothing half done
