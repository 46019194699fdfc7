"""The action of an item task, run inside a doit worker: have the item's wrapper started and wait for it.

Two things a plain command action cannot do. The wrapper is started through the run's door (launch.py), forked
by the warm parent or a fresh interpreter, with its stop signals held back, so a Ctrl+C during its start-up is
handled, not a traceback.
And the worker notes which item it runs and the wrapper's pid, so that the doit process can name the item of a
worker that died and stop waiting for a wrapper that is gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentos_jobs.core.fsutil import atomic_write_json, read_json_object
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir, RunDir
from agentos_jobs.core.os_process import pid_alive
from agentos_jobs.core.run_id import current_run_id
from agentos_jobs.procs.handoff import Handoff
from agentos_jobs.procs.launch import ItemProcess, door


def read_notes(run: RunDir) -> dict[int, dict[str, Any]]:
    """Worker pid -> {"task", "wrapper_pid"}: what each worker of the run is (or was last) running."""
    notes = {}
    for path in run.workers.glob("*.json"):
        data = read_json_object(path)
        if data is not None and path.stem.isdigit():
            notes[int(path.stem)] = data
    return notes


def _note_of(notes: dict[int, dict[str, Any]], task: str) -> tuple[int, dict[str, Any]] | None:
    return next(((worker, note) for worker, note in notes.items() if note.get("task") == task), None)


def wrapper_started(notes: dict[int, dict[str, Any]], task: str) -> bool:
    found = _note_of(notes, task)
    return found is not None and isinstance(found[1].get("wrapper_pid"), int)


def still_running(notes: dict[int, dict[str, Any]], task: str) -> bool:
    """Is the process that would write `task`'s result still there: its wrapper, or the worker about to start
    one? Nobody is left to wait for when neither is."""
    found = _note_of(notes, task)
    if found is None:
        return False
    worker, note = found
    wrapper = note.get("wrapper_pid")
    return pid_alive(wrapper if isinstance(wrapper, int) else worker)


def _write_note(note: Path, task: str, wrapper_pid: int | None = None) -> None:
    """What this worker runs, for the doit process's watch (reporter.py): the run's bookkeeping, no fsync."""
    atomic_write_json(note, {"task": task} if wrapper_pid is None else {"task": task, "wrapper_pid": wrapper_pid},
                      durable=False)


def run_item(workflow: str, item_id: str, sources: list[str], base_dir: str) -> int:
    """What the doit action of `lld:42` does (tasks.py): the wrapper's exit code, which decides only success or
    failure for doit; the item's outcome itself travels in its result file. `sources` are the item's files as
    discovery found them; `base_dir` is the project's `.agentos`."""
    run_id = current_run_id()
    run = BaseDir(Path(base_dir)).run(run_id)
    note = run.worker_note(os.getpid())
    task = f"{workflow}:{item_id}"
    _write_note(note, task)  # written first: a worker that dies now still names its item
    run_pid = os.environ.get("AGENTOS_RUN_PID", "")  # doit's process named itself when it read dodo.py (core/run_id.py)
    handoff = Handoff(run_id, tuple(sources), parent=os.getpid(), doit_pid=int(run_pid) if run_pid.isdigit() else None,
                      clear_line=os.environ.get("AGENTOS_CLEAR_LINE") == "1")
    result = run.item_result(prefix_for(workflow, item_id))
    return door().run(ItemProcess([workflow, item_id, handoff.to_arg()], result,
                                  lambda pid: _write_note(note, task, pid)))
