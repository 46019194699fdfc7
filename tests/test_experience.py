"""What a person meets: the files a run writes, its terminal, its conventions (issue 9)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from conftest import BIN, Workspace


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
    script = ("import sys; from pathlib import Path; from agentos_jobs.fsutil import atomic_write_json as w; "
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
