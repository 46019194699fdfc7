"""The GitHub CLI, run as a subprocess: missing, logged out or failing, each said in one line with its fix."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from .config import Settings
from .errors import AgentosError
from .fsutil import parse_json

GH_TIMEOUT_SECONDS = 120  # a filing step makes up to 3 calls under the worktree lock, which others wait 600 s for
_AUTH_HINTS = ("gh auth login", "not logged", "authentication", "auth token", "GH_TOKEN")


class GhError(AgentosError):
    """gh is missing, not logged in, or said something else; the message says which and what to do."""


def run_gh(settings: Settings, *args: str, stdin: str | None = None, repo: bool = False) -> str:
    """gh's standard output; with `repo`, in the `repo` setting's repository (else gh's default one)."""
    gh = shutil.which("gh")
    if gh is None:
        raise GhError("gh (the GitHub CLI) is not on PATH; install it from https://cli.github.com and run: "
                      "gh auth login")
    where = ["--repo", settings.repo] if repo and settings.repo else []
    command = " ".join(args[:2])
    try:
        done = subprocess.run([gh, *args, *where], cwd=settings.root, capture_output=True, text=True, check=False,
                              input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              timeout=GH_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise GhError(f"gh {command} did not answer within {GH_TIMEOUT_SECONDS} s; check the network and try "
                      "again") from None
    said = " ".join(done.stderr.split())[:300]
    if done.returncode != 0:
        if any(hint.lower() in said.lower() for hint in _AUTH_HINTS):
            raise GhError(f"gh is not logged in to GitHub; run: gh auth login (gh said: {said})")
        raise GhError(f"gh {command} failed with exit code {done.returncode}: {said or 'no message'}")
    return done.stdout


def list_issues(settings: Settings, *args: str, repo: bool = False) -> list[Any]:
    """`gh issue list ... --json ...`: the issues it printed, as a list; anything else is said in one line."""
    out = run_gh(settings, "issue", "list", *args, repo=repo)
    try:
        issues = parse_json(out)
    except ValueError:
        raise GhError("gh issue list did not print JSON; is this gh 2.x?") from None
    if not isinstance(issues, list):
        raise GhError("gh issue list printed JSON that is not a list of issues")
    return issues
