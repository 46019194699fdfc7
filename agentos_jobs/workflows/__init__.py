"""The workflows a task can run, and what each one is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..engine import Engine
from ..fsutil import atomic_write_text, display_path
from ..items import Document, Item
from ..providers import Provider
from ..status import Status


@dataclass
class WorkflowContext:
    settings: Settings
    item: Item
    document: Document
    engine: Engine
    drafter: Provider
    reviewer: Provider
    say: Callable[[str], None]

    def write(self, path: Path, text: str) -> str:
        """Write one output file atomically; return its path as the marker and summary show it."""
        atomic_write_text(path, text)
        return display_path(path, self.settings.root)


Workflow = Callable[[WorkflowContext], Status]


def get_workflow(name: str) -> Workflow:
    from .issue import run_issue
    from .lld import run_lld

    return {"lld": run_lld, "issue": run_issue}[name]
