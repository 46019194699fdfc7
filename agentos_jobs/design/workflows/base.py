"""What a workflow is handed (`WorkflowContext`), and what both workflows do alike with it."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.errors import StepFailed
from agentos_jobs.core.fsutil import atomic_write_text, describe_os_error, display_path, utc_now
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.settings import Settings
from agentos_jobs.core.status import Status
from agentos_jobs.core.text import without_escapes
from agentos_jobs.design.context import RepoContext, item_context
from agentos_jobs.design.offline import stand_in_banner
from agentos_jobs.design.prompts import Prompt
from agentos_jobs.design.verdict import Finding
from agentos_jobs.items.discovery import Document, Item
from agentos_jobs.items.markers import why_rerun
from agentos_jobs.items.owned import Outputs, Record, check_outputs
from agentos_jobs.providers.base import Provider, Request
from agentos_jobs.steps.engine import Engine


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
    commit: str | None = None  # the repository's commit when the item was first drafted; "" outside git

    @functools.cached_property
    def owned(self) -> Record:
        return Record(self.settings, self.item.workflow, self.item.id)

    def write(self, path: Path, text: str) -> str:
        """Record one output file as ours, then write it atomically; return its path as the marker and summary
        show it. Recorded first: a full disk that fails the record must not leave a file of ours unrecorded,
        which the next run would take for someone else's and stop at (`exists`)."""
        self.owned.wrote(path, text)
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

    def keep(self, name: str, lineage_file: Path, text: str, kept: str = "the answer is checkpointed") -> None:
        """A step's record in the lineage; one that cannot be written fails the item, saying what is `kept`."""
        try:
            if not _holds(lineage_file, text):
                self.write(lineage_file, text)
        except OSError as exc:
            raise StepFailed(f"step {name}: {kept}, but {describe_os_error(exc) or exc}") from None

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

    def begin(self, outputs: Outputs) -> None:
        """Before any paid call: stop when a file this tool did not write is at the item's output paths (owned.py);
        say why an item that has a marker runs again; when starting from scratch (a new or edited input), move
        rounds of an earlier input out of the way; keep a copy of the input as it was read."""
        check_outputs(self.settings, self.item.workflow, self.item.id)
        marker = BaseDir(self.settings.base_dir).marker(self.item.workflow, self.item.id)
        if why := why_rerun(marker, self.item.input_hash):
            self.say(why)
        lineage = outputs.lineage
        checkpoint = self.engine.checkpoint  # begun (the commit kept below): a step, or a batch, may be under way
        if lineage.exists() and not checkpoint.has_steps() and checkpoint.meta("commit") is None:  # ours: see above
            stamp = f"{lineage.name}-{utc_now():%Y%m%dT%H%M%S}"
            aside, count = self.settings.lineage_dir.parent / "superseded" / stamp, 1
            while aside.exists():  # superseded twice within a second: keep both
                count += 1
                aside = aside.with_name(f"{stamp}-{count}")
            try:
                aside.parent.mkdir(parents=True, exist_ok=True)
                lineage.replace(aside)
            except OSError as exc:
                raise StepFailed(f"earlier rounds in {display_path(lineage, self.settings.root)} could not be moved "
                                 f"aside: {describe_os_error(exc) or exc}") from None
            self.owned.forget_under(lineage)
            self.say(f"earlier rounds moved to {display_path(aside, self.settings.root)}")
        self.commit = self.engine.checkpoint.meta("commit")
        if self.commit is None:  # the repository as the item was drafted against, kept for a resumed item
            self.commit = head_commit(self.settings.root)
            try:
                self.engine.checkpoint.set_meta("commit", self.commit)
            except sqlite3.OperationalError as exc:
                raise StepFailed(f"the commit could not be checkpointed: "
                                 f"{describe_os_error(exc, self.engine.checkpoint.path) or exc}") from exc
        copy = lineage / ("000-issue.md" if self.item.workflow == "lld" else "000-brief.md")
        self.keep("input", copy, input_copy(self.item, self.document, self.settings.root),
                  kept="no model was asked yet")


def head_commit(root: Path) -> str:
    """The repository's current commit, or "" where there is none (no git, no commit yet). Read from `.git` where
    it is plain (HEAD, a loose or packed ref): a git process per item costs some milliseconds; else git says."""
    try:
        git = root / ".git"
        if git.is_file():  # a linked worktree: "gitdir: <path>", whose refs live in its common dir
            git = (root / git.read_text(encoding="utf-8").split("gitdir:", 1)[1].strip()).resolve()
        common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve() \
            if (git / "commondir").is_file() else git
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        ref = head.removeprefix("ref: ")
        if ref == head:
            return head if _SHA.fullmatch(head) else _git_head(root)
        for folder in (git, common):
            if (folder / ref).is_file():
                return (folder / ref).read_text(encoding="utf-8").strip()
        packed = (common / "packed-refs").read_text(encoding="utf-8") if (common / "packed-refs").is_file() else ""
        return next((line.split()[0] for line in packed.splitlines() if line.endswith(f" {ref}")), "")
    except (OSError, IndexError, UnicodeDecodeError):
        return _git_head(root)


def _git_head(root: Path) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def model_name(settings: Settings, role: str) -> str:
    """`provider/model` of a role as its settings name it (the provider alone when it has no model)."""
    choice = settings.role(role)
    return f"{choice.provider}/{choice.model}" if choice.model else choice.provider


def input_copy(item: Item, document: Document, root: Path) -> str:
    """The item's input as the workflow read it, for the lineage: where it came from, its hash, what was read."""
    front = [f"source: {json.dumps(', '.join(display_path(p, root) for p in item.sources), ensure_ascii=False)}",
             f"input_sha256: {item.input_hash}"]
    if document.number is not None:
        front.append(f"number: {document.number}")
    front.append(f"title: {json.dumps(document.title, ensure_ascii=False)}")
    if document.labels:
        front.append(f"labels: [{', '.join(json.dumps(label, ensure_ascii=False) for label in document.labels)}]")
    if document.url:
        front.append(f"url: {json.dumps(document.url)}")
    return "---\n" + "\n".join(front) + f"\n---\n\n# {document.title}\n\n{document.body}\n"


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


Workflow = Callable[[WorkflowContext], Status]
