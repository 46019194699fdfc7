"""The lease file under real processes: no lost update, no key handed to two holders, dead holders reclaimed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agentos_jobs.core.errors import CredentialsError
from agentos_jobs.core.fsutil import iso, utc_now
from agentos_jobs.core.os_process import start_time
from agentos_jobs.pool.credentials import Credential, load_credentials
from agentos_jobs.pool.key_entry import KeyEntry
from agentos_jobs.pool.policy import CredentialPool, PoolView
from agentos_jobs.providers.errors import wait_hint

from conftest import BIN, LEASE_CLIENTS, Workspace
from fake_llm import FakeLLM, rate_limited, secret, use_provider


def test_eight_processes_lose_no_update_and_never_share_a_key(tmp_path: Path) -> None:
    lease, held = tmp_path / "credentials.lease.json", tmp_path / "held"
    held.mkdir()
    rounds = 40
    procs = [subprocess.Popen([sys.executable, LEASE_CLIENTS, "hammer", str(lease), str(held), str(rounds),
                               f"W{n}", "3"], stderr=subprocess.PIPE, text=True) for n in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err  # a FileExistsError here means two holders at once
    state = json.loads(lease.read_text())
    assert sum(entry["granted"] for entry in state["keys"].values()) == 8 * rounds
    assert all(entry["holders"] == [] for entry in state["keys"].values())
    assert list(held.iterdir()) == []
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_lease_of_a_killed_holder_is_reclaimed_by_the_next_reservation(tmp_path: Path) -> None:
    lease = tmp_path / "credentials.lease.json"
    holder = subprocess.Popen([sys.executable, LEASE_CLIENTS, "hold", str(lease), "30"], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    pool = CredentialPool(lease, [Credential(name="only", provider="openai", key="s")], "run", print)
    busy = pool.try_reserve("openai", "LLD-2")
    assert isinstance(busy, PoolView) and busy.in_use == 1
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    reclaimed = pool.try_reserve("openai", "LLD-2")
    assert isinstance(reclaimed, Credential) and reclaimed.name == "only"
    entry = json.loads(lease.read_text())["keys"]["only"]
    assert entry["reclaimed"] == 1 and [h["item"] for h in entry["holders"]] == ["LLD-2"]
    assert "\"s\"" not in lease.read_text()


def test_max_concurrency_lets_a_key_be_shared(tmp_path: Path) -> None:
    pool = CredentialPool(tmp_path / "l.json", [Credential(name="k", provider="gemini", key="s", max_concurrency=2)],
                          "run", print)
    assert isinstance(pool.try_reserve("gemini", "A"), Credential)
    assert isinstance(pool.try_reserve("gemini", "B"), Credential)
    assert isinstance(pool.try_reserve("gemini", "C"), PoolView)


def test_cooling_expires_and_a_disabled_key_is_disabled_for_every_run_for_an_hour(tmp_path: Path) -> None:
    key = Credential(name="k", provider="openai", key="s")
    pool = CredentialPool(tmp_path / "l.json", [key], "run-1", print)
    pool.cool(key, 0.3, "429")
    view = pool.try_reserve("openai", "A")
    assert isinstance(view, PoolView) and view.only_cooling and view.next_free_at is not None
    time.sleep(0.35)
    got = pool.try_reserve("openai", "A")
    assert isinstance(got, Credential)
    pool.release(got)
    pool.disable(key, "insufficient_quota")
    assert isinstance(pool.try_reserve("openai", "A"), PoolView)
    later_run = CredentialPool(tmp_path / "l.json", [key], "run-2", print)  # another worktree, the same store
    assert isinstance(later_run.try_reserve("openai", "A"), PoolView)
    mark = json.loads((tmp_path / "l.json").read_text())["keys"]["k"]["disabled"]
    until = datetime.fromisoformat(mark["until"])
    assert timedelta(minutes=59) < until - datetime.fromisoformat(mark["at"]) <= timedelta(hours=1)
    assert "insufficient_quota (until " in later_run.snapshot()[0].describe()
    state = json.loads((tmp_path / "l.json").read_text())
    state["keys"]["k"]["disabled"]["until"] = "2020-01-01T00:00:00.000Z"  # the hour is over: tried again
    (tmp_path / "l.json").write_text(json.dumps(state))
    assert isinstance(later_run.try_reserve("openai", "A"), Credential)


def test_a_disabled_mark_of_an_older_version_holds_for_its_own_run_only(tmp_path: Path) -> None:
    lease = tmp_path / "l.json"
    lease.write_text(json.dumps({"version": 1, "keys": {"k": {"holders": [], "disabled": {
        "run_id": "run-1", "reason": "insufficient_quota", "at": "2026-01-01T00:00:00.000Z"}}}}))
    key = Credential(name="k", provider="openai", key="s")
    assert isinstance(CredentialPool(lease, [key], "run-1", print).try_reserve("openai", "A"), PoolView)
    assert isinstance(CredentialPool(lease, [key], "run-2", print).try_reserve("openai", "A"), Credential)


def test_wait_hints() -> None:
    assert wait_hint({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert wait_hint({"retry-after": "7"}) == 7.0
    assert wait_hint({}, "37s") == 37.0
    assert wait_hint({}, "1.5s") == 1.5
    assert wait_hint({}) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    hint = wait_hint({"retry-after": date})
    assert hint is not None and 25 <= hint <= 31


def test_credential_repr_hides_the_key() -> None:
    key = Credential(name="k", provider="openai", key="sk-very-secret")
    assert "sk-very-secret" not in repr(key) and "sk-very-secret" not in str(key)
    assert key.scrub("echo sk-very-secret back") == "echo <key k> back"


def test_a_lease_held_by_a_reused_pid_is_reclaimed(tmp_path: Path) -> None:
    lease = tmp_path / "l.json"
    lease.write_text(json.dumps({"version": 1, "keys": {"k": {"holders": [
        {"item": "LLD-1", "pid": 1, "started": "not-when-pid-1-started", "since": "2026-01-01T00:00:00Z"}]}}}))
    pool = CredentialPool(lease, [Credential(name="k", provider="openai", key="s")], "run", print)
    assert isinstance(pool.try_reserve("openai", "LLD-2"), Credential)


def test_a_lease_file_in_todays_shape_is_read_into_records_and_written_back_the_same(tmp_path: Path) -> None:
    soon, later = iso(utc_now() + timedelta(minutes=30)), iso(utc_now() + timedelta(minutes=40))
    today = {"version": 1, "keys": {
        "k1": {"provider": "openai", "scope": "org-1", "granted": 7, "reclaimed": 1, "strikes": 2,
               "holders": [{"item": "LLD-1", "pid": os.getpid(), "lease": "ab" * 8, "since": "2026-01-01T00:00:00Z",
                            "started": start_time(os.getpid())}],
               "cooling_until": soon, "cooling_reason": "openai said 429", "kept_for": {"call": "LLD-1#draft-1",
                                                                                        "until": later},
               "budget": {"requests": {"remaining": 0, "reset": later}, "tokens": {"remaining": None, "reset": soon}}},
        "k2": {"provider": "openai", "scope": None, "holders": [], "disabled": {
            "run_id": "run-1", "reason": "insufficient_quota", "at": "2026-01-01T00:00:00.000Z", "until": later}},
        "k3": {"holders": [{"item": "LLD-3", "pid": 7, "since": "2026-01-01T00:00:00Z", "host": "ci-2",
                            "expires": "2026-01-01T00:00:30+00:00"}]}}}  # a Redis entry, its times as written
    for name, entry in today["keys"].items():
        assert KeyEntry.from_json(name, entry).to_json() == entry
    lease, said = tmp_path / "l.json", []
    lease.write_text(json.dumps({**today, "keys": {k: v for k, v in today["keys"].items() if k != "k3"}}))
    pool = CredentialPool(lease, [Credential(name="k1", provider="openai", key="s", scope="org-1"),
                                  Credential(name="k2", provider="openai", key="t")], "run-2", said.append)
    states = {state.name: state for state in pool.snapshot()}
    assert not said and json.loads(lease.read_text())["keys"] == {k: today["keys"][k] for k in ("k1", "k2")}
    assert states["k1"].describe().startswith("held by LLD-1 (pid ") and "cooling until" in states["k1"].describe()
    assert states["k2"].describe() == f"disabled: insufficient_quota (until {later})"


def _holder(pid: object) -> dict[str, object]:
    return {"holders": [{"item": "LLD-1", "pid": pid, "since": "2026-01-01T00:00:00Z"}]}


@pytest.mark.parametrize("text", [
    json.dumps({"version": 1, "keys": {"k": {"holders": [], "cooling_until": "soon"}}}),
    json.dumps({"version": 1, "keys": {"k": _holder(0)}}),  # os.kill(0, 0) "succeeds": it would never be reclaimed
    json.dumps({"version": 1, "keys": {"k": _holder(-1)}}),
    json.dumps({"version": 1, "keys": {"k": _holder(10**20)}}),  # too large for os.kill
    '{"version": 1, "keys": {"k": {"granted": ' + "9" * 5000 + "}}}",  # beyond Python's int-from-text limit
    "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's recursion
])
def test_a_lease_file_with_bad_values_is_moved_aside_and_said(tmp_path: Path, text: str) -> None:
    said: list[str] = []
    lease = tmp_path / "l.json"
    lease.write_text(text)
    pool = CredentialPool(lease, [Credential(name="k", provider="openai", key="s")], "run", said.append)
    assert isinstance(pool.try_reserve("openai", "LLD-1"), Credential)
    assert len(said) == 1 and "was unreadable" in said[0] and "moved it to" in said[0]
    assert len(list(tmp_path.glob("l.json.corrupt-*"))) == 1


def test_credentials_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(CredentialsError, match=f"AGENTOS_CREDENTIALS names {missing}, which does not exist"):
        load_credentials({"AGENTOS_CREDENTIALS": str(missing), "OPENAI_API_KEY": "sk-personal"})
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"credentials": [{"name": "k", "provider": "openai", "key": "sk-\u201cquoted"}]}))
    path.chmod(0o600)
    with pytest.raises(CredentialsError) as caught:
        load_credentials({"AGENTOS_CREDENTIALS": str(path)})
    assert "credential 'k': 'key' holds spaces, control or non-ASCII characters" in str(caught.value)
    assert "quoted" not in str(caught.value)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CredentialsError, match=r"c\.json is not valid JSON \(nested too deeply\); expected"):
        load_credentials({"AGENTOS_CREDENTIALS": str(path)})


@pytest.fixture
def worktrees(workspace: Workspace, tmp_path: Path) -> Iterator[list[Workspace]]:
    """Two worktrees of one repository (the same issues) of one user: one HOME, so one credentials file."""
    root, base = tmp_path / "repo-2", tmp_path / "agentos-2"
    root.mkdir()
    other = Workspace(root=root, base=base, home=workspace.home, env={**workspace.env, "AGENTOS_BASE_DIR": str(base)})
    assert other.command(str(BIN / "agentos-jobs"), "init").returncode == 0
    yield [workspace, other]
    for pid in other._live():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def run_both(trees: list[Workspace], fake: FakeLLM) -> None:
    use_provider(trees[0], fake, "openai", keys=1)
    trees[1].env.update({k: v for k, v in trees[0].env.items() if k != "AGENTOS_BASE_DIR"})
    for tree in trees:
        for number in (1, 2, 3):
            tree.add_issue(number)
    runs = [tree.start_doit("-n", "3", "lld") for tree in trees]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out + err
    assert [set(tree.statuses().values()) for tree in trees] == [{"done"}, {"done"}]


def test_two_worktrees_share_one_key_and_never_use_it_twice_at_once(worktrees: list[Workspace],
                                                                     fake: FakeLLM) -> None:
    fake.delay = 0.3
    run_both(worktrees, fake)
    assert len(fake.calls) == 12
    assert fake.most_in_flight == {secret("openai", 1): 1}  # max_concurrency 1 across both runs


def test_a_429_in_one_worktree_cools_the_key_in_the_other(worktrees: list[Workspace], fake: FakeLLM) -> None:
    fake.delay = 0.1
    fake.script(rate_limited("openai", retry_after=2), times=1)
    run_both(worktrees, fake)
    limited = next(c for c in fake.calls if c.status == 429)
    later = [c for c in fake.calls if c.started > limited.started]
    assert len(later) == 12 and all(c.started >= limited.at + 2.0 - 0.25 for c in later)
    assert len(lease_files := list(worktrees[0].home.glob("credentials.lease.json"))) == 1, lease_files


def test_waiting_for_a_cooling_key_is_not_an_attempt(workspace: Workspace, fake: FakeLLM) -> None:
    # max_retries counts the attempts answered with a failure, so with 2 the 429 is the only one allowed (with 1
    # it would end the item at once); the wait for the only key's cooldown that follows must not count as another
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_RETRIES="2")
    fake.script(rate_limited("openai", retry_after=1), times=1)
    workspace.add_issue(1)
    result = workspace.doit("-n", "1", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-1": "done"}
    limited, retried = fake.calls[0], fake.calls[1]
    assert limited.status == 429 and retried.status == 200 and retried.started >= limited.at + 1.0 - 0.25
    assert "max retries" not in result.stdout + result.stderr


def test_a_lease_store_file_in_the_worktree_is_used_and_named(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    pyproject = workspace.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.agentos_jobs]\n", '[tool.agentos_jobs]\nlease_store = ".leases/pool.json"\n', 1))
    workspace.add_issue(1)
    result = workspace.doit("-n", "1", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    lease = workspace.root / ".leases" / "pool.json"
    assert json.loads(lease.read_text())["keys"]["key-1"]["granted"] >= 1
    assert not (workspace.home / "credentials.lease.json").exists()  # not the per-user default
    keys = workspace.command(str(BIN / "agentos-jobs"), "keys")
    assert keys.returncode == 0 and f"lease store: {lease}" in keys.stdout, keys.stdout + keys.stderr
