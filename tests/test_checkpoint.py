"""The SQLite checkpoint: steps commit whole, corrupt files are moved aside and said, other inputs restart."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest

from agentos_jobs.core.errors import StepFailed
from agentos_jobs.core.settings import load_settings
from agentos_jobs.steps import spill
from agentos_jobs.steps.checkpoint import Checkpoint, delete_checkpoint, summarize
from agentos_jobs.steps.engine import Engine

from conftest import Workspace


def test_steps_survive_reopen_and_record_tokens(tmp_path: Path) -> None:
    said: list[str] = []
    db = tmp_path / "c.db"
    cp = Checkpoint.open(db, "hash-1", said.append)
    cp.record("draft-1", "done", "text", "2026-01-01T00:00:00Z", 10, 5)
    cp.close()
    cp = Checkpoint.open(db, "hash-1", said.append)
    record = cp.get("draft-1")
    cp.close()
    assert record is not None and record.output == "text" and record.input_tokens == 10
    summary = summarize(db)
    assert summary is not None and summary.steps_done == 1 and summary.output_tokens == 5
    assert said == []


def test_a_checkpoint_for_another_input_starts_over(tmp_path: Path) -> None:
    said: list[str] = []
    db = tmp_path / "c.db"
    cp = Checkpoint.open(db, "old", said.append)
    cp.record("draft-1", "done", "text", "t")
    cp.close()
    cp = Checkpoint.open(db, "new", said.append)
    assert cp.get("draft-1") is None
    cp.close()
    assert said == ["the input changed since the last checkpoint; starting over"]


def test_corrupt_checkpoint_is_moved_aside_and_said(tmp_path: Path) -> None:
    said: list[str] = []
    db = tmp_path / "c.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    cp = Checkpoint.open(db, "h", said.append)
    cp.close()
    assert len(said) == 1 and "is unreadable" in said[0] and "moved it to c.db.corrupt-" in said[0]
    assert len(list(tmp_path.glob("c.db.corrupt-*"))) == 1


def test_a_step_is_never_half_saved(tmp_path: Path) -> None:
    """A rewrite deletes the old row, then inserts; when the insert fails the delete must not stick."""
    db = tmp_path / "c.db"
    cp = Checkpoint.open(db, "h", print)
    cp.record("draft-1", "done", "the saved draft", "t", 10, 5)
    with pytest.raises(sqlite3.IntegrityError):
        cp.record("draft-1", "bogus-status", "text", "t")  # the CHECK fails inside the transaction
    cp.close()
    cp = Checkpoint.open(db, "h", print)
    record = cp.get("draft-1")
    cp.close()
    assert record is not None and (record.status, record.output, record.input_tokens) == ("done", "the saved draft", 10)


def test_a_checkpoint_of_another_layout_is_moved_aside_not_crashed_on(tmp_path: Path) -> None:
    said: list[str] = []
    db = tmp_path / "c.db"
    with sqlite3.connect(db) as conn:  # what an older or newer version might have written
        conn.execute("CREATE TABLE steps (seq INTEGER PRIMARY KEY, name TEXT, status TEXT, text TEXT)")
    conn.close()
    cp = Checkpoint.open(db, "h", said.append)
    cp.record("draft-1", "done", "text", "t")
    cp.close()
    assert len(said) == 1 and "its steps table has columns name, seq, status, text" in said[0]
    assert len(list(tmp_path.glob("c.db.corrupt-*"))) == 1


def test_corrupt_checkpoint_in_a_real_run_is_reported_and_the_item_finishes(workspace: Workspace) -> None:
    workspace.add_issue(1)
    db = workspace.base / "checkpoints/lld_workflow_1.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database at all" * 100)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout
    assert "[LLD-1] checkpoint" in result.stdout and "is unreadable" in result.stdout
    assert len(list(db.parent.glob("lld_workflow_1.db.corrupt-*"))) == 1


def test_a_checkpoint_on_a_full_disk_fails_the_step_in_one_line_naming_it(tmp_path: Path) -> None:
    """SQLite says "database or disk is full" and names no file: the step's message must name it."""
    db = tmp_path / "c.db"
    cp = Checkpoint.open(db, "h", print)
    engine = Engine(load_settings(tmp_path), cp, print)
    engine.step("draft-1", lambda: "a short answer")
    cp._conn.execute("PRAGMA max_page_count = 2")  # what a full disk looks like to SQLite
    with pytest.raises(StepFailed) as failed:
        engine.step("review-1", lambda: "x" * 50_000)
    assert str(failed.value) == (f"step review-1 done but could not be checkpointed: no space left on {db}: free "
                                 "some space, then run again (finished work is kept)")
    cp.close()
    cp = Checkpoint.open(db, "h", print)
    record = cp.get("draft-1")
    cp.close()
    assert record is not None and record.output == "a short answer"


def test_a_spill_is_read_back_once_for_its_own_input_and_never_from_a_folder_others_can_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """spill.py: the answer a full disk kept from the checkpoint. In the shared temporary directory, a folder
    another user could write is not trusted: it could hand the next run an answer that no model gave."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    db = tmp_path / "c.db"
    answer = {"text": "paid for", "model": "m", "input_tokens": 3, "output_tokens": 4, "cached_tokens": 0,
              "cost_usd": 0.5}
    beside, private = spill.places(db, "draft-1")
    assert spill.keep(db, "hash-1", "draft-1", answer) == (beside, "")
    assert spill.take(db, "hash-2", "draft-1")[0] is None  # another input's
    assert spill.take(db, "hash-1", "draft-1")[:2] == (answer, beside)
    beside.unlink()
    private.parent.mkdir(parents=True)
    private.parent.parent.chmod(0o777)
    planted = {"input_sha256": "hash-1", "step": "draft-1", "text": "planted", "model": "m", "input_tokens": 0,
              "output_tokens": 0, "cached_tokens": 0, "cost_usd": 0.0}
    private.write_text(json.dumps(planted))
    assert spill.take(db, "hash-1", "draft-1") == (None, None, [])
    private.parent.parent.chmod(0o700)
    assert spill.take(db, "hash-1", "draft-1")[0] == {key: planted[key] for key in spill.FIELDS}
    delete_checkpoint(db)  # the item is done, cleaned or for another input: its spills go with it
    assert not private.exists()
