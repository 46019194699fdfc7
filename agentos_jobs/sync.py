"""`doit sync_issues` / `agentos-jobs sync`: open GitHub issues into docs/issues/<N>.json, changing only what
changed, so the next `doit lld` picks up new and edited issues (and only those)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from .config import Settings
from .errors import AgentosError
from .fsutil import atomic_write_text, display_path, parse_json

GH_FIELDS = "number,title,body,labels"
GH_LIMIT = 1000
_AUTH_HINTS = ("gh auth login", "not logged", "authentication", "auth token", "GH_TOKEN")


class SyncError(AgentosError):
    """gh is missing, not logged in, or said something else; the message says which and what to do."""


def fetch_open_issues(settings: Settings) -> list[dict[str, Any]]:
    gh = shutil.which("gh")
    if gh is None:
        raise SyncError("gh (the GitHub CLI) is not on PATH; install it from https://cli.github.com and run: "
                        "gh auth login")
    try:
        done = subprocess.run([gh, "issue", "list", "--state", "open", "--json", GH_FIELDS, "--limit", str(GH_LIMIT)],
                              cwd=settings.root, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        raise SyncError("gh issue list did not answer within 300 s; check the network and try again") from None
    said = " ".join(done.stderr.split())[:300]
    if done.returncode != 0:
        if any(hint.lower() in said.lower() for hint in _AUTH_HINTS):
            raise SyncError(f"gh is not logged in to GitHub; run: gh auth login (gh said: {said})")
        raise SyncError(f"gh issue list failed with exit code {done.returncode}: {said or 'no message'}")
    try:
        issues = parse_json(done.stdout)
    except ValueError:
        raise SyncError("gh issue list did not print JSON; is this gh 2.x?") from None
    if not isinstance(issues, list) or not all(isinstance(i, dict) and isinstance(i.get("number"), int)
                                                and isinstance(i.get("title"), str) for i in issues):
        raise SyncError("gh issue list printed JSON without number and title for every issue")
    return issues


def sync_issues(settings: Settings) -> None:
    """Write each open issue as gh gives it; an issue that has a Markdown file of its own is left alone."""
    issues = fetch_open_issues(settings)
    folder = settings.issues_dir
    folder.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, list[int]] = {"new": [], "updated": [], "unchanged": [], "kept-markdown": []}
    for issue in sorted(issues, key=lambda i: int(i["number"])):
        number = int(issue["number"])
        if (folder / f"{number}.md").exists() or any(folder.glob(f"{number}-*.md")):
            outcome["kept-markdown"].append(number)
            continue
        text = json.dumps({"number": number, "title": issue["title"], "body": issue.get("body") or "",
                           "labels": issue.get("labels") or []}, indent=2, ensure_ascii=False) + "\n"
        path = folder / f"{number}.json"
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == text:
            outcome["unchanged"].append(number)
            continue
        atomic_write_text(path, text)
        outcome["updated" if old is not None else "new"].append(number)
    open_numbers = {int(i["number"]) for i in issues}
    closed = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit() and int(p.stem) not in open_numbers)
    if len(issues) >= GH_LIMIT:  # there may be more: nothing can be called closed
        print(f"warning: gh returned {GH_LIMIT} issues, the most asked for; later ones are not synced")
        closed = []
    counts = ", ".join(f"{len(v)} {k}" for k, v in outcome.items() if v) or "none"
    print(f"synced {len(issues)} open issue(s) into {display_path(folder, settings.root)}: {counts}")
    for key in ("new", "updated"):
        if outcome[key]:
            print(f"{key}: " + ", ".join(f"#{n}" for n in outcome[key]))
    if closed:
        print("no longer open on GitHub (left in place; delete them to stop their LLDs): "
            + ", ".join(f"#{n}" for n in closed))
