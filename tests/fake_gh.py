"""A fake `gh` for tests: a Python script put on PATH that answers `gh issue create` and `gh issue list` as gh
does, keeps the issues it made in a JSON file and records every call (argv and stdin) in another.

FAKE_GH_MODE=unauthenticated answers as a logged-out gh; =error as a failing GitHub. FAKE_GH_KILL_ONCE=<path>
makes the first `issue create` SIGKILL its caller right after printing the URL (and leave <path> behind);
FAKE_GH_SEARCH_LAG=1 makes `--search` find nothing, as GitHub's index does for a few seconds after a create;
FAKE_GH_LINGER=1 makes `issue create` exit 0 leaving a child (in a session of its own) that holds its stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

SCRIPT = """#!{python}
import json, os, signal, sys
state, calls = os.environ["FAKE_GH_STATE"], os.environ["FAKE_GH_CALLS"]
args = sys.argv[1:]
body = sys.stdin.read() if "--body-file" in args else None
recorded = json.load(open(calls)) if os.path.exists(calls) else []
recorded.append({{"args": args, "stdin": body}})
json.dump(recorded, open(calls, "w"))
mode = os.environ.get("FAKE_GH_MODE", "ok")
if mode == "unauthenticated":
    sys.stderr.write("To get started with GitHub CLI, please run:  gh auth login\\n")
    sys.exit(4)
if mode == "error":
    sys.stderr.write("HTTP 502: Server Error (https://api.github.com/graphql)\\n")
    sys.exit(1)
def value(flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]
issues = json.load(open(state)) if os.path.exists(state) else []
repo = (value("--repo") or ["octo/default"])[0]
if args[:2] == ["issue", "list"]:
    search = (value("--search") or [""])[0]
    phrase = search.split('"')[1] if '"' in search else search
    lag = os.environ.get("FAKE_GH_SEARCH_LAG") and search  # the search index has not seen new issues yet
    wanted = {{"open": ["OPEN"], "closed": ["CLOSED"], "all": ["OPEN", "CLOSED"]}}[(value("--state") or ["open"])[0]]
    found = [i for i in issues if i["state"] in wanted and phrase in i["body"] and not lag]
    found = sorted(found, key=lambda i: -i["number"])[:int(value("--limit")[0])]
    fields = value("--json")[0].split(",")
    print(json.dumps([{{k: i[k] for k in fields}} for i in found]))
elif args[:2] == ["issue", "create"]:
    number = len(issues) + 1
    url = "https://github.com/%s/issues/%d" % (repo, number)
    issues.append({{"number": number, "url": url, "title": value("--title")[0], "body": body,
                   "labels": value("--label"), "state": "OPEN"}})
    json.dump(issues, open(state, "w"))
    print("Creating issue in %s\\n" % repo, file=sys.stderr)
    print(url, flush=True)
    if os.environ.get("FAKE_GH_LINGER"):  # exits, leaving a child of its own session that holds stdout open
        import subprocess
        subprocess.Popen(["sleep", "600"], start_new_session=True)
    once = os.environ.get("FAKE_GH_KILL_ONCE")
    if once and not os.path.exists(once):
        open(once, "w").close()
        os.kill(os.getppid(), signal.SIGKILL)
else:
    sys.stderr.write("unknown command %r\\n" % args)
    sys.exit(1)
"""


class FakeGh:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.bindir = home / "gh-bin"
        self.bindir.mkdir(exist_ok=True)
        gh = self.bindir / "gh"
        gh.write_text(SCRIPT.format(python=sys.executable))
        gh.chmod(0o755)
        self.state, self.calls_file = home / "gh-issues.json", home / "gh-calls.json"
        env.update({"PATH": f"{self.bindir}{os.pathsep}{env['PATH']}", "FAKE_GH_STATE": str(self.state),
                    "FAKE_GH_CALLS": str(self.calls_file)})

    def issues(self) -> list[dict[str, Any]]:
        return json.loads(self.state.read_text()) if self.state.exists() else []  # type: ignore[no-any-return]

    def calls(self, command: str = "") -> list[dict[str, Any]]:
        recorded = json.loads(self.calls_file.read_text()) if self.calls_file.exists() else []
        return [c for c in recorded if " ".join(c["args"]).startswith(command)]
