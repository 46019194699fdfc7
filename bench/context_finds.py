"""Benchmark: does an item's context hold what its issue names? On a real repository of 1,000 files or more,
for each of its issues that names files it holds or identifiers its source defines, it builds the item's
context (`context.build_context`, what the first request carries before the item's own text) and reports the
share of the named files that reach it, the share of the named definitions whose `def`/`class` line reaches it
(goal: 100 % of each), and the time the context takes per item.

What an issue names is found here independently of the code under test: a path word that `git ls-files` lists,
and a code-span identifier whose last part a non-test Python file of the repository defines (`def NAME` or
`class NAME` at the start of a line), unless its first part is a module of the standard library. Issues are
the repository's own: every `docs/lineage/*/*/001-issue.md` (the shape AssemblyZero keeps them in), or the
files given. Not a test: run it by hand, on a clone,

    git clone -q /path/to/AssemblyZero /tmp/az
    .venv/bin/python bench/context_finds.py /tmp/az --items 30

To measure another version of the code, run this same script with PYTHONPATH set to that version's checkout.
Nothing is written to the repository or to ~.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.context import build_context
from agentos_jobs.items.discovery import Document

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_WORD = re.compile(r"[\w./-]+")
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_TEST = re.compile(r"(?:^|/)(?:tests?|__tests__)/|(?:^|/)(?:test_[^/]*|conftest\.py)$")


def listed(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
    return [name.decode() for name in out.split(b"\0") if name]


def definitions(root: Path, files: list[str]) -> dict[str, str]:
    """Every name a non-test Python file defines at the start of a line -> its definition line (the first)."""
    found: dict[str, str] = {}
    for path in files:
        if not path.endswith(".py") or _TEST.search(path):
            continue
        text = (root / path).read_text("utf-8", "replace")
        for match in re.finditer(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*).*$", text, re.MULTILINE):
            found.setdefault(match.group(1), match.group(0).strip())
    return found


def named(text: str, files: set[str], defined: dict[str, str]) -> tuple[list[str], list[str]]:
    """The listed files the issue names by path, and the names of its code spans that the source defines."""
    paths = []
    for word in _WORD.findall(text):
        word = re.sub(r"(?::\d+)+$", "", word.strip("./")).removeprefix("./")
        if word in files and word not in paths:
            paths.append(word)
    names = []
    for span in _CODE_SPAN.findall(text):
        name = re.sub(r"\(.*\)?$", "", span.strip())
        if (_NAME.fullmatch(name) and name.split(".")[-1] in defined and name not in names and len(name) > 3
                and name.split(".")[0] not in sys.stdlib_module_names):  # `subprocess.run` is no definition here
            names.append(name)
    return paths, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--issues", type=Path, nargs="*", help="issue files (default: the lineage's 001-issue.md)")
    args = parser.parse_args()
    root = args.repo.resolve()
    files = listed(root)
    defined = definitions(root, files)
    settings = load_settings(root, {})
    issues = args.issues or sorted(root.glob("docs/lineage/*/*/001-issue.md"))
    build_context(settings, Document(title="warm", body="", number=0))  # the view, as a run's warm parent makes it
    rows: list[tuple[Path, int, int, int, int, int]] = []
    times: list[float] = []
    cpu: list[float] = []
    for issue in issues:
        text = issue.read_text("utf-8", "replace")
        paths, names = named(text, set(files), defined)
        if not paths and not names:
            continue
        title = next((line.lstrip("# ") for line in text.splitlines() if line.startswith("# ")), issue.name)
        start, started = time.perf_counter(), time.process_time()
        context = build_context(settings, Document(title=title, body=text, number=len(rows) + 1))
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - started)
        sent = context.shared + "\n" + context.item
        files_in = sum(f'<file path="{path}"' in sent for path in paths)
        names_in = sum(defined[name.split(".")[-1]] in sent for name in names)
        rows.append((issue, len(paths), files_in, len(names), names_in, context.tokens))
        if len(rows) == args.items:
            break
    print(f"{root.name}: {len(files):,} files; {len(rows)} issues that name files or definitions; "
          f"context_tokens {settings.context_tokens:,}")
    for issue, count, files_in, defs, defs_in, tokens in rows:
        print(f"  {issue.parent.name:<24} files {files_in}/{count}  definitions {defs_in}/{defs}  {tokens:,} tokens")
    total = [sum(row[1] for row in rows), sum(row[2] for row in rows), sum(row[3] for row in rows),
             sum(row[4] for row in rows)]
    print(f"named files reaching the first request:       {total[1]}/{total[0]} "
          f"({100 * total[1] / max(total[0], 1):.0f} %)")
    print(f"named definitions reaching the first request: {total[3]}/{total[2]} "
          f"({100 * total[3] / max(total[2], 1):.0f} %)")
    print(f"context time per item: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms (CPU: median {statistics.median(cpu) * 1000:.0f} ms, "
          f"max {max(cpu) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
