"""Filing an approved issue draft on GitHub with `gh issue create`, once.

The body carries a hidden token naming the brief and the version of it (`<!-- agentos-jobs: issue:<slug>
<hash> -->`). Before creating, gh is asked for an issue (open or closed) that carries it: a run that died after GitHub
created the issue but before the checkpoint saved its number finds that issue on the re-run instead of filing
a second one (also when GitHub's search index has not caught up with it yet: the newest issues are read too).
The filed draft moves to `<issues_dir>/<N>-<slug>.md` with `number` and `url` in its front matter, where the LLD
workflow finds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentos_jobs.core.errors import GhError
from agentos_jobs.core.fsutil import atomic_write_text, display_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.github.gh import list_issues, run_gh

TOKEN_HASH_CHARS = 16
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class Filed:
    number: int
    url: str

    def dump(self) -> str:
        return f"{self.number} {self.url}"

    @classmethod
    def load(cls, text: str) -> Filed:
        number, url = text.split(" ", 1)
        return cls(int(number), url)


def dedupe_token(slug: str, input_hash: str) -> str:
    """Stable for one version of one brief: an edited brief is a new issue."""
    return f"<!-- agentos-jobs: issue:{slug} {input_hash[:TOKEN_HASH_CHARS]} -->"


def split_draft(design: str, fallback: str) -> tuple[str, str]:
    """An issue draft's title (its first `# Title` heading, else `fallback`) and the body without that line."""
    lines = design.strip().splitlines()
    at = next((n for n, line in enumerate(lines) if line.startswith("# ")), None)
    if at is None:
        return fallback, design.strip()
    return lines[at][2:].strip() or fallback, "\n".join(lines[:at] + lines[at + 1:]).strip()


def find_filed(settings: Settings, token: str) -> Filed | None:
    """An issue, open or closed (someone may have closed it since), whose body carries `token`: gh's search finds
    candidates, then, since GitHub's search index can lag a new issue by some seconds, the newest issues are read
    too. The body must hold it whole."""
    phrase = token.removeprefix("<!-- ").removesuffix(" -->")
    for query in (["--search", f'"{phrase}" in:body'], []):
        issues = list_issues(settings, "--state", "all", *query, "--json", "number,url,title,body", "--limit",
                             str(SEARCH_LIMIT), repo=True)
        for issue in issues:
            if (isinstance(issue, dict) and token in str(issue.get("body") or "")
                    and isinstance(issue.get("number"), int)):
                return Filed(issue["number"], str(issue.get("url") or ""))
    return None


def file_issue(settings: Settings, title: str, body: str, labels: tuple[str, ...], token: str,
               say: Callable[[str], None]) -> str:
    """File the issue unless an open one carries its token; the Filed record, dumped for the checkpoint."""
    if found := find_filed(settings, token):
        say(f"already filed as #{found.number} ({found.url}): an issue carries this draft's token")
        return found.dump()
    args = ["issue", "create", "--title", title, "--body-file", "-"]
    for label in labels:
        args += ["--label", label]
    out = run_gh(settings, *args, stdin=f"{body}\n\n{token}\n", repo=True)
    url = next((line.strip() for line in reversed(out.splitlines()) if line.strip().startswith("http")), "")
    number = url.rstrip("/").rsplit("/", 1)[-1]
    if not number.isdigit():
        raise GhError(f"gh issue create printed no issue URL ({out.strip()[:200]!r}); the issue may have been "
                      "created: the re-run looks for it by its token before filing")
    return Filed(int(number), url).dump()


def filed_path(settings: Settings, filed: Filed, slug: str) -> Path:
    return settings.issues_dir / f"{filed.number}-{slug}.md"


def move_filed(settings: Settings, draft: Path, filed: Filed, slug: str, title: str, body: str,
               labels: tuple[str, ...]) -> str:
    """The draft becomes an LLD input: `<N>-<slug>.md` with number and url in its front matter. Its output
    lines (the file, the URL) are the item's outputs, in its marker."""
    target = filed_path(settings, filed, slug)
    front = [f"title: {json.dumps(title, ensure_ascii=False)}", f"number: {filed.number}",
             f"url: {json.dumps(filed.url)}"]
    if labels:
        front.append(f"labels: [{', '.join(json.dumps(label, ensure_ascii=False) for label in labels)}]")
    atomic_write_text(target, "---\n" + "\n".join(front) + "\n---\n\n" + body + "\n")
    draft.unlink(missing_ok=True)
    return f"{display_path(target, settings.root)}\n{filed.url}"
