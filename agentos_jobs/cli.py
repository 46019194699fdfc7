"""`agentos-jobs`: set up a repository, run one item by hand, and (later) inspect keys and past runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError, load_settings
from .credentials import CredentialsError
from .ids import InvalidItemId
from .report import ReportError
from .status import EXIT_FAILED
from .sync import SyncError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="agentos-jobs",
        description="Run LLM workflows over every pending item of a repository. Day to day you type doit: "
                    "'doit -n 3 lld', 'doit issue', 'doit list --all -s'.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="make this repository ready: dodo.py, [tool.agentos_jobs], "
                                            ".agentos/.gitignore (safe to run twice)")
    init.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: here)")
    run = commands.add_parser("run", help="run one item in this process tree, as a doit task does")
    run.add_argument("workflow", help="lld or issue")
    run.add_argument("item_id", help="the issue number (lld) or brief slug (issue)")
    commands.add_parser("keys", help="the credential pool: each key's name, provider and state, never the key")
    commands.add_parser("sync", help="fetch open GitHub issues (gh issue list) into docs/issues/<N>.json")
    reporting = commands.add_parser("report", help="print a past run's summary again")
    reporting.add_argument("run_id", nargs="?", help="a run id or its unique start (default: the latest run)")
    reporting.add_argument("--json", action="store_true", help="the summary.json, for machines")
    args = parser.parse_args(argv)

    try:
        if args.command == "init":
            from .scaffold import init_project

            for line in init_project(args.root.resolve()):
                print(line)
            return 0
        if args.command == "keys":
            from .keys import print_keys

            return print_keys()
        if args.command == "sync":
            from .sync import sync_issues

            sync_issues(load_settings())
            return 0
        if args.command == "report":
            from .report import report

            sys.stdout.write(report(load_settings(), args.run_id, args.json))
            return 0
        from .wrapper import run_item

        return run_item(args.workflow, args.item_id)
    except (InvalidItemId, ConfigError, CredentialsError, SyncError, ReportError) as exc:
        print(f"agentos-jobs: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ConfigError, CredentialsError)) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
