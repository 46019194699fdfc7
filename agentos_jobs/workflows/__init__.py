"""The workflows a task can run, and what each one is handed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..context import RepoContext, item_context
from ..engine import Engine, StepFailed
from ..fsutil import atomic_write_text, describe_os_error, display_path, utc_now
from ..items import Document, Item
from ..markers import why_rerun
from ..prompts import Prompt
from ..providers import Provider, Request
from ..providers.offline import stand_in_banner
from ..rundir import BaseDir
from ..status import Status
from ..text import without_escapes
from ..verdict import Finding


@dataclass
class WorkflowContext:
    settings: Settings
    item: Item
    document: Document
    engine: Engine
    drafter: Provider
    reviewer: Provider
    say: Callable[[str], None]
    prefix: tuple[str, ...] = ()  # what every call of the item sends first: its repository context (context.py)
    reason: str = ""  # why an item ends failed or needs-human: the message of its ItemResult

    def write(self, path: Path, text: str) -> str:
        """Write one output file atomically; return its path as the marker and summary show it."""
        atomic_write_text(path, text)
        return display_path(path, self.settings.root)

    def request(self, kind: str, prompt: Prompt, draft: str = "", findings: tuple[Finding, ...] = ()) -> Request:
        """One call about this item: the prompt's stable parts, the item's context, then its own text. `draft`
        and `findings` let the offline stand-in review and revise what it is shown."""
        return Request(kind=kind, system=prompt.system_text, prompt=prompt.item, document=self.document,
                       item_id=self.item.id, draft=draft, prefix=self.prefix, schema=prompt.schema,
                       template=prompt.template, findings=findings)

    def model_step(self, name: str, provider: Provider, request: Request, lineage_file: Path,
                   render: Callable[[str], str] | None = None) -> str:
        """One LLM call as a checkpointed step. Its answer, rid of terminal escapes (it goes to files people
        `cat`), goes to the item's lineage (as `render` shows it) once it is saved, on every pass: the re-run
        writes it from the checkpoint without paying again. An answer longer than max_answer_chars fails the
        step: it is kept in the lineage to be looked at, and sent on nowhere."""
        answer = without_escapes(self.engine.step(name, functools.partial(provider.complete, request)))
        limit = self.settings.max_answer_chars
        if len(answer) > limit:
            self.keep(name, lineage_file, answer)
            raise StepFailed(f"step {name}: the answer is {len(answer):,} characters, over max_answer_chars="
                             f"{limit:,}; it is kept in {display_path(lineage_file, self.settings.root)} and was not "
                             "used; raise max_answer_chars in [tool.agentos_jobs] to use it")
        self.keep(name, lineage_file, render(answer) if render else answer)
        return answer

    def keep(self, name: str, lineage_file: Path, text: str) -> None:
        """A step's record in the lineage; one that cannot be written fails the item (its step is saved)."""
        try:
            if not _holds(lineage_file, text):
                self.write(lineage_file, text)
        except OSError as exc:
            raise StepFailed(f"step {name}: the answer is checkpointed, but {describe_os_error(exc) or exc}") from None

    def use_context(self) -> RepoContext:
        """Every call of the item sends its repository context first."""
        context = item_context(self.engine, self.document)
        self.prefix = context.parts
        return context

    def record_context(self, lineage: Path, context: RepoContext) -> None:
        """The lineage keeps what the models were shown once the rounds are over (the checkpoint that holds it
        goes with a finished item); written after the paid rounds, so that it never stands in their way."""
        banner = stand_in_banner(self.drafter)
        record = context.record(self.settings.context_tokens)
        self.keep("context", lineage / "000-context.md", f"{banner}\n\n{record}" if banner else record)

    def begin(self, lineage: Path) -> None:
        """Say why an item that has a marker runs again; when starting from scratch (a new or edited input),
        move rounds of an earlier input out of the way."""
        marker = BaseDir(self.settings.base_dir).marker(self.item.workflow, self.item.id)
        if why := why_rerun(marker, self.item.input_hash):
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
