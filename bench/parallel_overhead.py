"""Benchmark: N items at -n P, each 2 calls of a set latency: offline (the built-in stand-in sleeps), or the
`openai` provider through its SDK against a local server that speaks OpenAI's wire format and answers after
the latency (tests/fake_llm.py).

Reports wall time as a ratio to the ideal ceil(N/P) x per-item time, the per-item overhead in ms, the CPU per
item (every process of the run, the warm parent included), and memory per item: the peak RSS of the wrapper
and of the workflow (which counts again every page a fork shares with its warm parent) and their peak PSS
(shared pages divided among the processes sharing them: what an item adds), sampled every 0.1 s; then, in the
same run, the same ratio for the peer floors: GNU parallel (when installed) and `xargs -P` each running a Python
process that sleeps for the item's time. Not a test: run it by hand,

    .venv/bin/python bench/parallel_overhead.py --items 30 --parallel 3 --latency 0.5 [--provider openai]

Everything happens in a temporary directory; nothing is written to the repository (but the package's
bytecode, in the __pycache__ git ignores) or to ~.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

CALLS_PER_ITEM = 2  # draft + review: every sample issue is approved in the first round
ROLES = {"agentos_jobs.procs.wrapper": "wrapper", "agentos_jobs.procs.workflow": "workflow",
         "agentos_jobs.procs.warm_parent": "warm"}


def make_workspace(root: Path, items: int) -> None:
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "agentos-jobs"), "init"], cwd=root, check=True, capture_output=True)
    issues = root / "docs" / "issues"
    issues.mkdir(parents=True)
    for number in range(1, items + 1):
        (issues / f"{number}.md").write_text(
            f"# Benchmark issue {number}\n\nA change.\n\n## Acceptance criteria\n- [ ] it works\n- [ ] it is tested\n")


def compile_package() -> None:
    """As on a user's machine, where the package's modules are compiled once (pip does it, or their first
    import): no process of the run compiles a module from its source, whatever PYTHONDONTWRITEBYTECODE says.
    The bytecode goes where Python puts it, in the package's own __pycache__ (which git ignores)."""
    package = Path(__file__).resolve().parent.parent / "agentos_jobs"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def openai_env(stack: ExitStack, root: Path, parallel: int, latency: float) -> dict[str, str]:
    """The local OpenAI-compatible server (its threads are in this process: not counted as the run's CPU)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from fake_llm import MODELS, FakeLLM

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    fake = FakeLLM()
    stack.callback(fake.stop)
    fake.delay = latency
    credentials = root / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [
        {"name": "bench", "provider": "openai", "type": "api_key", "key": "sk-bench-0123456789abcdef",
         "enabled": True, "max_concurrency": parallel}]}))
    credentials.chmod(0o600)
    return {"AGENTOS_PROVIDER": "openai", "AGENTOS_MODEL": MODELS["openai"], "AGENTOS_CREDENTIALS": str(credentials),
            "OPENAI_BASE_URL": fake.base_url("openai")}


class MemorySampler:
    """Peak PSS and RSS (KiB) of every wrapper, workflow and warm parent of the run, by pid, read from
    /proc/<pid>/smaps_rollup every 0.1 s."""

    def __init__(self, base: Path) -> None:
        self.needle = f"AGENTOS_BASE_DIR={base}".encode()
        self.peak: dict[int, tuple[str, int, int]] = {}  # pid -> (role, pss, rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    self._sample(int(proc.name), proc)

    def _sample(self, pid: int, proc: Path) -> None:
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
            role = next((ROLES[w.decode()] for w in words if w.decode(errors="replace") in ROLES), None)
            if role is None or self.needle not in (proc / "environ").read_bytes().split(b"\0"):
                return
            fields = dict(line.split(":", 1) for line in (proc / "smaps_rollup").read_text().splitlines()[1:])
        except (OSError, ValueError):
            return
        pss, rss = (int(fields[name].split()[0]) for name in ("Pss", "Rss"))
        _, best_pss, best_rss = self.peak.get(pid, (role, 0, 0))
        self.peak[pid] = (role, max(pss, best_pss), max(rss, best_rss))

    def mib(self, role: str, index: int) -> list[float]:
        return [values[index] / 1024 for r, *values in self.peak.values() if r == role]


def run(items: int, parallel: int, latency: float, provider: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="agentos-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        make_workspace(root, items)
        env = {**os.environ, "AGENTOS_BASE_DIR": str(root / ".agentos"), "AGENTOS_OFFLINE_LATENCY": str(latency),
               "HOME": tmp}
        if provider == "openai":
            env.update(openai_env(stack, root, parallel, latency))
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with MemorySampler(root / ".agentos") as memory:
            done = subprocess.run([str(Path(sys.executable).parent / "doit"), "-n", str(parallel), "lld"],
                                  cwd=root, env=env, capture_output=True, text=True, check=False)
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
    pss = {role: memory.mib(role, 0) for role in ("wrapper", "workflow", "warm")}
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
        "wrapper_pss_mib_max": max(pss["wrapper"], default=0.0),
        "workflow_pss_mib_max": max(pss["workflow"], default=0.0),
        "warm_parent_rss_mib": max(memory.mib("warm", 1), default=0.0),
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
    parser.add_argument("--provider", choices=["offline", "openai"], default="offline")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    compile_package()
    figures = run(args.items, args.parallel, args.latency, args.provider)
    figures.update(peer_floors(args.items, args.parallel, args.latency))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.items} items at -n {args.parallel}, {CALLS_PER_ITEM} calls x {args.latency:g}s each "
          f"({args.provider})")
    print(f"  wall {figures['wall_seconds']:.2f}s vs ideal {figures['ideal_seconds']:.2f}s "
          f"= {figures['ratio_to_ideal']:.3f}x")
    print(f"  overhead per item: {figures['overhead_ms_per_item_slot']:.0f} ms of wall time per slot turn; "
          f"median {figures['item_overhead_ms_median']:.0f} ms inside an item (wrapper start to result)")
    print(f"  CPU per item (doit, wrapper and workflow processes together): {figures['cpu_ms_per_item']:.0f} ms")
    print(f"  peak RSS per item: wrapper {figures['wrapper_rss_mib_max']:.1f} MiB + workflow "
          f"{figures['workflow_rss_mib_max']:.1f} MiB (worst pair {figures['worker_rss_mib_max']:.1f} MiB; each counts "
          "the pages it shares with the warm parent)")
    print(f"  peak PSS per item: wrapper {figures['wrapper_pss_mib_max']:.1f} MiB + workflow "
          f"{figures['workflow_pss_mib_max']:.1f} MiB; the run's one warm parent: RSS "
          f"{figures['warm_parent_rss_mib']:.1f} MiB")
    for name in ("gnu_parallel", "xargs"):
        if f"{name}_ratio_to_ideal" in figures:
            print(f"  peer floor, {name} running a Python sleeper of the same item time: "
                  f"{figures[f'{name}_ratio_to_ideal']:.3f}x")


if __name__ == "__main__":
    main()
