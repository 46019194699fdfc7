"""Paid answers the checkpoint could not take (a full disk, a read-only one), kept until the next run reads them.

A step's answer is bought before it is checkpointed; when SQLite cannot write it, the answer is written as a
small JSON file beside the checkpoint, or, where that folder cannot take it either, in a private folder of the
system's temporary directory (often another file system). The next run of the item reads it back before it
would call the model again, records it in the checkpoint and deletes it: the answer is never paid for twice.
A spill is for one input: one made for another version of the item is dropped, as its checkpoint would be.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from agentos_jobs.core.fsutil import atomic_write_json, describe_os_error, read_json_object

FIELDS = ("text", "model", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")  # of a Completion


def _private() -> Path:
    # os.getuid and st_uid are POSIX: on Windows the temporary folder (%TEMP%) is already the user's own, so use
    # it without the uid check.
    return Path(tempfile.gettempdir()) / f"agentos-jobs-spill-{os.getuid()}"


def places(checkpoint: Path, step: str) -> list[Path]:
    """Where a step's spill may be, first choice first."""
    digest = hashlib.sha256(str(checkpoint.resolve()).encode()).hexdigest()[:16]
    name = f"{checkpoint.name}.{step}.spill.json"
    return [checkpoint.with_name(name), _private() / digest / name]


def _trusted(place: Path) -> bool:
    """A place in the shared temporary directory is used only inside a folder of this user's that no one else
    can write (or replace: not a link): another user could otherwise hand the next run an answer of theirs."""
    private = _private()
    if private not in place.parents:
        return True
    try:
        found = private.lstat()
    except FileNotFoundError:
        return True  # made below, 0700
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o077


def keep(checkpoint: Path, input_hash: str, step: str, answer: dict[str, Any]) -> tuple[Path | None, str]:
    """Write the answer (its FIELDS) where it will survive this process: the place it went to, or None and
    why not."""
    data = {key: answer[key] for key in FIELDS}
    why = ""
    for place in places(checkpoint, step):
        try:
            if not _trusted(place):
                raise PermissionError(f"{_private()} is not a private folder of this user's")
            if _private() in place.parents:
                _private().mkdir(mode=0o700, exist_ok=True)
            place.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_json(place, {"input_sha256": input_hash, "step": step, **data}, private=True)
        except OSError as exc:
            why = describe_os_error(exc, place) or f"{place}: {exc}"
            continue
        return place, ""
    return None, why


def take(checkpoint: Path, input_hash: str, step: str) -> tuple[dict[str, Any] | None, Path | None, list[Path]]:
    """The answer (its FIELDS, checked) a run spilled for this step and this input, if any, where it was, and
    every spill file found for the step (to delete once the answer is in the checkpoint)."""
    found = [place for place in places(checkpoint, step) if place.exists() and _trusted(place)]
    for place in found:
        data = read_json_object(place)
        if data is None or data.get("input_sha256") != input_hash or data.get("step") != step:
            continue
        cost = data.get("cost_usd")
        if (all(isinstance(data.get(key), str) for key in FIELDS[:2])
                and all(type(data.get(key)) is int for key in FIELDS[2:5])
                and (cost is None or type(cost) in (int, float))):
            return {key: data[key] for key in FIELDS}, place, found
    return None, None, found


def discard(checkpoint: Path) -> None:
    """The checkpoint goes (its item is done, cleaned or for another input): so do its spills."""
    digest_folder = places(checkpoint, "-")[1].parent
    for folder in (checkpoint.parent, digest_folder):
        if _trusted(folder / "-"):
            for place in folder.glob(f"{checkpoint.name}.*.spill.json"):
                place.unlink(missing_ok=True)
