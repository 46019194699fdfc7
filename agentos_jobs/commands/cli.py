"""`agentos-jobs`: set up a repository, run one item by hand, inspect keys and past runs, sync issues."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentos_jobs import __version__
from agentos_jobs.commands.until_done import FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS, run_until_done
from agentos_jobs.core.errors import AgentosError, say_error
from agentos_jobs.core.os_process import quiet_in_a_closed_pipe
from agentos_jobs.core.settings import load_settings
from agentos_jobs.core.status import EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agentos-jobs",
        description="Run LLM workflows over every pending item of a repository. Day to day you type doit: "
                    "'doit -n 3 lld', 'doit issue', 'doit list --all -s'.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="make this repository ready: dodo.py, [tool.agentos_jobs], "
                                            ".agentos/.gitignore (safe to run twice)")
    init.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    init.add_argument("--example", action="store_true", help="write an example issue to try a run on (only where "
                                                             "the issues folder has none)")
    run = commands.add_parser("run", help="run one pending item in the foreground (holds the run lock; a done "
                                          "item is left alone)")
    run.add_argument("workflow", help="lld or issue")
    run.add_argument("item_id", help="the issue number (lld) or brief slug (issue)")
    for action, says in (("adopt", "take the design already at an item's output paths, which agentos-jobs did not "
                                   "write, as the finished work (the item is done)"),
                         ("replace", "let the next run write over the files agentos-jobs did not write at an item's "
                                     "output paths (its lineage moves to superseded/)")):
        taking = commands.add_parser(action, help=says)
        taking.add_argument("workflow", choices=("lld", "issue"))
        taking.add_argument("item_ids", nargs="*", metavar="item_id",
                            help="issue numbers (lld) or brief slugs (issue)")
        taking.add_argument("--all", action="store_true", help="every item that would stop, exists")
    until = commands.add_parser("until-done", help="run doit again, with a growing pause, until no item waits for "
                                                   "its batch (batch = true): 'agentos-jobs until-done -- -n 3 lld'")
    until.add_argument("--pause", type=float, default=FIRST_PAUSE_SECONDS,
                       help=f"seconds before the first re-run, doubling to {MAX_PAUSE_SECONDS:g} (default: "
                            f"{FIRST_PAUSE_SECONDS:g})")
    until.add_argument("doit_args", nargs=argparse.REMAINDER, help="doit's arguments, after --")
    commands.add_parser("keys", help="the credential pool: each key's name, provider and state, never the key")
    commands.add_parser("sync", help="fetch open GitHub issues (gh issue list) into docs/issues/<N>.json")
    reporting = commands.add_parser("report", help="print a past run's summary again")
    reporting.add_argument("run_id", nargs="?", help="a run id or its unique start (default: the latest run)")
    reporting.add_argument("--json", action="store_true", help="the summary.json, for machines")
    reporting.add_argument("--list", action="store_true", help="every past run, one line each")
    args = parser.parse_args(argv)
    if args.command in ("keys", "report"):  # they only print
        quiet_in_a_closed_pipe()
    try:
        if args.command == "init":
            from agentos_jobs.commands.init import init_project

            for line in init_project(args.root.resolve(), args.example):
                print(line)
            return 0
        if args.command in ("adopt", "replace"):
            from agentos_jobs.commands.adopt import take_over

            if bool(args.item_ids) == args.all:
                parser.error(f"{args.command}: name the items (e.g. {args.command} lld 42) or give --all, not both")
            for line in take_over(args.command, args.workflow, args.item_ids, args.all):
                print(line)
            return 0
        if args.command == "until-done":
            if not args.pause > 0:
                parser.error(f"until-done: --pause must be a positive number of seconds, got {args.pause:g}")
            doit_args = args.doit_args[1:] if args.doit_args[:1] == ["--"] else args.doit_args
            return run_until_done(load_settings(), doit_args, args.pause, lambda line: print(line, flush=True))
        if args.command == "keys":
            from agentos_jobs.commands.keys import print_keys

            return print_keys()
        if args.command == "sync":
            from agentos_jobs.github.sync import sync_issues

            sync_issues(load_settings())
            return 0
        if args.command == "report":
            from agentos_jobs.commands.report import list_runs, report

            settings = load_settings()
            sys.stdout.write(list_runs(settings) if args.list else report(settings, args.run_id, args.json))
            return 0
        return run_by_hand(args.workflow, args.item_id)
    except KeyboardInterrupt:  # Ctrl+C before an item's own handlers are in place: nothing had started
        print("agentos-jobs: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AgentosError as exc:
        return say_error(exc)


def run_by_hand(workflow: str, item_id: str) -> int:
    """What `doit lld:42` does for one item, without doit: the same lock, the same up-to-date rule."""
    from agentos_jobs.core.ids import prefix_for
    from agentos_jobs.core.layout import BaseDir
    from agentos_jobs.core.run_id import new_run_id
    from agentos_jobs.core.run_locks import RunLock
    from agentos_jobs.items.discovery import open_item
    from agentos_jobs.items.markers import marker_is_current
    from agentos_jobs.procs.handoff import Handoff
    from agentos_jobs.procs.wrapper import run_item
    from agentos_jobs.providers.registry import preflight

    settings, item = open_item(workflow, item_id)
    marker = BaseDir(settings.base_dir).marker(workflow, item_id)
    if marker_is_current(str(marker), item.input_hash):
        print(f"{prefix_for(workflow, item_id)} is done (marker {marker}); to run it again from its first step: "
              f"doit clean {workflow}:{item_id}")
        return 0
    preflight(settings)
    run_id = new_run_id()
    lock = RunLock(settings)  # held, by this reference, until the item has ended: a doit run is refused meanwhile
    lock.acquire(run_id)
    return run_item(workflow, item_id, Handoff(run_id, tuple(str(path) for path in item.sources)))
