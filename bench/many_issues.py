"""Benchmark: a repository with many issues. The dry run (`doit list --all -s`: every item and whether it is up
to date) at 5,000 issues, and whether an item costs more when the issues folder is large: the same 9 items
run at -n 3 beside 50 issues and beside 5,000, their overhead inside the item (wrapper start to result, the
calls' latency taken off) compared. Not a test: run it by hand,

    .venv/bin/python bench/many_issues.py --issues 5000

Everything happens in a temporary directory; nothing is written to the repository (but the package's
bytecode, in the __pycache__ git ignores) or to ~.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parallel_overhead import compile_package

BIN = Path(sys.executable).parent
LATENCY = 0.2
CALLS_PER_ITEM = 2


def workspace(root: Path, issues: int) -> dict[str, str]:
    subprocess.run([str(BIN / "agentos-jobs"), "init"], cwd=root, check=True, capture_output=True)
    folder = root / "docs" / "issues"
    folder.mkdir(parents=True)
    for number in range(1, issues + 1):
        text = f"# Issue {number}\n\nA change.\n\n## Acceptance criteria\n- [ ] it works\n"
        (folder / f"{number}.md").write_text(text)
    return {**os.environ, "AGENTOS_BASE_DIR": str(root / ".agentos"), "AGENTOS_OFFLINE_LATENCY": str(LATENCY),
            "HOME": str(root)}


def dry_run_seconds(root: Path, env: dict[str, str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([str(BIN / "doit"), "list", "--all", "-s"], cwd=root, env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def item_overhead_ms(root: Path, env: dict[str, str]) -> float:
    """Median over 9 items (three turns of -n 3) of the time inside an item beyond its calls' latency."""
    subprocess.run([str(BIN / "doit"), "-n", "3", *(f"lld:{n}" for n in range(1, 10))], cwd=root, env=env,
                   check=True, capture_output=True)
    summary = json.loads(next((root / ".agentos" / "runs").glob("*/summary.json")).read_text())
    return statistics.median(row["duration_seconds"] - CALLS_PER_ITEM * LATENCY for row in summary["items"]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=5000)
    args = parser.parse_args()
    compile_package()
    figures = {}
    for count in (50, args.issues):
        with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
            root = Path(tmp)
            env = workspace(root, count)
            figures[count] = (dry_run_seconds(root, env), item_overhead_ms(root, env))
    small, large = figures[50], figures[args.issues]
    print(f"doit list --all -s: {large[0]:.2f}s at {args.issues} issues ({small[0]:.2f}s at 50)")
    print(f"overhead inside an item: {large[1]:.0f} ms beside {args.issues} issues, {small[1]:.0f} ms beside 50 "
          f"({large[1] / small[1]:.2f}x)")


if __name__ == "__main__":
    main()
