"""doit glue: the tasks `dodo.py` exposes and the defaults doit runs them with."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Iterator
from typing import Any

from doit.action import CmdAction
from doit.cmd_base import DodoTaskLoader, DoitCmdBase
from doit.cmd_clean import Clean
from doit.cmdparse import CmdOption, CmdParse, CmdParseError
from doit.exceptions import InvalidDodoFile, TaskFailed

from agentos_jobs.core.errors import ConfigError, RunLocked
from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.ids import WORKFLOWS, prefix_for
from agentos_jobs.core.layout import BaseDir, ensure_base_dir
from agentos_jobs.core.os_process import install_early_stop, quiet_in_a_closed_pipe
from agentos_jobs.core.run_id import ensure_run_env
from agentos_jobs.core.run_locks import RunLock
from agentos_jobs.core.settings import DEFAULT_PARALLEL, Settings
from agentos_jobs.core.status import EXIT_REFUSED
from agentos_jobs.core.text import shown_name
from agentos_jobs.items.discovery import discover, list_inputs
from agentos_jobs.items.markers import marker_is_current
from agentos_jobs.items.owned import OutputFolders, existing_work_line, foreign_files
from agentos_jobs.procs.launch import open_for_run
from agentos_jobs.procs.shm import parallel_type
from agentos_jobs.procs.worker import run_item
from agentos_jobs.run.depfile import usable_dep_file
from agentos_jobs.run.project import project_settings
from agentos_jobs.run.shards import this_share
from agentos_jobs.steps.checkpoint import delete_checkpoint


def run_item_task(workflow: str, item_id: str, sources: list[str], base_dir: str) -> TaskFailed | None:
    """The doit action of an item: its process's exit code, as doit reads success."""
    code = run_item(workflow, item_id, sources, base_dir)
    return None if code == 0 else TaskFailed(f"{workflow}:{item_id} ended with exit code {code}")


def doit_config() -> dict[str, Any]:
    """DOIT_CONFIG for dodo.py: 3 at a time, keep going after a failure, doit's dep file under .agentos."""
    install_early_stop()  # first: the imports below take a while, and Ctrl+C may come meanwhile
    refuse_unsupported(sys.argv[1:])
    if doit_command(sys.argv[1:]) in PRINT_ONLY:
        quiet_in_a_closed_pipe()
    settings = project_settings()
    if doit_command(sys.argv[1:]) == "run":  # a warm parent warms up while doit reads the tasks (gone if none is
        try:                                 # pending): the one place a run's door is chosen (launch.py)
            open_for_run(settings.process_start)
        except ConfigError as exc:
            raise InvalidDodoFile(str(exc)) from None
    from agentos_jobs.run.reporter import RunReporter

    refuse_misread_tasks(sys.argv[1:], settings)
    refuse_untargeted_clean(sys.argv[1:], settings)
    ensure_run_env()
    try:
        ensure_base_dir(settings)
    except ConfigError as exc:
        raise InvalidDodoFile(str(exc)) from None
    return {
        "default_tasks": ["lld"],
        "num_process": DEFAULT_PARALLEL,
        "par_type": parallel_type(sys.argv[1:]) if doit_command(sys.argv[1:]) == "run" else "process",
        "continue": not settings.fail_fast,  # fail_fast: doit's own gentle stop, GNU parallel's --halt soon
        "backend": "sqlite3",
        "dep_file": str(usable_dep_file(BaseDir(settings.base_dir).dep_file)),
        "reporter": RunReporter,
    }


DOIT_COMMANDS = ("run", "list", "info", "clean", "forget", "ignore", "help", "dumpdb", "strace", "auto",
                 "tabcompletion", "reset-dep")
PRINT_ONLY = ("list", "info", "help", "dumpdb", "tabcompletion")  # commands that change nothing


def doit_command(argv: list[str]) -> str:
    return next((arg for arg in argv if arg in DOIT_COMMANDS), "run")


def refuse_unsupported(argv: list[str]) -> None:
    """Two doit features that would run items behind the run's back, refused in one line: another reporter
    (the run lock, the summary and the exit code are the agentos-jobs reporter's) and `strace` (it cannot see
    into an item's processes, and would run the item without the lock)."""
    command = doit_command(argv)
    reporter = any(arg == "--reporter" or arg.startswith(("--reporter=", "-r")) for arg in argv)
    why = None
    if command == "strace":
        why = ("'doit strace' cannot follow an item's processes and would run it without the run lock; to trace "
               "one, run: strace -f -e trace=file agentos-jobs run lld <id>")
    elif command == "run" and reporter:
        why = ("doit's --reporter is not supported: the run lock, the summary and the exit code are "
               "agentos-jobs' own reporter's; 'agentos-jobs report --json' gives a run's summary as JSON")
    if why:
        sys.stderr.write(f"agentos-jobs: {why}\n")
        raise SystemExit(EXIT_REFUSED)


def refuse_misread_tasks(argv: list[str], settings: Settings) -> None:
    """doit reads an argument with '=' as a variable, so `doit lld:2=x` would run every pending item, and it runs
    nothing, without a word, for a pattern that matches no task (`doit 'lld:9*'`): both are refused in one line,
    as is an item that does not exist (doit's own message is four lines)."""
    for arg in argv:
        group = arg.split("=", 1)[0].split(":", 1)[0]
        if arg.startswith("-") or group not in WORKFLOWS:
            continue
        shown = "'" + shown_name(arg) + "'"
        if "=" in arg:
            why = (f"{shown} is not a task: doit reads NAME=VALUE as a variable and would run every pending item; "
                   "task ids hold no '=' ('doit list --all' shows them)")
        elif ":" in arg and not _names_an_item(arg, group, settings):
            why = (f"{shown} matches no item in {shown_name(display_path(settings.inputs_dir(group), settings.root))}"
                   "; 'doit list --all' shows the items there are, and why a file is ignored")
        else:
            continue
        sys.stderr.write(f"agentos-jobs: {why}\n")
        raise SystemExit(EXIT_REFUSED)


def refuse_untargeted_clean(argv: list[str], settings: Settings) -> None:
    """doit's bare `clean` cleans its default task, `lld`, and `clean -a` every task: each item's marker and
    checkpoint would go, and the next run would pay for every finished item again. Both are refused, naming what
    they would reset; a clean names its target (`doit clean lld:42`, or `doit clean lld` for the group) or is a
    `--dry-run`. The arguments are read with doit's own parser, as its clean command will read them."""
    if doit_command(argv) != "clean":
        return
    options = (*DoitCmdBase.base_options, *DodoTaskLoader.cmd_options, *Clean.cmd_options)
    try:
        params, targets = CmdParse([CmdOption(option) for option in options]).parse(argv[argv.index("clean") + 1:])
    except CmdParseError:
        return  # doit says what is wrong with them
    if params["dryrun"] or (targets and not params["cleanall"]):
        return
    base = BaseDir(settings.base_dir)
    kept = [f"{workflow}:{item_id}" for workflow in WORKFLOWS for item_id in list_inputs(settings, workflow).files
            if base.marker(workflow, item_id).exists() or base.checkpoint(workflow, item_id).exists()]
    what = "'doit clean -a' cleans every task" if params["cleanall"] else "'doit clean' names no task"
    if kept:
        what += (f": it would reset {len(kept)} item(s), {', '.join(kept[:5])}{', ...' if len(kept) > 5 else ''}, "
                 "and the next run would pay for them again")
    one = kept[0] if kept else "lld:42"
    group = one.split(":", 1)[0]
    sys.stderr.write(f"agentos-jobs: {what}; name what to reset: 'doit clean {one}' for one item, 'doit clean "
                     f"{group}' for every {group} item ('doit clean --dry-run {group}' shows what would go)\n")
    raise SystemExit(EXIT_REFUSED)


def _names_an_item(arg: str, group: str, settings: Settings) -> bool:
    """As doit selects: by pattern when the argument holds a '*', else by the exact task name."""
    names = [f"{group}:{item_id}" for item_id in list_inputs(settings, group).files]
    return any(fnmatch.fnmatchcase(name, arg) for name in names) if "*" in arg else arg in names


def all_current(markers: list[tuple[str, str]]) -> bool:
    """The group task (`lld`) is up to date when every item is: what `doit list -s` shows for it."""
    return all(marker_is_current(marker, input_hash) for marker, input_hash in markers)


def clean_item(workflow: str, item_id: str, dryrun: bool) -> None:
    """`doit clean lld:42`: the way to run a finished item again. Its marker and checkpoint go, so the next run
    starts it from its first step; its LLD, drafts and lineage stay: they are committed work, yours to remove.
    While a run holds the worktree it is refused, and doit ends at once with exit 3 (a clean action's failure
    would only be printed, and doit would exit 0)."""
    settings = project_settings()
    base = BaseDir(settings.base_dir)
    parts = [base.marker(workflow, item_id), base.checkpoint(workflow, item_id)]
    shown = ", ".join(display_path(p, settings.root) for p in parts if p.exists()) or "nothing to remove"
    if dryrun:
        print(f"{prefix_for(workflow, item_id)}: would remove {shown}")
        return
    lock = RunLock(settings)  # never under a running item's feet
    try:
        lock.acquire(f"clean {workflow}:{item_id}")
    except RunLocked as exc:
        sys.stderr.write(f"agentos-jobs: {prefix_for(workflow, item_id)} not reset: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    parts[0].unlink(missing_ok=True)
    delete_checkpoint(parts[1])
    print(f"{prefix_for(workflow, item_id)}: removed {shown}; the next run starts it from its first step")


def item_tasks(workflow: str) -> Iterator[dict[str, Any]]:
    """One task per item: `lld:42`. Its target is the marker; `uptodate` compares the marker's input hash.
    The group task (`lld`) comes first: doit takes its attributes from the entry named None."""
    settings = project_settings()
    items, ignored = discover(settings, workflow)
    items = this_share(items)  # AGENTOS_SHARD=i/n: this machine's share (shards.py)
    for line in ignored:  # named on every load: in the dry run (`doit list`) and in the run
        sys.stderr.write(f"agentos-jobs: {line}\n")
    base = BaseDir(settings.base_dir)
    markers = [(str(base.marker(workflow, item.id)), item.input_hash) for item in items]
    yield {"name": None, "doc": GROUP_DOCS[workflow], "uptodate": [(all_current, [markers], {})]}
    folders = OutputFolders(settings, workflow)
    for item, (marker, input_hash) in zip(items, markers, strict=True):
        yield {
            "name": item.id,
            "doc": f"{item.title}{FILES if workflow == 'issue' and settings.file_issues else ''}"
                   f"{_stops(settings, workflow, item.id, marker, input_hash, folders)}",
            "actions": [(run_item_task, [workflow, item.id, [str(path) for path in item.sources],
                                         str(settings.base_dir)])],
            "clean": [(clean_item, [workflow, item.id])],
            "targets": [marker],
            "uptodate": [(marker_is_current, [marker, input_hash], {})],
            "io": {"capture": False},
            "meta": {"agentos": {"workflow": workflow, "id": item.id}},
            "verbosity": 2,
        }


def _stops(settings: Settings, workflow: str, item_id: str, marker: str, input_hash: str,
           folders: OutputFolders) -> str:
    """What the dry run says of an item that would stop `exists` (owned.py); most items have nothing there."""
    if not folders.present(item_id) or marker_is_current(marker, input_hash):
        return ""
    foreign = foreign_files(settings, workflow, item_id, folders)
    return f" (exists: {existing_work_line(settings, workflow, item_id, foreign)})" if foreign else ""


FILES = " (files a GitHub issue when approved: file_issues)"  # what the dry run says of an item it would file
GROUP_DOCS = {"lld": "Draft and review a Low-Level Design for every pending issue.",
              "issue": "Turn every brief in the ideas folder into a reviewed issue draft."}


def task_lld() -> Iterator[dict[str, Any]]:
    return item_tasks("lld")


def task_issue() -> Iterator[dict[str, Any]]:
    return item_tasks("issue")


def task_sync_issues() -> dict[str, Any]:
    """Fetch open GitHub issues with gh into the issues folder (only what changed)."""
    return {
        "actions": [CmdAction([sys.executable, "-m", "agentos_jobs", "sync"], shell=False)],
        "io": {"capture": False},
        "meta": {"agentos_tool": "sync"},
        "verbosity": 2,
    }
