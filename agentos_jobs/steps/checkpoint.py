"""Per-item SQLite checkpoint: every finished step's output, so a re-run resumes instead of paying again."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.errors import CheckpointBusy
from agentos_jobs.core.fsutil import clear_way, describe_os_error, iso, move_aside, utc_now
from agentos_jobs.steps import spill

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    output TEXT NOT NULL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    run_id TEXT NOT NULL DEFAULT '',
    cost_usd REAL DEFAULT 0
);
"""

_SIDECARS = ("-wal", "-shm")
FINAL_STEPS = ("finalize", "filed")  # steps whose output lines are the item's outputs; the last one counts
_META_COLUMNS = {"key", "value"}
_STEP_COLUMNS = {"seq", "name", "status", "output", "input_tokens", "output_tokens", "started_at", "finished_at",
                 "cached_tokens", "run_id", "cost_usd"}
# Columns added since the first layout, and their definitions: an older checkpoint gains them and resumes.
_ADDED_COLUMNS = {"cached_tokens": "INTEGER NOT NULL DEFAULT 0", "run_id": "TEXT NOT NULL DEFAULT ''",
                  "cost_usd": "REAL DEFAULT 0"}  # cost NULL: a model the price table does not know


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: str
    output: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0


def delete_checkpoint(path: Path) -> None:
    for suffix in ("", *_SIDECARS):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    spill.discard(path)


def _unusable(path: Path, exc: sqlite3.OperationalError) -> CheckpointBusy:
    if "locked" in str(exc):
        return CheckpointBusy(f"checkpoint {path} is in use by another process; is this item already running "
                              "(another doit or agentos-jobs run)?")
    return CheckpointBusy(describe_os_error(exc, path)
                          or f"checkpoint {path} cannot be opened ({exc}); fix its folder, then run again")


class Checkpoint:
    """One item's steps. Each `record` is a single transaction: a step is either fully saved or absent."""

    def __init__(self, conn: sqlite3.Connection, path: Path, run_id: str = "") -> None:
        self._conn = conn
        self.path = path
        self.run_id = run_id

    @classmethod
    def open(cls, path: Path, input_hash: str, say: Callable[[str], None], run_id: str = "") -> Checkpoint:
        """Open or create. Damage (a directory in its place, a file that is not a checkpoint) is moved aside
        and a checkpoint for another input dropped, both said; a full or read-only disk raises CheckpointBusy.
        Steps are recorded with the run that made them (by default the wrapper's AGENTOS_RUN_ID), so that a run
        counts the tokens of its own calls only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if moved := clear_way(path, "checkpoint"):
            say(f"{moved} and starting over")
        try:
            conn = cls._resume(path, input_hash, say) if path.exists() else None
            if conn is None:
                conn = cls._create(path, input_hash)
        except sqlite3.OperationalError as exc:
            raise _unusable(path, exc) from None
        return cls(conn, path, run_id)

    @classmethod
    def _resume(cls, path: Path, input_hash: str, say: Callable[[str], None]) -> sqlite3.Connection | None:
        """The existing checkpoint when it is for this input; else None, having set it aside and said why."""
        try:
            conn = cls._connect(path)
            stored = conn.execute("SELECT value FROM meta WHERE key = 'input_sha256'").fetchone()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, full, read-only: not damage
                raise
            aside = move_aside(path, _SIDECARS)
            say(f"checkpoint {path} is unreadable ({exc}); moved it to {aside.name} and starting over")
            return None
        if stored and stored[0] == input_hash:
            return conn
        conn.close()
        if not stored:  # an empty file (0 bytes) or one that lost its record: not an edited input
            aside = move_aside(path, _SIDECARS)
            say(f"checkpoint {path} records no input (empty or damaged); moved it to {aside.name} and starting over")
            return None
        delete_checkpoint(path)
        say("the input changed since the last checkpoint; starting over")
        return None

    @staticmethod
    def _create(path: Path, input_hash: str) -> sqlite3.Connection:
        """A new checkpoint, switched to WAL unsynced (the switch goes through a rollback journal: four syncs
        for a file that holds nothing yet), then its header made durable with one; then its tables and the input
        it is for, in one transaction."""
        conn = _connect_to(path)
        try:
            conn.execute("PRAGMA synchronous=OFF")
            _full_wal(conn)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (("input_sha256", input_hash), ("created_at", iso(utc_now()))))
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        """An existing checkpoint, checked: intact, and of a layout this version reads (an older one gains the
        columns added since)."""
        conn = _full_wal(_connect_to(path))
        check = conn.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            conn.close()
            raise sqlite3.DatabaseError(f"integrity check failed: {check[0] if check else 'no answer'}")
        conn.executescript(_SCHEMA)
        for table, expected in (("steps", _STEP_COLUMNS), ("meta", _META_COLUMNS)):
            columns = _columns(conn, table)
            if table == "steps" and expected - set(_ADDED_COLUMNS) <= columns < expected:  # an older layout
                with conn:
                    for column in sorted(expected - columns):
                        conn.execute(f"ALTER TABLE steps ADD COLUMN {column} {_ADDED_COLUMNS[column]}")
                columns = _columns(conn, table)
            if columns != expected:  # another version's file, or a damaged one: resuming from it would fail
                conn.close()
                raise sqlite3.DatabaseError(f"its {table} table has columns {', '.join(sorted(columns))}, not the "
                                            "ones this version of agentos-jobs writes")
        return conn

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Something the item's steps depend on (its repository context), kept with them."""
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def drop_meta(self, key: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    def has_steps(self) -> bool:
        return self._conn.execute("SELECT 1 FROM steps WHERE status = 'done' LIMIT 1").fetchone() is not None

    def get(self, name: str) -> StepRecord | None:
        row = self._conn.execute(
            "SELECT name, status, output, input_tokens, output_tokens, cached_tokens FROM steps WHERE name = ?",
            (name,)).fetchone()
        return StepRecord(*row) if row else None

    def record(self, name: str, status: str, output: str, started: str,
               input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0,
               cost_usd: float | None = 0.0) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM steps WHERE name = ?", (name,))
            self._conn.execute(
                "INSERT INTO steps (name, status, output, input_tokens, output_tokens, cached_tokens, run_id,"
                " started_at, finished_at, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, status, output, input_tokens, output_tokens, cached_tokens, self.run_id, started,
                 iso(utc_now()), cost_usd),
            )

    def close(self) -> None:
        self._conn.close()


@dataclass(frozen=True)
class CheckpointSummary:
    """What a wrapper reports about a checkpoint after its workflow process has exited."""

    input_hash: str | None
    steps_done: int
    failed_step: str | None
    input_tokens: int
    output_tokens: int
    outputs: list[str]
    cached_tokens: int = 0
    cost_usd: float | None = 0.0  # None: a call of a model with no price


def _connect_to(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")


def _full_wal(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Each step's commit is on the disk before the next call is paid for (FULL); WAL: one fsync a commit."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def summarize(path: Path, run_id: str | None = None) -> CheckpointSummary | None:
    """What the checkpoint holds; with `run_id`, tokens count only the calls that run made (a step resumed
    from an earlier run cost nothing this time). A checkpoint of an older layout is read as it is."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            columns = _columns(conn, "steps")
            added = ", ".join(column if column in columns else "NULL" for column in _ADDED_COLUMNS)
            rows = conn.execute(  # the names are _ADDED_COLUMNS' own, never from outside
                f"SELECT name, status, output, input_tokens, output_tokens, {added} FROM steps ORDER BY seq"  # noqa: S608
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
    done = [r for r in rows if r[1] == "done"]
    failed = [r[0] for r in rows if r[1] == "failed"]
    final = [r for r in done if r[0] in FINAL_STEPS][-1:]  # a filed issue's file and URL replace its draft's path
    outputs = [line for r in final for line in r[2].splitlines() if line]
    paid = [r for r in rows if run_id is None or r[6] == run_id]
    # a cost NULL: a call of a model with no price or whose usage is unknown (an older layout: tokens with no cost)
    unpriced = any(r[7] is None and ("cost_usd" in columns or r[3] or r[4]) for r in paid)
    return CheckpointSummary(
        input_hash=meta.get("input_sha256"),
        steps_done=len(done),
        failed_step=failed[-1] if failed else None,
        input_tokens=sum(r[3] for r in paid),
        output_tokens=sum(r[4] for r in paid),
        outputs=outputs,
        cached_tokens=sum(r[5] or 0 for r in paid),
        cost_usd=None if unpriced else sum(r[7] or 0.0 for r in paid),
    )
