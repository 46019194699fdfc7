"""The OS's side of a process (the process layer itself is procs/): is a process still there? Asked by wrappers
about doit and by the pool about lease holders. And the other side: a process that must not outlive the one that
started it, and one that must not be stopped before it can stop cleanly (its stop signals are held back until its
handlers are in place)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

from agentos_jobs.core.status import EXIT_INTERRUPTED

if sys.platform != "win32":
    import resource

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# Linux-only here: PR_SET_PDEATHSIG and PR_SET_CHILD_SUBREAPER (prctl), /proc (start time, state, children) and
# the argv rewrite of set_title. macOS has none of them: kqueue EVFILT_PROC/NOTE_EXIT would watch a parent, and
# sysctl(KERN_PROC_PID) gives a start time. Windows has no SIGHUP, SIGKILL, SIGPIPE, pthread_sigmask or killpg,
# and os.kill(pid, 0) there is TerminateProcess: liveness is OpenProcess + GetExitCodeProcess, a tree is a Job object.
# Ctrl+C, kill, a closed terminal (SIGHUP; on Windows a closed console arrives as SIGBREAK): what the OS has of them.
STOP_SIGNALS = frozenset(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
                         if hasattr(signal, name))
# Looked up at import, in the parent: a forked child of a threaded process should not take the loader's locks.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses); none
    when there is no such file."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return []


def _stat(pid: int, field: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[field] if len(fields) > field else None


def is_stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP, SIGTSTP) or a debugger: it runs nothing until it is continued."""
    return _stat(pid, 0) in ("T", "t")


def start_time(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux); tells a live holder from a reused pid."""
    return _stat(pid, 19)


def same_process(pid: int, started: str | None) -> bool:
    """The process that recorded (pid, started) is still running: alive, and not a newer one with its pid."""
    return pid_alive(pid) and (started is None or start_time(pid) in (None, started))


def pid_alive(pid: int) -> bool:
    """False for a pid that is gone or a zombie (it has exited; only its exit status is left)."""
    if pid <= 0:  # os.kill would signal a process group, or every process, and "succeed"
        return False
    # POSIX only: signal 0 probes without delivering. On Windows os.kill(pid, 0) KILLS the process
    # (TerminateProcess, exit code 0): ask OpenProcess + GetExitCodeProcess there instead.
    if sys.platform == "win32":
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _stat(pid, 0) != "Z"


if sys.platform == "win32":
    def _alive_on_windows(pid: int) -> bool:
        """OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION), then STILL_ACTIVE (259) as its exit code; a process
        that is there but not ours to open (ERROR_ACCESS_DENIED, 5) is alive too."""
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)
        if not handle:
            return ctypes.get_last_error() == 5
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
        finally:
            kernel32.CloseHandle(handle)


def peak_rss_kb() -> dict[str, int] | None:
    """The peak memory of this process (`wrapper`) and of the largest child it has waited for (`workflow`), in
    KiB; None where the OS does not say it this way. ru_maxrss is KiB on Linux but bytes on macOS; Windows has
    no `resource` module (GetProcessMemoryInfo's PeakWorkingSetSize would be its figure)."""
    if sys.platform == "win32":
        return None
    unit = 1024 if sys.platform == "darwin" else 1
    return {"wrapper": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // unit,
            "workflow": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // unit}


def quiet_in_a_closed_pipe() -> None:
    """For a command that only prints (`doit list`, `agentos-jobs report`): when its reader stops early
    (`| head -1`), it ends as `ls` or `git log` do, by SIGPIPE, instead of a BrokenPipeError traceback. Never for
    a run, whose items go on when the console goes away."""
    # SIGPIPE is POSIX; on Windows catch BrokenPipeError at the top of the command and point stdout at os.devnull.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def die_with_parent(signum: int, parent: int) -> None:
    """Have the kernel send `signum` when `parent` exits (Linux), however it exits: a SIGKILL, a closed
    terminal. If `parent` is already gone, this process has missed the signal and exits now."""
    # Linux: the kernel sends `signum` when the parent dies (prctl PR_SET_PDEATHSIG). Elsewhere only the getppid
    # check below runs: on macOS a kqueue NOTE_EXIT watch on `parent` would do it, on Windows a Job object with
    # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE held by the parent.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


@functools.cache
def arg_area() -> tuple[int, int] | None:
    """Where this process's arguments are in its memory (Linux): a fork has them where its parent had them, so
    a run's warm parent reads it once for every process it forks."""
    fields = _stat_fields(os.getpid()) if sys.platform == "linux" else []
    return (int(fields[45]), int(fields[46])) if len(fields) > 46 else None  # arg_start, arg_end: fields 48, 49


def set_title(args: list[str]) -> bool:
    """Show `args` as this process's command line (/proc/<pid>/cmdline, ps, pgrep) in place of the one it was
    started with: a forked workflow is told from its wrapper by it, as when it was started afresh. Written into
    the original arguments' memory (Linux), so it never grows: a title longer than that area is cut. The
    environment beside it is left as it is. False where it cannot be done (another OS, no /proc)."""
    area = arg_area()
    if area is None:
        return False
    start, end = area
    title = "\0".join(args).encode("utf-8", "replace")[:end - start - 1]
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(title.ljust(end - start, b"\0"))  # the last byte stays a NUL: no setproctitle overflow
    except (OSError, ValueError, OverflowError):
        return False
    return True


def adopt_orphans() -> None:
    """Make this process the one a descendant whose parent exits is handed to (Linux's child subreaper), even
    one started in a session of its own (setsid): so it can be found with children_of and ended."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def end_children(keep: set[int]) -> list[int]:
    """SIGKILL and reap this process's children that are not in `keep` (orphans it adopted, see adopt_orphans),
    and theirs, handed to it as each dies; returns their pids."""
    ended: list[int] = []
    while left := [pid for pid in children_of(os.getpid()) if pid not in keep and pid not in ended]:
        for pid in left:
            signal_process(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        ended += left
    return ended


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` now (Linux: read from /proc; none elsewhere)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and _stat(int(entry.name), 1) == str(pid):
                found.append(int(entry.name))
    return found


def signal_process(pid: int, signum: int) -> None:
    """Signal a process that may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def signal_group(pgid: int, signum: int) -> None:
    """Signal a process group that may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_process_group(pgid: int, exited: Callable[[float], bool], grace: float) -> bool:
    """SIGTERM the group (its leader checkpoints and exits), wait up to `grace` seconds for `exited`, then
    SIGKILL it. True when it stopped within the grace."""
    # POSIX process groups (setpgid at the fork, killpg here). Windows: start the child with
    # CREATE_NEW_PROCESS_GROUP, stop it with CTRL_BREAK_EVENT (SIGBREAK in the child), then TerminateJobObject.
    signal_group(pgid, signal.SIGTERM)
    if exited(grace):
        return True
    signal_group(pgid, signal.SIGKILL)
    return False


def exit_now(code: int) -> NoReturn:
    """End a per-item process without the interpreter's teardown (~20 ms a process): its files are closed and
    its spans written as they end (tracing/spans.py), so only the standard streams are left to flush."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def end_forked_child(body: Callable[[], int], failed: int, failure: Callable[[BaseException], str]) -> NoReturn:
    """Run a forked child's `body` and end the process with its exit code, whatever happens: the child never
    returns into the code that forked it. Anything raised is the one line `failure` makes of it, and `failed`."""
    code = failed
    try:
        code = body()
    except BaseException as exc:  # whatever it is, this process must not return
        with contextlib.suppress(BaseException):
            print(failure(exc), file=sys.stderr)
    try:
        exit_now(code)
    finally:  # even if a signal's handler raises while it flushes
        os._exit(code)


def spawn_blocked(argv: list[str], pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    """Start a process whose stop signals stay pending until it unblocks them (see `unblock_stop_signals`)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return subprocess.Popen(argv, pass_fds=pass_fds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def unblock_stop_signals() -> None:
    """Called once the process's handlers are installed: a signal that came during start-up arrives now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def stop_before_start(signum: int, frame: FrameType | None) -> None:
    """The doit process's handler from the moment dodo.py loads until the run starts: nothing runs yet, so a
    stop signal ends it at once, in one line (a `doit list` too)."""
    sys.stderr.write(stopped_early(signal.Signals(signum).name))
    raise SystemExit(EXIT_INTERRUPTED)


def stopped_early(signal_name: str) -> str:
    return f"agentos-jobs: stopped by {signal_name}; no item had started\n"


def install_early_stop() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, stop_before_start)
