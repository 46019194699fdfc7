"""The workflows a task can run, and what each one is handed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..engine import Engine, StepFailed
from ..fsutil import atomic_write_text, describe_os_error, display_path, utc_now
from ..items import Document, Item
from ..markers import why_rerun
from ..providers import Provider, Request
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

    def request(self, kind: str, system: str, prompt: str, draft: str = "") -> Request:
        """One call about this item; `draft` lets the offline stand-in review what it is shown."""
        return Request(kind=kind, system=system, prompt=prompt, document=self.document, item_id=self.item.id,
                       draft=draft)

    def model_step(self, name: str, provider: Provider, request: Request, lineage_file: Path) -> str:
        """One LLM call as a checkpointed step. Its answer goes to the item's lineage once it is saved, on every
        pass: a lineage file that cannot be written fails the item, and the re-run writes it from the
        checkpoint without paying for the call again."""
        answer = self.engine.step(name, functools.partial(provider.complete, request))
        try:
            if not _holds(lineage_file, answer):
                self.write(lineage_file, answer)
        except OSError as exc:
            raise StepFailed(f"step {name}: the answer is checkpointed, but {describe_os_error(exc) or exc}") from None
        return answer

    def begin(self, lineage: Path) -> None:
        """Say why an item that has a marker runs again; when starting from scratch (a new or edited input),
        move rounds of an earlier input out of the way."""
        if why := why_rerun(self.settings.marker_path(self.item.workflow, self.item.id), self.item.input_hash):
            self.say(why)
        if lineage.exists() and not self.engine.checkpoint.has_steps():
            stamp = f"{lineage.name}-{utc_now():%Y%m%dT%H%M%S}"
            aside, count = self.settings.docs_dir / "lineage" / "superseded" / stamp, 1
            while aside.exists():  # superseded twice within a second: keep both
                count += 1
                aside = aside.with_name(f"{stamp}-{count}")
            try:
                aside.parent.mkdir(parents=True, exist_ok=True)
                lineage.replace(aside)
            except OSError as exc:
                raise StepFailed(f"earlier rounds in {display_path(lineage, self.settings.root)} could not be moved "
                                 f"aside: {describe_os_error(exc) or exc}") from None
            self.say(f"earlier rounds moved to {display_path(aside, self.settings.root)}")


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


Workflow = Callable[[WorkflowContext], Status]


def get_workflow(name: str) -> Workflow:
    from .issue import run_issue
    from .lld import run_lld

    return {"lld": run_lld, "issue": run_issue}[name]
