"""Benchmark: N items at -n P against the offline provider with a simulated per-call latency.

Reports wall time as a ratio to the ideal ceil(N/P) x per-item time, the per-item overhead in ms, and the
peak RSS of each process an item costs (wrapper and workflow); then, in the same run, the same ratio for the
peer floors: GNU parallel (when installed) and `xargs -P` each running a Python process that sleeps for the
item's time. Not a test: run it by hand,

    .venv/bin/python bench/parallel_overhead.py --items 30 --parallel 3 --latency 0.5

Everything happens in a temporary directory; nothing is written to the repository or to ~.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CALLS_PER_ITEM = 2  # draft + review: every sample issue is approved in the first round


def make_workspace(root: Path, items: int) -> None:
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "agentos-jobs"), "init"], cwd=root, check=True, capture_output=True)
    issues = root / "docs" / "issues"
    issues.mkdir(parents=True)
    for number in range(1, items + 1):
        (issues / f"{number}.md").write_text(
            f"# Benchmark issue {number}\n\nA change.\n\n## Acceptance criteria\n- [ ] it works\n- [ ] it is tested\n")


def run(items: int, parallel: int, latency: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp:
        root = Path(tmp)
        make_workspace(root, items)
        env = {**os.environ, "AGENTOS_BASE_DIR": str(root / ".agentos"), "AGENTOS_OFFLINE_LATENCY": str(latency),
               "HOME": tmp}
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "doit"), "-n", str(parallel), "lld"], cwd=root,
                              env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"the run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        summary = json.loads(next((root / ".agentos" / "runs").glob("*/summary.json")).read_text())
    rows = summary["items"]
    per_item = CALLS_PER_ITEM * latency
    ideal = math.ceil(items / parallel) * per_item
    wrapper_rss = [row["peak_rss_kb"]["wrapper"] / 1024 for row in rows]
    workflow_rss = [row["peak_rss_kb"]["workflow"] / 1024 for row in rows]
    return {
        "wall_seconds": wall,
        "ideal_seconds": ideal,
        "ratio_to_ideal": wall / ideal,
        "overhead_ms_per_item_slot": (wall - ideal) / math.ceil(items / parallel) * 1000,
        "item_overhead_ms_median": statistics.median(row["duration_seconds"] - per_item for row in rows) * 1000,
        "cpu_ms_per_item": cpu / items * 1000,
        "wrapper_rss_mib_max": max(wrapper_rss),
        "workflow_rss_mib_max": max(workflow_rss),
        "worker_rss_mib_max": max(a + b for a, b in zip(wrapper_rss, workflow_rss, strict=True)),
    }


def peer_floors(items: int, parallel: int, latency: float) -> dict[str, float]:
    """Wall time / ideal for GNU parallel and `xargs -P` running `python -c 'sleep(item time)'` per item."""
    seconds = CALLS_PER_ITEM * latency
    ideal = math.ceil(items / parallel) * seconds
    sleeper = [sys.executable, "-c", "import sys, time; time.sleep(float(sys.argv[1]))"]
    commands = {"xargs": ["xargs", "-P", str(parallel), "-n", "1", *sleeper],
                "gnu_parallel": ["parallel", "-q", "-j", str(parallel), "--will-cite", *sleeper]}
    floors = {}
    ids = f"{seconds}\n" * items  # one argument per item: how long it sleeps
    for name, argv in commands.items():
        if not shutil.which(argv[0]):
            continue
        started = time.perf_counter()
        subprocess.run(argv, input=ids, text=True, check=True, capture_output=True)
        floors[f"{name}_ratio_to_ideal"] = (time.perf_counter() - started) / ideal
    return floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.5, help="simulated seconds per LLM call")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.items, args.parallel, args.latency)
    figures.update(peer_floors(args.items, args.parallel, args.latency))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.items} items at -n {args.parallel}, {CALLS_PER_ITEM} calls x {args.latency:g}s each")
    print(f"  wall {figures['wall_seconds']:.2f}s vs ideal {figures['ideal_seconds']:.2f}s "
          f"= {figures['ratio_to_ideal']:.3f}x")
    print(f"  overhead per item: {figures['overhead_ms_per_item_slot']:.0f} ms of wall time per slot turn; "
          f"median {figures['item_overhead_ms_median']:.0f} ms inside an item (wrapper start to result)")
    print(f"  CPU per item (doit, wrapper and workflow processes together): {figures['cpu_ms_per_item']:.0f} ms")
    print(f"  peak RSS per item: wrapper {figures['wrapper_rss_mib_max']:.1f} MiB + workflow "
          f"{figures['workflow_rss_mib_max']:.1f} MiB (worst pair {figures['worker_rss_mib_max']:.1f} MiB)")
    for name in ("gnu_parallel", "xargs"):
        if f"{name}_ratio_to_ideal" in figures:
            print(f"  peer floor, {name} running a Python sleeper of the same item time: "
                  f"{figures[f'{name}_ratio_to_ideal']:.3f}x")


if __name__ == "__main__":
    main()
