"""Every test gets its own repository, base dir and HOME under tmp_path, and drives real doit processes."""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyte
import pytest

from fake_llm import FakeLLM

if sys.platform != "win32":  # for Terminal only: Windows collects only the PORTABLE modules below
    import fcntl
    import pty
    import termios

BIN = Path(sys.executable).parent
LEASE_CLIENTS = str(Path(__file__).with_name("lease_clients.py"))  # processes sharing one lease store
REPO = Path(__file__).resolve().parent.parent

# The test modules that run on every OS, Windows included: pure logic (gate, verdicts, ids, prices, settings, the
# prefixer), no doit run, fork, POSIX signal, /proc or Redis. Every other test is marked `posix`, and so is a test
# here that takes a POSIX_FIXTURES fixture (a real run) or is named in NOT_YET_PORTABLE. The Windows CI job runs
# `-m "not posix"` and does not even import the other modules. A new module is `posix` until it is named here.
PORTABLE_MODULES = frozenset({
    "test_cost", "test_first_contact", "test_gate", "test_gate_corpus", "test_hints", "test_ids", "test_prefixer",
    "test_providers", "test_results", "test_secrets", "test_shards", "test_verdicts",
})
POSIX_FIXTURES = frozenset({"workspace", "redis_server"})
# Tests of those modules that reach a POSIX-only call today (named beside each): strike one out when
# its call has a Windows path. Not here for that reason alone: test_text, test_frontmatter, test_context (every
# item file is opened with os.O_NOFOLLOW), test_pool, test_checkpoint (procs imports signal.SIGHUP; os.getuid).
NOT_YET_PORTABLE = frozenset({
    "test_a_cooldown_is_stored_capped",  # the lease file: file_store imports procs (signal.SIGHUP)
    "test_a_far_cooldown_left_by_an_older_run_is_capped_when_read",  # the same
    "test_an_earlier_cooldown_is_never_lengthened_by_reading",  # the same
    "test_a_result_round_trips_through_its_file",  # atomic_write_text: os.fchmod (Windows has it from 3.13)
    "test_the_ledger_holds_the_worst_case_and_refuses_what_would_cross_the_budget",  # os.fchmod
    "test_the_budget_setting_is_checked_and_the_progress_line_shows_the_spend",  # os.fchmod
})
# The modules that watch a run's processes through Linux alone (/proc/<pid>/stat for a parent, the titles the warm
# parent's forks set, the warm parent itself): marked `linux` and skipped elsewhere;
# the rest of the suite runs on macOS.
LINUX_MODULES = frozenset({"test_lifecycle", "test_signals"})


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """On Windows, a test module that is not portable is not imported at all (most import POSIX-only modules)."""
    if sys.platform == "win32" and collection_path.name.startswith("test_") and collection_path.suffix == ".py":
        return collection_path.stem not in PORTABLE_MODULES or None
    return None


def pytest_configure(config: pytest.Config) -> None:
    """The package's bytecode is compiled once, as pip or a first import would on a user's machine: the runs' own
    processes write none (the workspace sets PYTHONDONTWRITEBYTECODE), so each would compile every module it
    imports from its source again. Once, by the controller: xdist's workers start after it."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(REPO / "agentos_jobs", quiet=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (item.path.stem not in PORTABLE_MODULES or POSIX_FIXTURES & set(getattr(item, "fixturenames", ()))
                or getattr(item, "originalname", item.name) in NOT_YET_PORTABLE):
            item.add_marker(pytest.mark.posix)
        if item.path.stem in LINUX_MODULES:
            item.add_marker(pytest.mark.linux)
            if sys.platform != "linux":
                item.add_marker(pytest.mark.skip(reason="reads /proc and the warm parent's process titles: Linux only"))
    items.sort(key=_weight)


def _weight(item: pytest.Item) -> int:
    """The longest tests first (runs against the fake server, then other real runs, then pure logic), so that xdist
    ends the session on short ones rather than on a long run started last. The sort keeps each tier's order."""
    used = set(getattr(item, "fixturenames", ()))
    return 0 if {"workspace", "fake"} <= used else 1 if POSIX_FIXTURES & used else 2


def issue_text(title: str, body: str = "", criteria: tuple[str, ...] = ("It works", "It is tested")) -> str:
    checklist = "\n".join(f"- [ ] {c}" for c in criteria)
    return f"# {title}\n\n{body or 'Something should change.'}\n\n## Acceptance criteria\n{checklist}\n"


@dataclass
class Workspace:
    root: Path
    base: Path
    home: Path
    env: dict[str, str]

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def add_issue(self, number: int, title: str | None = None, **kwargs: Any) -> Path:
        return self.write(f"docs/issues/{number}.md", issue_text(title or f"Issue {number}", **kwargs))

    def command(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 90,
                ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(list(args), cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def doit(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.command(str(BIN / "doit"), *args, **kwargs)

    def start_doit(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """A doit run in its own process group, so a test can signal the group (Ctrl+C) or the pid alone."""
        return subprocess.Popen([str(BIN / "doit"), *args], cwd=self.root, env={**self.env, **(extra_env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def runs(self) -> list[Path]:
        return sorted((self.base / "runs").glob("*/summary.json"), key=lambda p: p.stat().st_mtime_ns)

    def summary(self) -> dict[str, Any]:
        runs = self.runs()
        assert runs, "no summary.json was written"
        return json.loads(runs[-1].read_text())  # type: ignore[no-any-return]

    def statuses(self) -> dict[str, str]:
        return {row["prefix"]: row["status"] for row in self.summary()["items"]}

    def marker(self, workflow: str, item_id: str) -> Path:
        return self.base / "done" / workflow / f"{item_id}.json"

    def checkpoints(self) -> list[str]:
        return sorted(p.name for p in (self.base / "checkpoints").glob("*.db"))

    def processes(self) -> list[str]:
        """Live processes started for this workspace: anything whose environment names its base dir."""
        return list(self._live().values())

    def pid_of(self, command: str) -> int | None:
        """The live process of this workspace whose command line holds `command` as whole words, e.g.
        'wrapper lld 1' (not 'wrapper lld 12')."""
        return next((pid for pid, line in self._live().items() if f" {command} " in f" {line} "), None)

    def pids_of(self, command: str) -> list[int]:
        return [pid for pid, line in self._live().items() if f" {command} " in f" {line} "]

    def _live(self) -> dict[int, str]:
        """Pid -> command line of this workspace's live processes: read from /proc on Linux; elsewhere (macOS)
        from `ps axeww`, which appends each process's environment to its command line."""
        needle = f"AGENTOS_BASE_DIR={self.base}"
        if not Path("/proc/self/environ").exists():
            listing = subprocess.run(["ps", "axeww", "-o", "pid=,stat=,command="], capture_output=True,
                                     text=True, check=False).stdout.splitlines()
            rows = (line.strip().split(None, 2) for line in listing)
            return {int(row[0]): row[2] for row in rows if len(row) == 3 and f" {needle} " in f" {row[2]} "
                    and not row[1].startswith("Z") and int(row[0]) != os.getpid()}
        found = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if needle.encode() in (proc / "environ").read_bytes().split(b"\0"):
                    state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
        return found

    def wait_for(self, predicate: Any, timeout: float = 30, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


class Terminal:
    """doit in a real pseudo-terminal, as its session's controlling terminal: Ctrl+C is a typed \\x03, and the
    kernel sends SIGINT to the foreground process group, as it does for a person."""

    def __init__(self, workspace: Workspace, *args: str, env: dict[str, str], columns: int = 80) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.resize(columns)
        self.screen = bytearray()
        self.proc = subprocess.Popen([str(BIN / "doit"), *args], cwd=workspace.root, env={**workspace.env, **env},
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                return
            if not chunk:
                return
            self.screen.extend(chunk)

    def resize(self, columns: int, rows: int = 24) -> None:
        """As a person dragging the window: the kernel tells the foreground group (SIGWINCH)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def text(self) -> str:
        return self.screen.decode("utf-8", "replace")

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        os.close(self.master)
        return code


def rendered_rows(screen: bytes, columns: int) -> list[str]:
    """Every row a person could scroll back to, as a real terminal of that width shows the bytes; the row the
    cursor is on (where the live progress line is drawn) is left out."""
    display = pyte.HistoryScreen(columns, 24, history=10000)
    pyte.ByteStream(display).feed(screen)
    history = ["".join(char.data for char in row.values()) for row in display.history.top]
    rows = [row for index, row in enumerate(display.display) if index != display.cursor.y]
    return [row.rstrip() for row in history + rows]


def _workspace(tmp_path: Path) -> Workspace:
    root, base, home = tmp_path / "repo", tmp_path / "agentos", tmp_path / "home"
    root.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AGENTOS_", "OPENAI", "ANTHROPIC", "GEMINI", "GOOGLE", "OTEL_", "TRACEPARENT"))}
    env.update({"HOME": str(home), "AGENTOS_BASE_DIR": str(base), "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONDONTWRITEBYTECODE": "1"})
    return Workspace(root=root, base=base, home=home, env=env)


@pytest.fixture(scope="session")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `agentos-jobs init` writes (the repository, base dir and HOME), once per test process: it writes no
    path of its own, so each workspace starts from a copy instead of an init of its own."""
    template = tmp_path_factory.mktemp("initialized")
    done = _workspace(template).command(str(BIN / "agentos-jobs"), "init")
    assert done.returncode == 0, done.stderr
    return template


@pytest.fixture
def workspace(tmp_path: Path, initialized: Path) -> Iterator[Workspace]:
    for folder in ("repo", "agentos", "home"):
        if (initialized / folder).exists():
            shutil.copytree(initialized / folder, tmp_path / folder, copy_function=shutil.copy)
    ws = _workspace(tmp_path)
    yield ws
    for line in ws.processes():  # never leave a stray process to the next test
        print("left over:", line)
    for pid in ws._live():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=["auto", "fresh"])
def each_door(request: pytest.FixtureRequest, workspace: Workspace) -> Workspace:
    """The workspace once with each way an item's process starts (procs/launch.py): forked by the warm parent
    (`auto` on Linux) and a fresh interpreter per item (`process_start = "fresh"`, every other platform's)."""
    workspace.env["AGENTOS_PROCESS_START"] = request.param
    return workspace


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    """A local LLM server speaking the OpenAI, Anthropic and Gemini wire formats."""
    server = FakeLLM()
    yield server
    server.stop()


class RedisServer:
    """A real redis-server on a free loopback port, with no persistence: a restart starts it empty."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Skipped only where redis-server is not installed (.ci/run installs it)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed: apt-get install redis-server (.ci/run does)")
    server = RedisServer(tmp_path)
    yield server
    server.stop()
