"""Completion markers: the doit target of each item, and the only record that an item is finished."""

from __future__ import annotations

import os
from pathlib import Path

from agentos_jobs.core.fsutil import atomic_write_json, clear_way, iso, move_aside, read_json_object, utc_now


def marker_is_current(marker: str, input_hash: str) -> bool:
    """doit `uptodate` check: done only if the marker records the hash of the input as it is now.

    Module-level and fed plain strings so the task pickles under spawn; it reads no doit state,
    so a lost `.doit.db` never makes a finished item run again.
    """
    data = read_json_object(Path(marker))
    return data is not None and data.get("input_sha256") == input_hash


def why_rerun(path: Path, input_hash: str) -> str | None:
    """Why an item with a marker runs again, for its first lines: a marker that is damaged (moved aside, as
    the post-mortem) or records an earlier input. None when it has no marker, or a current one."""
    if moved := clear_way(path, "marker"):
        return f"{moved}; running the item again"
    if not os.path.lexists(path):
        return None
    data = read_json_object(path)
    if data is None or not isinstance(data.get("input_sha256"), str):
        return f"marker {path} is damaged; moved it to {move_aside(path).name} and running the item again"
    if data["input_sha256"] != input_hash:
        return f"marker {path} is for an earlier version of the input; running the item again"
    return None


def write_marker(path: Path, *, workflow: str, item_id: str, sources: list[str], input_hash: str,
                 run_id: str, outputs: list[str]) -> str | None:
    """Returns the line to say when something stood in the marker's place and was moved aside."""
    moved = clear_way(path, "marker")
    atomic_write_json(path, {
        "workflow": workflow,
        "id": item_id,
        "inputs": sources,
        "input_sha256": input_hash,
        "run_id": run_id,
        "finished_at": iso(utc_now()),
        "outputs": outputs,
    })
    return moved
