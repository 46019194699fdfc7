"""Benchmark: what a provider's prompt cache can serve once every call carries the repository's context.

On a copy of this repository (git, ~100 files) with 10 issues that each name a file or a function, it times
building each item's context (`context.build_context`, as the workflow does once per item), then runs
`doit -n 3 lld` against the tests' local OpenAI-compatible server and reads every request as it went over the
wire. For each request it reports the bytes it shares from its first byte with an earlier request of another item
(what OpenAI's or Gemini's automatic prefix cache can serve across items), with any earlier request (the same item's
earlier rounds included), and the bytes that are its own. Not a test: run it by hand,

    .venv/bin/python bench/context_prompts.py --items 10

Everything happens in a temporary directory; nothing is written to the repository or to ~.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.context import build_context
from agentos_jobs.items.discovery import parse_issue

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))
from fake_llm import FakeLLM, common_start, use_provider  # noqa: E402  (the tests' fake server)

ISSUES = [
    ("Faster checkpoint writes", "`Checkpoint.record` opens one transaction per step; measure it first."),
    ("Front matter dates", "Read `created_at` in front matter; see agentos_jobs/items/front_matter.py."),
    ("Quieter progress", "The status line in agentos_jobs/run/progress.py redraws too often on slow terminals."),
    ("Lease store metrics", "Count leases in `lease_store.py` and show them in `agentos-jobs keys`."),
    ("Summary as Markdown", "`render_summary` should also write a Markdown table for CI job summaries."),
    ("Context budget per role", "The reviewer may need less context than the drafter: see `build_context`."),
    ("Escape more names", "`shown_name` misses some bidirectional controls; see agentos_jobs/core/text.py."),
    ("Marker schema version", "Markers written by `write_marker` carry no version; add one."),
    ("Sync labels", "`doit sync_issues` drops label colours; agentos_jobs/github/sync.py should keep them."),
    ("Spans for context", "Building the context deserves its own span in agentos_jobs/tracing/spans.py."),
]


def make_repository(root: Path, items: int) -> None:
    """This repository's committed files, as a new git repository, with `items` issues and a `context` setting."""
    archive = subprocess.run(["git", "-C", str(HERE), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    issues = root / "examples/docs/issues"
    for old in issues.iterdir():
        old.unlink()
    for number, (title, body) in enumerate(ISSUES[:items], start=1):
        (issues / f"{number}.md").write_text(f"# {title}\n\n{body}\n\n## Acceptance criteria\n- [ ] It works\n")
    pyproject = root / "pyproject.toml"
    settings = 'context = ["README.md"]\ncontext_tokens = 40000\n'  # README: the architecture every item shares
    pyproject.write_text(pyproject.read_text().replace('docs_dir = "examples/docs"\n',
                                                       f'docs_dir = "examples/docs"\n{settings}'))
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def context_times(root: Path, items: int) -> list[float]:
    settings = load_settings(root, {})
    times = []
    for number in range(1, items + 1):
        document = parse_issue(root / f"examples/docs/issues/{number}.md", root)
        started = time.perf_counter()
        build_context(settings, document)
        times.append(time.perf_counter() - started)
    return times


class Workspace:  # what fake_llm.use_provider needs of the tests' workspace
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env


def wire_requests(root: Path, home: Path) -> list[tuple[int, str, str]]:
    """(item, role, the request's text as sent: system turn, then user turn) for every call of a real run."""
    fake = FakeLLM()
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AGENTOS_", "OPENAI"))}
        workspace = Workspace(home, env)
        use_provider(workspace, fake, "openai", keys=3)  # type: ignore[arg-type]
        env.update({"HOME": str(home), "AGENTOS_BASE_DIR": str(home / "agentos"), "AGENTOS_MAX_ITERATIONS": "2"})
        subprocess.run([str(Path(sys.executable).parent / "doit"), "-n", "3", "lld"], cwd=root, env=env,
                       capture_output=True, check=False, timeout=600)
        found = []
        for request, _ in fake.server.log:
            messages = request.get_json()["messages"]
            text = "\n".join(message["content"] for message in messages)
            number = re.search(r"Issue #(\d+) ", messages[-1]["content"])
            role = "review" if messages[0]["content"].startswith("You review") else "draft"
            found.append((int(number.group(1)) if number else 0, role, text))
        return found
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake server's access log
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        root, home = Path(tmp) / "repo", Path(tmp) / "home"
        root.mkdir()
        home.mkdir()
        make_repository(root, args.items)
        times = context_times(root, args.items)
        requests = wire_requests(root, home)
    print(f"context build per item: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {len(times)} items")
    print(f"{'request':<16}{'bytes':>9}{'shared, other items':>22}{'shared, any earlier':>22}{'own':>9}")
    rows = []
    for index, (item, role, text) in enumerate(requests):
        earlier = requests[:index]
        across = len(text[: max((common_start(text, other) for i, _, other in earlier if i != item),
                                default=0)].encode())
        any_earlier = len(text[: max((common_start(text, other) for _, _, other in earlier), default=0)].encode())
        size = len(text.encode())
        rows.append({"item": item, "role": role, "bytes": size, "shared_across_items": across,
                     "shared_any": any_earlier})
        print(f"{f'LLD-{item} {role}':<16}{size:>9,}{across:>13,} ({across / size:4.0%}){any_earlier:>13,} "
              f"({any_earlier / size:4.0%}){size - any_earlier:>9,}")
    total = sum(row["bytes"] for row in rows)
    across = sum(row["shared_across_items"] for row in rows)
    shared = sum(row["shared_any"] for row in rows)
    print(f"all {len(rows)} requests: {total:,} bytes; {across / total:.0%} a prefix shared with another item, "
          f"{shared / total:.0%} with any earlier request")
    print(json.dumps({"context_seconds": times, "requests": rows}))


if __name__ == "__main__":
    main()
