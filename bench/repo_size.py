"""Benchmark: what an item's context costs as the repository grows. An item that names identifiers has them
looked up in every listed source file (`context._definitions`); this builds the context of one such item in a
generated git repository of N Python files (about 16 KiB each) and of 100, after the run's view is made (as
the warm parent makes it once a run), and reports the median time an item pays and the ratio of the two. Not a
test: run it by hand,

    .venv/bin/python bench/repo_size.py --files 2000

Everything happens in a temporary directory; nothing is written to the repository or to ~.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.context import build_context, prepare_view
from agentos_jobs.items.discovery import Document
from agentos_jobs.repo.files import keep_listing

ROUNDS = 7
ITEM = Document(title="Score reports", number=1, body="Change `compute_score` so that `Report.render` shows it; "
                                                    "`pkg.tools.helper` stays as it is.")


def make_repo(root: Path, files: int) -> None:
    """Python modules of about 16 KiB; `compute_score` is defined in one of them, `render` in many."""
    body = "".join(f"def handler_{n}(request, *, retries=3):\n    \"\"\"Handle it.\"\"\"\n"
                   f"    return [step * {n} for step in range(retries)]\n\n\n" for n in range(160))
    for n in range(files):
        path = root / "src" / f"pkg{n % 40}" / f"module_{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = "def compute_score(rows):\n    return sum(rows)\n\n\n" if n == files // 2 else ""
        path.write_text(f"class Report{n}:\n    def render(self):\n        return ''\n\n\n{extra}{body}")
    (root / "src" / "pkg" / "tools.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "src" / "pkg" / "tools.py").write_text("def helper():\n    return 1\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)


def per_item_seconds(files: int) -> float:
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        root = Path(tmp)
        make_repo(root, files)
        keep_listing(root)
        prepare_view(load_settings(root, {}))  # once a run, in the warm parent
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            context = build_context(load_settings(root, {}), ITEM)
            times.append(time.perf_counter() - started)
        if not any(why == "defines compute_score" for _, why, _ in context.files):
            raise SystemExit("compute_score was not found: the benchmark measures nothing")
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    small, large = per_item_seconds(100), per_item_seconds(args.files)
    print(f"an item's context, naming 3 identifiers: {small * 1000:.1f} ms beside 100 source files, "
          f"{large * 1000:.1f} ms beside {args.files:,} ({large / small:.1f}x)")


if __name__ == "__main__":
    main()
