"""The fault suite: damaged run state, outputs that cannot be written, a read-only base dir and a full disk.

Each case asserts one line naming the path (never a traceback or "please report this"), the exit code,
recovery (the item finishes, finished items keep their markers) and that nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BIN, Workspace
from fake_llm import FakeLLM, Reply, bad_request, full_draft, use_provider


def _directory(path: Path) -> None:
    if path.is_dir():
        return
    path.unlink(missing_ok=True)
    (path / "inside").mkdir(parents=True)


def _file(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    path.write_text("not what belongs here\n")


def _sqlite(schema: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(schema)
    return damage


def _marker_of_another_input(path: Path) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "input_sha256": "0" * 64}))


@dataclass(frozen=True)
class Damage:
    where: str  # relative to the base dir (the lease store's: to HOME, beside the credentials)
    how: Callable[[Path], None]
    said: str  # what the one line naming the path says
    aside: bool = True  # moved aside (kept for a post-mortem) and rebuilt
    keys: bool = False  # needs a real provider, so that the lease file is used
    command: tuple[str, ...] = ("doit", "lld")


DAMAGE = {
    "marker-is-a-directory": Damage("done/lld/2.json", _directory, "was a directory, not a marker; moved it to"),
    "marker-is-garbage": Damage("done/lld/2.json", _file, "is damaged; moved it to"),
    "marker-of-another-input": Damage("done/lld/2.json", _marker_of_another_input,
                                      "is for an earlier version of the input; running the item again", aside=False),
    "slots-is-a-file": Damage("slots", _file, "was a file, not a folder; moved it to"),
    "slot-lock-is-a-directory": Damage("slots/slot-00.lock", _directory, "was a directory, not a lock file"),
    "run-lock-is-a-directory": Damage("run.lock", _directory, "was a directory, not a lock file"),
    "run-lock-is-a-directory-for-run": Damage("run.lock", _directory, "was a directory, not a lock file",
                                              command=("agentos-jobs", "run", "lld", "2")),
    "run-lock-record-is-a-directory": Damage("run.lock.json", _directory, "was a directory, not a run lock record"),
    "worktree-lock-is-a-directory": Damage("worktree.lock", _directory, "was a directory, not a lock file"),
    "lease-is-a-directory": Damage("credentials.lease.json", _directory, "was a directory, not a lease file",
                                   keys=True),
    "lease-lock-is-a-directory": Damage("credentials.lease.json.lock", _directory,
                                        "was a directory, not a lock file", keys=True),
    "dep-file-of-another-schema": Damage("doit-deps.sqlite", _sqlite(
        "CREATE TABLE doit (task_id TEXT PRIMARY KEY, other TEXT); INSERT INTO doit VALUES ('lld:1', 'x');"),
        "its doit table has columns other, task_id, not doit's"),
    "dep-file-is-a-directory": Damage("doit-deps.sqlite", _directory, "was a directory, not a dep file"),
    "checkpoint-is-a-directory": Damage("checkpoints/lld_workflow_2.db", _directory,
                                        "was a directory, not a checkpoint; moved it to"),
    "checkpoint-meta-of-another-layout": Damage("checkpoints/lld_workflow_2.db", _sqlite(
        "CREATE TABLE meta (name TEXT, data TEXT);"), "its meta table has columns data, name"),
}


def _clean(output: str) -> None:
    assert "Traceback" not in output and "please report this" not in output, output


def _lines_naming(output: str, path: Path) -> list[str]:
    return [line for line in output.splitlines() if str(path) in line]


@pytest.mark.parametrize("case", DAMAGE, ids=list(DAMAGE))
def test_damaged_state_is_said_in_one_line_rebuilt_and_nothing_is_lost(workspace: Workspace, fake: FakeLLM,
                                                                       case: str) -> None:
    damage = DAMAGE[case]
    if damage.keys:
        use_provider(workspace, fake, "openai", keys=1)
    for number in (1, 2):
        workspace.add_issue(number)
    assert workspace.doit("lld").returncode == 0
    kept = workspace.marker("lld", "1").read_bytes()
    path = (workspace.home if damage.keys else workspace.base) / damage.where  # the pool lives beside the keys
    if path != workspace.marker("lld", "2"):
        workspace.marker("lld", "2").unlink()  # item 2 runs again, through the damaged state
    path.parent.mkdir(parents=True, exist_ok=True)
    damage.how(path)

    command = (str(BIN / damage.command[0]), *damage.command[1:])
    result = workspace.command(*command)
    output = result.stdout + result.stderr
    _clean(output)
    assert result.returncode == 0, output
    said = _lines_naming(output, path)
    assert len(said) == 1 and damage.said in said[0], output
    assert len(list(path.parent.glob(path.name + ".corrupt-*"))) == int(damage.aside)
    assert json.loads(workspace.marker("lld", "2").read_text())["id"] == "2"

    again = workspace.doit("lld")
    _clean(again.stdout + again.stderr)
    assert again.returncode == 0, again.stdout + again.stderr
    assert workspace.statuses() == {"LLD-1": "up-to-date", "LLD-2": "up-to-date"}
    assert workspace.marker("lld", "1").read_bytes() == kept
    for number in (1, 2):
        assert (workspace.root / f"docs/lld/active/LLD-{number:03d}.md").exists()
        assert (workspace.root / f"docs/lineage/active/{number}-lld/001-draft.md").exists()


@pytest.mark.parametrize("where", ["credentials.lease.json", "credentials.lease.json.lock"])
def test_keys_rebuilds_a_lease_file_or_lock_that_is_a_directory(workspace: Workspace, fake: FakeLLM,
                                                                where: str) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    path = workspace.home / where  # the pool lives beside the keys
    _directory(path)
    result = workspace.command(str(BIN / "agentos-jobs"), "keys")
    _clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    said = [line for line in _lines_naming(result.stdout + result.stderr, path) if "was a directory" in line]
    assert len(said) == 1 and "moved it to" in said[0] and len(list(path.parent.glob(f"{path.name}.corrupt-*"))) == 1
    assert "key-1" in result.stdout and "free" in result.stdout


# Outputs that cannot be written (defect 8): the answer is checkpointed first, the re-run pays nothing again.

@contextlib.contextmanager
def _mount(target: Path, *options: str, source: str = "tmpfs", kind: str = "tmpfs") -> Iterator[None]:
    """A mount for the length of a test; skipped where mounting is not permitted (not root, a container)."""
    target.mkdir(parents=True, exist_ok=True)
    args = ["mount", "--bind", source, str(target)] if kind == "bind" else ["mount", "-t", kind, "-o",
                                                                               ",".join(options), source, str(target)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or done.returncode}): run as root to test this")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _remount(target: Path, options: str, bind: bool = False) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}" + (",bind" if bind else ""), str(target)], check=True)


@contextlib.contextmanager
def _unwritable(folder: Path, how: str) -> Iterator[None]:
    """`folder` cannot be written: a file in its place, or (as root, through a read-only bind mount) read-only."""
    if how == "a file in the way":
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("in the way")
        yield
        folder.unlink()
        return
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield
        folder.chmod(0o755)
        return
    with _mount(folder, source=str(folder), kind="bind"):
        _remount(folder, "ro", bind=True)
        yield


@pytest.mark.parametrize("how", ["read-only", "a file in the way"])
@pytest.mark.parametrize("output, said", [("docs/lineage", "step input: no model was asked yet, but "),
                                          ("docs/lld", "step finalize failed: ")])
def test_an_output_that_cannot_be_written_keeps_the_paid_answer(workspace: Workspace, fake: FakeLLM, how: str,
                                                                output: str, said: str) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1)
    with _unwritable(workspace.root / output, how):
        first = workspace.doit("lld")
    _clean(first.stdout + first.stderr)
    assert first.returncode == 1, first.stdout + first.stderr
    message = workspace.summary()["items"][0]["message"]
    assert message.startswith(f"{said}{workspace.root / output}") and "cannot be written" in message, message
    assert "then run again" in message and workspace.checkpoints() == ["lld_workflow_1.db"]

    again = workspace.doit("lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(fake.calls_by(role="drafter")) == len(fake.calls_by(role="reviewer")) == 1  # each paid for once
    draft = (workspace.root / "docs/lineage/active/1-lld/001-draft.md").read_text()
    assert draft and draft in (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert (workspace.root / "docs/lineage/active/1-lld/001-verdict.md").exists()


def test_a_read_only_base_dir_stops_agentos_jobs_run_in_one_line(workspace: Workspace, tmp_path: Path) -> None:
    workspace.add_issue(1)
    mount = tmp_path / "ro"
    workspace.env["AGENTOS_BASE_DIR"] = str(mount / "agentos")
    with _mount(mount, "size=1m"):
        _remount(mount, "ro")
        result = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "1")
        _clean(result.stdout + result.stderr)
        assert result.returncode == 3
        assert result.stderr.splitlines() == [f"agentos-jobs: {mount}: cannot be written (read-only file system); fix "
                                              "it or set AGENTOS_BASE_DIR to a writable directory"]
        assert not (workspace.root / "docs/lineage").exists()
        _remount(mount, "rw")
        again = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "1")
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads((mount / "agentos/done/lld/1.json").read_text())["id"] == "1"


# A full disk (defect 10): say so, keep what is finished, exit non-zero; the re-run after freeing space finishes.

def test_a_full_disk_is_said_in_one_line_and_the_rerun_finishes_everything(workspace: Workspace,
                                                                            tmp_path: Path) -> None:
    for number in range(1, 7):
        workspace.add_issue(number)
    mount = tmp_path / "small"
    workspace.env["AGENTOS_BASE_DIR"] = str(mount / "agentos")
    with _mount(mount, "size=200k"):
        first = workspace.doit("-n", "3", "lld")  # the disk fills up during the run
        _fills_up_cleanly(first, mount)
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            while True:  # and now not a byte is left: every write of the next run fails
                filler.write(b"\0" * 4096)
                filler.flush()
        second = workspace.doit("-n", "3", "lld")
        _fills_up_cleanly(second, mount)
        done = {p.name: p.read_bytes() for p in (mount / "agentos/done/lld").glob("*.json")}
        for data in done.values():
            assert json.loads(data)["input_sha256"]  # what finished is marked whole

        (mount / "filler").unlink()
        _remount(mount, "size=20m")
        again = workspace.doit("-n", "3", "lld")
        assert again.returncode == 0, again.stdout + again.stderr
        statuses = {row["prefix"]: row["status"] for row in json.loads(
            sorted((mount / "agentos/runs").glob("*/summary.json"), key=lambda p: p.stat().st_mtime_ns)[-1]
            .read_text())["items"]}
        assert set(statuses.values()) <= {"done", "up-to-date"} and len(statuses) == 6
        assert all((mount / "agentos/done/lld" / name).read_bytes() == data for name, data in done.items())
        assert len(list((workspace.root / "docs/lld/active").glob("LLD-*.md"))) == 6


def _fills_up_cleanly(result: subprocess.CompletedProcess[str], mount: Path) -> None:
    output = result.stdout + result.stderr
    _clean(output)
    assert result.returncode not in (0, 3), output  # the run started, and it did not finish everything
    assert f"no space left on {mount}" in output
    assert "agentos-jobs run " in result.stdout  # the summary, printed even when summary.json cannot be written


def test_a_paid_answer_the_full_disk_cannot_checkpoint_is_kept_and_read_back(workspace: Workspace, fake: FakeLLM,
                                                                             tmp_path: Path) -> None:
    """The disk fills while the draft call is under way: its answer is kept in a spill file (the system's temp
    folder, the checkpoint's own being full), and the run after the disk is freed reads it back, paying nothing
    again."""
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1)
    temp = tmp_path / "tmp"
    temp.mkdir()
    workspace.env["TMPDIR"] = str(temp)
    mount = tmp_path / "small"
    workspace.env["AGENTOS_BASE_DIR"] = str(mount / "agentos")
    full = False
    fake.hold_until = lambda: full
    with _mount(mount, "size=4m"):
        run = workspace.start_doit("lld")
        workspace.wait_for(lambda: sum(fake.in_flight.values()) == 1, what="the draft call")
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        full = True
        out, err = run.communicate(timeout=90)
        _clean(out + err)
        assert run.returncode == 1, out + err
        assert "step draft-1 done but could not be checkpointed: no space left on" in err, out + err
        spills = list(temp.rglob("*.spill.json"))
        assert len(spills) == 1 and f"its answer is kept in {spills[0]}, and the next run reads it back" in err
        (mount / "filler").unlink()
        again = workspace.doit("lld")
        assert again.returncode == 0, again.stdout + again.stderr
    assert f"draft-1: read back from {spills[0]}" in again.stdout
    assert len(fake.calls_by(role="drafter")) == 1 and not spills[0].exists()


def _paid_draft_then_failed_review(workspace: Workspace, fake: FakeLLM) -> Path:
    """Item 1's checkpoint, holding its context and its paid draft (its review was refused)."""
    use_provider(workspace, fake, "openai", keys=1)
    fake.script(bad_request("openai"), role="reviewer", times=1)
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 1
    return workspace.base / "checkpoints" / "lld_workflow_1.db"


@pytest.mark.parametrize("entry", ['{"shared": "x"}', "not json", '{"shared": 1, "item": "", "files": [], "cut": [], '
                                                                  '"notes": [], "tokens": 0}'])
def test_a_malformed_context_entry_is_said_in_one_line_and_rebuilt(workspace: Workspace, fake: FakeLLM,
                                                                   entry: str) -> None:
    checkpoint = _paid_draft_then_failed_review(workspace, fake)
    with contextlib.closing(sqlite3.connect(checkpoint)) as conn, conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'context'", (entry,))
    result = workspace.doit("lld")
    _clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    said = [line for line in result.stdout.splitlines() if "context recorded in checkpoint" in line]
    assert len(said) == 1 and str(checkpoint) in said[0] and "is damaged" in said[0]
    assert "draft-1: resumed from checkpoint" in result.stdout and len(fake.calls_by(role="drafter")) == 1


def test_an_empty_checkpoint_is_said_as_such_not_as_a_changed_input(workspace: Workspace, fake: FakeLLM) -> None:
    checkpoint = _paid_draft_then_failed_review(workspace, fake)
    for suffix in ("-wal", "-shm"):
        checkpoint.with_name(checkpoint.name + suffix).unlink(missing_ok=True)
    checkpoint.write_bytes(b"")
    result = workspace.doit("lld")
    _clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the input changed" not in result.stdout
    assert f"checkpoint {checkpoint} records no input (empty or damaged); moved it to" in result.stdout


# Hostile answers: escapes that would drive a terminal, and answers too long to send on.

def test_terminal_escapes_in_answers_never_reach_the_lld_or_the_lineage(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\x1b[1;31m"
    fake.script(Reply(text=full_draft("Issue 1", note=f"Plain{hostile} words.")), role="drafter", times=1)
    fake.script(Reply(text=f"Looks right.{hostile}\r\n\nVERDICT: APPROVED\n"), role="reviewer", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert "Plain words." in lld
    lineage = workspace.root / "docs/lineage/active/1-lld"
    for text in [lld, *(path.read_text() for path in lineage.iterdir())]:
        assert not any(char in text for char in "\x1b\x07\x9b\r") and "cm0gLXJmIH4=" not in text
    assert "Looks right." in (lineage / "001-verdict.md").read_text()


def test_an_answer_over_max_answer_chars_fails_its_step_and_is_kept_but_not_sent_on(workspace: Workspace,
                                                                                     fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    long = full_draft("Issue 1", note="word " * 2000)
    fake.script(Reply(text=long), role="drafter", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"AGENTOS_MAX_ANSWER_CHARS": "5000"})
    _clean(result.stdout + result.stderr)
    assert result.returncode == 1 and workspace.statuses() == {"LLD-1": "failed"}
    kept = "docs/lineage/active/1-lld/001-draft.md"
    assert workspace.summary()["items"][0]["message"].startswith(
        f"step draft-1: the answer is {len(long):,} characters, over max_answer_chars=5,000; it is kept in "
        f"{kept} and was not used")
    assert (workspace.root / kept).read_text() == long
    assert fake.calls_by(role="reviewer") == [] and not (workspace.root / "docs/lld/active/LLD-001.md").exists()
    again = workspace.doit("lld", extra_env={"AGENTOS_MAX_ANSWER_CHARS": "100000"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(fake.calls_by(role="drafter")) == 1  # the answer was paid for once


# No usable /dev/shm (a container, a mount namespace): doit's process workers need a POSIX semaphore there.

def _without_shm(workspace: Workspace, command: str) -> subprocess.CompletedProcess[str]:
    """`command` in a mount namespace whose /dev/shm is read-only; skipped where one cannot be made."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to give a process a /dev/shm of its own")
    probe = workspace.command("unshare", "-m", "mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", "/dev/shm")
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.strip()}")
    return workspace.command("unshare", "-m", "sh", "-c",
                             f"mount -t tmpfs -o ro,size=64k tmpfs /dev/shm && exec {command}")


def test_a_read_only_dev_shm_runs_the_items_with_thread_workers(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = _without_shm(workspace, f"{BIN / 'doit'} -n 2 lld")
    _clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(workspace.statuses().values()) == {"done"}
    said = [line for line in result.stderr.splitlines() if "/dev/shm" in line]
    assert said == ["agentos-jobs: /dev/shm cannot be used (Read-only file system): doit's workers run as threads "
                    "(each item still runs in a process of its own); for process workers, mount a writable /dev/shm "
                    "(mount -t tmpfs -o mode=1777 tmpfs /dev/shm)"]
    refused = _without_shm(workspace, f"{BIN / 'doit'} -P process lld")
    assert refused.returncode == 3 and refused.stderr.startswith("agentos-jobs: /dev/shm cannot be used")
    assert len(refused.stderr.splitlines()) == 1
