"""An item's outcome, one typed record: written by the process that knows each part, read by everything that
reports on an item (the progress line, the summary table, `summary.json`, `report`).

The record is frozen: built once by the process that knows each part. The workflow process writes what it knows
(status and message); its wrapper builds the item's record from it with `dataclasses.replace`, adding timings,
tokens, the timeout and signal facts, and falls back to the workflow's exit code only when the workflow died
without writing. Fields and JSON keys are those of a `summary.json` item row.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos_jobs.core.fsutil import atomic_write_json, read_json_object
from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.status import Status, item_exit


@dataclass(frozen=True)
class ItemResult:
    workflow: str
    id: str
    status: Status
    message: str = ""
    title: str = ""
    started_at: str | None = None
    workflow_started_at: str | None = None
    workflow_finished_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    steps_done: int | None = None
    failed_step: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0  # this run's calls; None: some call's model has no price (prices.py)
    outputs: tuple[str, ...] = ()
    log: str | None = None
    checkpoint: str | None = None
    workflow_exit_code: int | None = None
    peak_rss_kb: dict[str, int] | None = None

    def __post_init__(self) -> None:
        # a list given (or read from JSON) is kept as a tuple: the record cannot change after it is built
        object.__setattr__(self, "outputs", tuple(self.outputs))

    @property
    def prefix(self) -> str:
        return prefix_for(self.workflow, self.id)

    @property
    def exit_code(self) -> int:
        """What `agentos-jobs run` exits with for this item."""
        return item_exit(self.status)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "outputs": list(self.outputs), "prefix": self.prefix,
                "status": self.status.value, "exit_code": self.exit_code}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemResult:
        """Raises ValueError for a record that is not one (edited by hand, or of another version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {key: value for key, value in data.items() if key in known}
            values["status"] = Status(values["status"])
            result = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an item result ({type(exc).__name__}: {exc})") from None
        if not isinstance(result.workflow, str) or not isinstance(result.id, str):
            raise ValueError("not an item result (its workflow and id are not text)")
        return result

    def write(self, path: Path) -> None:
        atomic_write_json(path, self.to_json(), durable=False)  # the run's record: the marker is the durable one

    @classmethod
    def read(cls, path: Path) -> ItemResult | None:
        """The result at `path`; None when there is none, or it is unreadable (its writer died mid-way)."""
        data = read_json_object(path)
        if data is None:
            return None
        try:
            return cls.from_json(data)
        except ValueError:
            return None
