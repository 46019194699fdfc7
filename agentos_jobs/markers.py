"""Completion markers: the doit target of each item, and the only record that an item is finished."""

from __future__ import annotations

from pathlib import Path

from .fsutil import atomic_write_json, iso, read_json_object, utc_now


def marker_is_current(marker: str, input_hash: str) -> bool:
    """doit `uptodate` check: done only if the marker records the hash of the input as it is now.

    Module-level and fed plain strings so the task pickles under spawn; it reads no doit state,
    so a lost `.doit.db` never makes a finished item run again.
    """
    data = read_json_object(Path(marker))
    return data is not None and data.get("input_sha256") == input_hash


def write_marker(path: Path, *, workflow: str, item_id: str, sources: list[str], input_hash: str,
                 run_id: str, outputs: list[str]) -> None:
    atomic_write_json(path, {
        "workflow": workflow,
        "id": item_id,
        "inputs": sources,
        "input_sha256": input_hash,
        "run_id": run_id,
        "finished_at": iso(utc_now()),
        "outputs": outputs,
    })
