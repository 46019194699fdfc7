"""`agentos-jobs init`: make any repository ready, changing nothing that is already right."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .config import ConfigError, Settings, load_settings
from .fsutil import atomic_write_text
from .rundir import BaseDir

DODO = '''"""Tasks of this repository: `doit -n 3 lld`, `doit issue`, `doit list --all -s` (agentos-jobs)."""

from agentos_jobs.tasks import doit_config, task_issue, task_lld, task_sync_issues

DOIT_CONFIG = doit_config()
__all__ = ["DOIT_CONFIG", "task_issue", "task_lld", "task_sync_issues"]
'''

STANZA = '''
[tool.agentos_jobs]
# Where items come from and where results go (paths relative to this file). Defaults shown.
issues_dir = "docs/issues"        # <N>.md, <N>-<slug>.md or <N>.json -> `doit lld`
ideas_dir = "ideas/active"        # *.md briefs -> `doit issue`
docs_dir = "docs"                 # lld/active, lineage/active, issues/drafts are written under it
max_iterations = 3                # review rounds before an LLD ends as needs-revision
worker_timeout_seconds = 3600     # per item; env AGENTOS_WORKER_TIMEOUT
provider = "offline"              # the built-in deterministic stand-in; env AGENTOS_PROVIDER
'''

GITIGNORE = "# agentos-jobs: run state, checkpoints, logs and leases are never committed\n*\n"


def ensure_base_dir(settings: Settings) -> None:
    """The base dir with a `.gitignore` of `*`, so nothing under it is ever committed. The folders a run
    writes are checked (not made) first: a worker that cannot write its result would leave an item nobody
    can account for."""
    base = BaseDir(settings.base_dir)
    for folder in (base.path, base.runs, base.logs, base.checkpoints, base.done):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        why = None
        if not existing.is_dir():
            why = "a file is in the way"
        elif not os.access(existing, os.W_OK | os.X_OK):
            why = "read-only file system" if os.statvfs(existing).f_flag & os.ST_RDONLY else "permission denied"
        if why:
            raise ConfigError(f"{existing}: cannot be written ({why}); fix it or set AGENTOS_BASE_DIR to a "
                              "writable directory")
    try:
        settings.base_dir.mkdir(parents=True, exist_ok=True)
        if not base.gitignore.exists():
            atomic_write_text(base.gitignore, GITIGNORE)
    except OSError as exc:
        raise ConfigError(f"{exc.filename or settings.base_dir}: cannot be written ({exc.strerror}); fix it or "
                          "set AGENTOS_BASE_DIR to a writable directory") from None


def init_project(root: Path) -> list[str]:
    """Return one line per file: what was written or why it was left alone."""
    report = []
    pyproject = root / "pyproject.toml"
    text = ""
    if pyproject.exists():
        with pyproject.open(encoding="utf-8", newline="") as handle:  # as it is: its line endings are kept
            text = handle.read()
    try:  # check before writing anything: a half-done init is worse than none
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: not valid TOML ({exc}); fix it, then run 'agentos-jobs init' again") from None
    dodo = root / "dodo.py"
    if not dodo.exists():
        atomic_write_text(dodo, DODO)
        report.append("wrote dodo.py")
    elif "agentos_jobs" in dodo.read_text(encoding="utf-8", errors="replace"):
        report.append("dodo.py already uses agentos_jobs: unchanged")
    else:
        report.append("dodo.py exists and is yours: unchanged; add these lines to it:\n"
                      "    from agentos_jobs.tasks import doit_config, task_issue, task_lld, task_sync_issues\n"
                      "    DOIT_CONFIG = doit_config()")

    if "agentos_jobs" in data.get("tool", {}):
        report.append("pyproject.toml already has [tool.agentos_jobs]: unchanged")
    else:
        newline = "\r\n" if "\r\n" in text else "\n"
        stanza = (STANZA if text else STANZA.lstrip("\n")).replace("\n", newline)
        joined = text + ("" if not text or text.endswith("\n") else newline) + stanza
        tomllib.loads(joined)  # never write a file that no longer parses
        atomic_write_text(pyproject, joined)
        report.append(f"{'added [tool.agentos_jobs] to' if text else 'wrote'} pyproject.toml")

    settings = load_settings(root)
    existed = BaseDir(settings.base_dir).gitignore.exists()
    ensure_base_dir(settings)
    report.append(f"{settings.base_dir.name}/.gitignore {'already there: unchanged' if existed else 'written'}")
    return report
