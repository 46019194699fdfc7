"""`agentos-jobs init`: make any repository ready, changing nothing that is already right."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from agentos_jobs.core.errors import ConfigError
from agentos_jobs.core.fsutil import atomic_write_text, display_path
from agentos_jobs.core.layout import BaseDir, ensure_base_dir
from agentos_jobs.core.settings import ROLE_SETTINGS, SETTINGS, Settings, load_settings
from agentos_jobs.core.toml_source import TomlSource
from agentos_jobs.design.conventions import find_conventions
from agentos_jobs.items.discovery import list_inputs

DODO = '''"""Tasks of this repository: `doit -n 3 lld`, `doit issue`, `doit list --all -s` (agentos-jobs)."""

from agentos_jobs.tasks import doit_config, task_issue, task_lld, task_sync_issues

DOIT_CONFIG = doit_config()
__all__ = ["DOIT_CONFIG", "task_issue", "task_lld", "task_sync_issues"]
'''

# The settings `init` writes, each with what it is for; its value and variable are the declaration's (core/settings.py).
_SHOWN = {
    "issues_dir": "<N>.md, <N>-<slug>.md or <N>.json -> `doit lld`",
    "ideas_dir": "*.md briefs -> `doit issue`",
    "docs_dir": "lld/active, lineage/active, issues/drafts are written under it",
    "max_iterations": "review rounds before an LLD ends as needs-revision",
    "worker_timeout_seconds": "per item",
    "provider": "the built-in deterministic stand-in",
}


def _shown(key: str, why: str) -> str:
    spec = SETTINGS.get(key) or ROLE_SETTINGS[key]
    default = spec.default
    if not isinstance(default, str | Path | int | float) or isinstance(default, bool):
        raise TypeError(f"{key}: init shows only text, path and number defaults, as TOML")  # a bug of ours, at import
    value = f'"{default.as_posix() if isinstance(default, Path) else default}"' if isinstance(default, str | Path) \
        else f"{default:g}" if isinstance(default, float) else str(default)
    return f"{key} = {value}".ljust(33) + f" # {why}" + (f"; env {spec.env}" if spec.env else "") + "\n"


STANZA = ("\n[tool.agentos_jobs]\n"
          "# Where items come from and where results go (paths relative to this file). Defaults shown.\n"
          + "".join(_shown(key, why) for key, why in _SHOWN.items()))



def init_project(root: Path, example: bool = False) -> list[str]:
    """Return one line per file: what was written or why it was left alone; what it found the repository
    already keeps; then the next steps. `example`: write an example issue, only where there is none."""
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
    settings = load_settings(root)  # the file as it is: a bad setting, a 'tool' that is no table, stops init here
    joined, said = None, []
    if "agentos_jobs" not in data.get("tool", {}):
        newline = "\r\n" if "\r\n" in text else "\n"
        found = find_conventions(settings)
        said = found.said
        chosen = "".join(f"{key} = {json.dumps(value, ensure_ascii=False)}  # found by init: already in use\n"
                         for key, value in found.settings.items())
        stanza = (STANZA + chosen if text else STANZA.lstrip("\n") + chosen).replace("\n", newline)
        joined = text + ("" if not text or text.endswith("\n") else newline) + stanza
        try:  # never write a file that no longer parses
            tomllib.loads(joined)
        except tomllib.TOMLDecodeError:  # the one way a parsed file stops parsing: `tool` is closed to new tables
            raise ConfigError(f"{pyproject}:{TomlSource.parse(text).line_of('tool')}: 'tool' is an inline table "
                              "(tool = {...}), which no [tool.agentos_jobs] table can be added to: write it as "
                              "[tool.<name>] tables, then run 'agentos-jobs init' again") from None

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

    if joined is None:
        report.append("pyproject.toml already has [tool.agentos_jobs]: unchanged")
    else:
        atomic_write_text(pyproject, joined)
        report.append(f"{'added [tool.agentos_jobs] to' if text else 'wrote'} pyproject.toml")
        report += [f"  {line}" for line in said]

    settings = load_settings(root)
    existed = BaseDir(settings.base_dir).gitignore.exists()
    ensure_base_dir(settings)
    report.append(f"{settings.base_dir.name}/.gitignore {'already there: unchanged' if existed else 'written'}")
    return report + next_steps(settings, example)


EXAMPLE = """# Example: print the version from the command line

An example issue that `agentos-jobs init --example` wrote to try a run on: delete it once your own issues are here
(and before `doit sync_issues` brings GitHub's issue #1).

The command line should say which version is installed, so that a bug report can name it.

## Acceptance criteria
- [ ] `--version` prints the installed version and exits 0
- [ ] The version printed is the package's own, read from its metadata
"""


def next_steps(settings: Settings, example: bool) -> list[str]:
    """What to do now: where an issue goes (an example to try where there is none), the dry run, the run."""
    issues = display_path(settings.issues_dir, settings.root)
    empty = not list_inputs(settings, "lld").files
    lines = ["next steps:",
             f"  1. put each issue in {issues}/ as <N>.md (or <N>-<slug>.md): '# Title', what it asks, its acceptance "
             "criteria as '- [ ]' items; 'doit sync_issues' fetches GitHub's open issues there"]
    if empty and example:
        atomic_write_text(settings.issues_dir / "1-example.md", EXAMPLE)
        lines.append(f"     wrote {issues}/1-example.md, an example issue to try a run on (delete it when yours are "
                     "there)")
    elif empty:
        lines.append(f"     {issues}/ has no issue yet: 'agentos-jobs init --example' writes one to try a run on")
    elif example:
        lines.append(f"     no example written: {issues}/ has issues already")
    lines += ["  2. doit list --all -s    the dry run: every item, R (will run) or U (done); nothing runs",
              f"  3. doit -n 3 lld         an LLD for every pending issue, 3 at a time, into "
              f"{display_path(settings.lld_dir, settings.root)}/ (the offline stand-in until you set provider and "
              "model)"]
    return lines
