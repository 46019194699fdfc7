"""Is a process still there? Asked by wrappers about doit and by the pool about lease holders."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def start_time(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux); tells a live holder from a reused pid."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return None


def same_process(pid: int, started: str | None) -> bool:
    """The process that recorded (pid, started) is still running: alive, and not a newer one with its pid."""
    return pid_alive(pid) and (started is None or start_time(pid) in (None, started))


def pid_alive(pid: int) -> bool:
    """False for a pid that is gone or a zombie (it has exited; only its exit status is left)."""
    if pid <= 0:  # os.kill would signal a process group, or every process, and "succeed"
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True
