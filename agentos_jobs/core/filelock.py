"""An exclusive lock on a dedicated lock file, always with a timeout; the OS frees it when its holder dies.

On POSIX it is `fcntl.flock`, which costs nothing to import: portalocker, on import, also loads its Redis
support (and with it redis.asyncio, about 150 ms) in every per-item process. portalocker's msvcrt lock is used
where there is no fcntl (Windows).
"""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from agentos_jobs.core.errors import LockTimeout

POLL_SECONDS = 0.05

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class FileLock:
    """`timeout` 0 tries once. Usable as a context manager, or with acquire() and release()."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._file: IO[str] | None = None
        self._portable: Any = None

    def acquire(self) -> None:
        if fcntl is None:
            import portalocker

            self._portable = portalocker.Lock(self.path, mode="a", timeout=self.timeout,
                                              fail_when_locked=self.timeout == 0)
            try:
                self._portable.acquire()
            except portalocker.exceptions.LockException:
                raise LockTimeout(f"{self.path} is locked by another process") from None
            return
        handle = self.path.open("a", encoding="utf-8")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise LockTimeout(f"{self.path} is locked by another process") from None
                time.sleep(POLL_SECONDS)
            except BaseException:
                handle.close()
                raise
            else:
                self._file = handle
                return

    def release(self) -> None:
        if self._portable is not None:
            self._portable.release()
            self._portable = None
        if self._file is not None:
            self._file.close()  # closing the only descriptor of the open file frees its flock
            self._file = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
