"""The layout of the base dir (`./.agentos`, or `$AGENTOS_BASE_DIR`): the one place a path under it is named.

`BaseDir` holds what outlives a run (markers, the record of the files items wrote, checkpoints, locks, doit's
dep file); `RunDir` one run's records
(item results, the workflows' outcomes, spans, logs, the stop flag, the waiting flags, the worker notes, the
spend ledger and the summary).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.errors import ConfigError
from agentos_jobs.core.fsutil import atomic_write_text
from agentos_jobs.core.settings import Settings

GITIGNORE = "# agentos-jobs: run state, checkpoints, logs and leases are never committed\n*\n"


@dataclass(frozen=True)
class BaseDir:
    path: Path

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def done(self) -> Path:
        return self.path / "done"

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    @property
    def logs(self) -> Path:
        return self.path / "logs" / "parallel"

    @property
    def slots(self) -> Path:
        """One lock file per parallel workflow slot (locks.acquire_slot)."""
        return self.path / "slots"

    @property
    def run_lock(self) -> Path:
        return self.path / "run.lock"

    @property
    def run_lock_info(self) -> Path:
        """Who holds (or last held) the run lock: run id, pid, start. `agentos-jobs keys` reads the run id."""
        return self.path / "run.lock.json"

    @property
    def worktree_lock(self) -> Path:
        return self.path / "worktree.lock"

    @property
    def dep_file(self) -> Path:
        """doit's dep file: the only file doit writes itself, and only a cache."""
        return self.path / "doit-deps.sqlite"

    @property
    def gitignore(self) -> Path:
        return self.path / ".gitignore"

    def checkpoint(self, workflow: str, item_id: str) -> Path:
        return self.checkpoints / f"{workflow}_workflow_{item_id}.db"

    def marker(self, workflow: str, item_id: str) -> Path:
        return self.done / workflow / f"{item_id}.json"

    def owned(self, workflow: str, item_id: str) -> Path:
        """The hashes of the files the item wrote at its output paths (owned.py): what is ours to replace."""
        return self.path / "owned" / workflow / f"{item_id}.json"

    def run(self, run_id: str) -> RunDir:
        return RunDir(self, run_id)


@dataclass(frozen=True)
class RunDir:
    base: BaseDir
    run_id: str

    @property
    def path(self) -> Path:
        return self.base.runs / self.run_id

    @property
    def items(self) -> Path:
        return self.path / "items"

    @property
    def waiting(self) -> Path:
        """One empty file per item that is waiting for an API key: the progress line counts them."""
        return self.path / "waiting"

    @property
    def stop_flag(self) -> Path:
        """Written by doit's process when the run is interrupted, holding the signal's name: every wrapper stops
        its workflow at once, whether it is doit's grandchild (-n 3), its child (-n 0, -P thread) or neither."""
        return self.path / "stopping"

    @property
    def workers(self) -> Path:
        """One note per doit worker: the item it runs and its wrapper's pid (see worker.py)."""
        return self.path / "workers"

    @property
    def spans(self) -> Path:
        return self.path / "spans"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def budget(self) -> Path:
        """The run's spend ledger (budget.py), shared by its workflows under `budget.lock` beside it."""
        return self.path / "budget.json"

    @property
    def logs(self) -> Path:
        return self.base.logs / self.run_id

    def item_result(self, prefix: str) -> Path:
        """The item's ItemResult, as its wrapper completed it."""
        return self.items / f"{prefix}.json"

    def outcome(self, prefix: str) -> Path:
        """What the item's workflow process says of its own outcome (an ItemResult with status and message)."""
        return self.path / "outcomes" / f"{prefix}.json"

    def log(self, prefix: str) -> Path:
        return self.logs / f"{prefix}.log"

    def worker_note(self, pid: int) -> Path:
        return self.workers / f"{pid}.json"


def ensure_base_dir(settings: Settings) -> None:
    """The base dir with a `.gitignore` of `*`, so nothing under it is ever committed. The folders a run
    writes are checked (not made) first: a worker that cannot write its result would leave an item nobody
    can account for."""
    base = BaseDir(settings.base_dir)
    for folder in (base.path, base.runs, base.logs, base.checkpoints, base.done):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        why = None
        if not existing.is_dir():
            why = "a file is in the way"
        elif not os.access(existing, os.W_OK | os.X_OK):
            why = "read-only file system" if os.statvfs(existing).f_flag & os.ST_RDONLY else "permission denied"
        if why:
            raise ConfigError(f"{existing}: cannot be written ({why}); fix it or set AGENTOS_BASE_DIR to a "
                              "writable directory")
    try:
        settings.base_dir.mkdir(parents=True, exist_ok=True)
        if not base.gitignore.exists():
            atomic_write_text(base.gitignore, GITIGNORE)
    except OSError as exc:
        raise ConfigError(f"{exc.filename or settings.base_dir}: cannot be written ({exc.strerror}); fix it or "
                          "set AGENTOS_BASE_DIR to a writable directory") from None


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("AGENTOS_CREDENTIALS") or Path(env.get("HOME") or Path.home()) / ".agentos/credentials.json")


def default_lease_path(environ: Mapping[str, str] | None = None) -> Path:
    """The lease file beside the credentials file."""
    keys = credentials_path(environ)
    return keys.with_name(f"{keys.stem}.lease.json")
