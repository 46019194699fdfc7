"""`doit sync_issues` / `agentos-jobs sync`: open GitHub issues into docs/issues/<N>.json, changing only what
changed, so the next `doit lld` picks up new and edited issues (and only those)."""

from __future__ import annotations

import json
from typing import Any

from agentos_jobs.core.errors import GhError
from agentos_jobs.core.fsutil import atomic_write_text, display_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.github.gh import list_issues

GH_FIELDS = "number,title,body,labels"
GH_LIMIT = 1000


def fetch_open_issues(settings: Settings) -> list[dict[str, Any]]:
    issues = list_issues(settings, "--state", "open", "--json", GH_FIELDS, "--limit", str(GH_LIMIT))
    if not all(isinstance(i, dict) and isinstance(i.get("number"), int)
                                                and isinstance(i.get("title"), str) for i in issues):
        raise GhError("gh issue list printed JSON without number and title for every issue")
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
