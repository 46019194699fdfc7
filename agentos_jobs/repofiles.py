"""Which files may be read as the repository's content, to be sent to a model (issues, briefs, context files).

A link in an inputs folder can point anywhere on the machine (`docs/issues/9.md -> ~/.env`), and whatever is
read goes into a prompt: so a file is read only when it is a regular file whose real path, every link followed,
lies inside the repository. A FIFO or a device is never opened (a FIFO would block the read for ever).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .text import shown_name

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


class NotRepoContent(Exception):
    """A path that must not be read as the repository's content; the message says why, after its name."""


def repo_content_problem(path: Path, root: Path) -> str | None:
    """None when `path` may be read as content of the repository at `root`, else why not, in a few words that
    fit after the file's name ("it leads outside the repository, to /home/me/.env"). Reads no file."""
    try:
        _real_file(path, root)
    except NotRepoContent as exc:
        return str(exc)
    return None


def read_repo_file(path: Path, root: Path) -> bytes:
    """The bytes of `path` if it may be read as the repository's content (see `repo_content_problem`); else
    NotRepoContent. OSError when it cannot be read. The file opened is the real path checked, without following
    a link put there since, so a file swapped meanwhile is not read either."""
    real = _real_file(path, root)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise NotRepoContent(_not_a_file(kind))
        return handle.read()


def _real_file(path: Path, root: Path) -> Path:
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRepoContent("it is a link loop") from None
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise NotRepoContent("it is a link to a missing file") from None
        raise NotRepoContent(f"it cannot be checked ({exc.strerror})") from None
    if not real.is_relative_to(os.path.realpath(root)):
        raise NotRepoContent(f"it leads outside the repository, to {shown_name(real)}")
    try:
        kind = stat.S_IFMT(real.stat().st_mode)
    except OSError as exc:
        raise NotRepoContent(f"it cannot be checked ({exc.strerror})") from None
    if kind != stat.S_IFREG:
        raise NotRepoContent(_not_a_file(kind))
    return real


def _not_a_file(kind: int) -> str:
    if kind == stat.S_IFDIR:
        return "it is a directory, not a file"
    return f"it is {_KINDS.get(kind, 'something else')}, not a regular file"
