"""One offline item, run by the run's warm parent in a scratch repository before it forks any wrapper.

Python 3.11 rewrites a function's bytecode in place the first times it runs (it specializes it), and a module
fills its lazy state on first use (compiled patterns, caches, SQLite's own start). In a fork, each item would
pay for that again, and every such write would copy a page it shares with the warm parent. Run once here, it
is paid once for the run: a workflow forked after the rehearsal takes about a third less CPU (24 -> 16 ms,
bench figures in the README). Nothing of it stays: its folder (in /dev/shm when there is one, so no disk is
waited for) is removed, and this process's environment, folder and tracer are put back; the folder of one
killed half-way is removed by the next rehearsal.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from agentos_jobs.core.ids import prefix_for
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.processes import pid_alive
from agentos_jobs.core.results import ItemResult
from agentos_jobs.items.discovery import open_item
from agentos_jobs.items.markers import write_marker
from agentos_jobs.procs.handoff import Handoff
from agentos_jobs.procs.prefixer import PrefixedOutput
from agentos_jobs.procs.workflow import run_steps
from agentos_jobs.steps.checkpoint import delete_checkpoint, summarize
from agentos_jobs.tracing.spans import stop_tracing

INPUTS = {"lld": ("docs/issues/1.md", "# Rehearsal\n\nA change.\n\n## Acceptance criteria\n- [ ] it works\n"),
          "issue": ("ideas/active/rehearsal.md", "# Rehearsal\n\nA brief.\n")}
PREFIX = "agentos-rehearsal-"  # then the pid of the process rehearsing
STALE_SECONDS = 60.0  # a rehearsal takes some 20 ms
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 (only mkdtemp uses it: a private folder, its name random)


def rehearse(workflows: list[str]) -> None:
    """Run one item of each of `workflows` (those the run was asked for) with the offline stand-in. Only a
    head start: whatever fails here is left unsaid, and fails again, said, in the item that meets it."""
    parent = scratch_parent()
    _remove_stale(parent)
    scratch = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
    environ, folder = dict(os.environ), Path.cwd()
    try:
        os.chdir(scratch)
        for name in [name for name in os.environ if name.startswith(("AGENTOS_", "GIT_"))]:  # the user's
            del os.environ[name]
        os.environ.update(AGENTOS_BASE_DIR=str(scratch / ".agentos"), AGENTOS_PROVIDER="offline")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for workflow in workflows:
                with contextlib.suppress(Exception):  # in a copy of the context: no trace context stays attached
                    contextvars.copy_context().run(_one_item, scratch, workflow)
    finally:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        stop_tracing()
        shutil.rmtree(scratch, ignore_errors=True)


def scratch_parent() -> Path:
    return SHARED_MEMORY if SHARED_MEMORY.is_dir() else Path(tempfile.gettempdir())


def _remove_stale(parent: Path) -> None:
    """The scratch folders of this user's rehearsals whose process was killed half-way (doit killed outright):
    in /dev/shm they would hold memory until the machine restarts. A folder is this user's own (not a link),
    its process is gone, and it is older than any rehearsal lasts (a process of another pid namespace sharing
    /dev/shm cannot be seen)."""
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        with contextlib.suppress(OSError, ValueError):
            info = folder.lstat()
            if (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not pid_alive(int(pid))
                    and time.time() - info.st_mtime > STALE_SECONDS):
                shutil.rmtree(folder, ignore_errors=True)


def _one_item(scratch: Path, workflow: str) -> None:
    """What a wrapper and its workflow do for an item, but the forks and the waiting between them."""
    relative, text = INPUTS[workflow]
    source = scratch / relative
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text, encoding="utf-8")
    settings, item = open_item(workflow, "1" if workflow == "lld" else "rehearsal", [str(source)])
    base, prefix = BaseDir(settings.base_dir), prefix_for(workflow, item.id)
    run = base.run("rehearsal")
    out = PrefixedOutput(prefix, run.log(prefix))
    try:
        out.log_only(f"started: {item.title}")  # never the console: the warm parent's is doit's
        status, message = run_steps(workflow, item.id, Handoff(run.run_id, (str(source),)), (settings, item))
        ItemResult(workflow, item.id, status, message).write(run.item_result(prefix))
        ItemResult.read(run.item_result(prefix))
        checkpoint = base.checkpoint(workflow, item.id)
        summary = summarize(checkpoint, run.run_id)
        write_marker(base.marker(workflow, item.id), workflow=workflow, item_id=item.id, sources=[relative],
                     input_hash=item.input_hash, run_id=run.run_id, outputs=summary.outputs if summary else [])
        delete_checkpoint(checkpoint)
        out.log_only(status.value)
    finally:
        out.close()
