"""Completion markers: the doit target of each item, and the only record that an item is finished."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fsutil import atomic_write_json, iso, utc_now


def read_marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def marker_is_current(marker: str, input_hash: str) -> bool:
    """doit `uptodate` check: done only if the marker records the hash of the input as it is now.

    Module-level and fed plain strings so the task pickles under spawn; it reads no doit state,
    so a lost `.doit.db` never makes a finished item run again.
    """
    data = read_marker(Path(marker))
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
