"""Which files may be read as the repository's content, to be sent to a model (issues, briefs, context files).

A link in an inputs folder can point anywhere on the machine (`docs/issues/9.md -> ~/.env`), and whatever is
read goes into a prompt: so a file is read only when it is a regular file whose real path, every link followed,
lies inside the repository, and, when it is reached through a link, is no file the repository's listing leaves
out (a secret-looking name, or one git ignores). A FIFO or a device is never opened (a FIFO would block the
read for ever).
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import os
import stat
import subprocess
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from agentos_jobs.core.errors import NotRepoContent
from agentos_jobs.core.layout import credentials_path, default_lease_path
from agentos_jobs.core.text import one_line, shown_name
from agentos_jobs.repo.globs import glob_regex

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


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
    # O_NOFOLLOW, O_NONBLOCK and O_CLOEXEC: Linux and macOS. Windows has none: open without them, then compare
    # os.fstat(fd) with the lstat of the checked path (st_dev, st_ino) so a link swapped in meanwhile is refused.
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(fd)
        kind = stat.S_IFMT(opened.st_mode)
        if kind != stat.S_IFREG:
            raise NotRepoContent(_not_a_file(kind))
        data = handle.read()
    if (private := _private_file(opened, data)) is not None:
        raise NotRepoContent(private)
    return data


def _private_file(opened: os.stat_result, data: bytes) -> str | None:
    """Why a file is one of the tool's own private files whatever its name or place: the credentials file or
    its lease file by what it is (the same device and inode: a hard link), the credentials file also by what it
    holds (the same bytes: a copy such as `keys.backup.json`). A file with one link that does not hold
    `"credentials"` is neither, and costs nothing more; another costs two `stat`s, and a read of the credentials
    file only when it has its very size."""
    if opened.st_nlink < 2 and b'"credentials"' not in data:
        return None
    keys, lease = _private_paths(os.environ.get("AGENTOS_CREDENTIALS"), os.environ.get("HOME"))
    for private, what in ((keys, "the credentials file"), (lease, "the key pool's lease file")):
        try:
            known = private.stat()
        except OSError:
            continue
        if (known.st_dev, known.st_ino) == (opened.st_dev, opened.st_ino):
            return f"it is {what} ({shown_name(private)}) under another name"
        if private == keys and known.st_size == len(data) > 0 and stat.S_ISREG(known.st_mode):
            try:
                same = private.read_bytes() == data
            except OSError:
                same = True  # it cannot be told apart from a copy of the keys: not sent
            if same:
                return f"it is a copy of the credentials file ({shown_name(private)})"
    return None


@functools.lru_cache(maxsize=4)  # asked for every file read, of which the definitions search makes thousands
def _private_paths(credentials: str | None, home: str | None) -> tuple[Path, Path]:
    """The credentials file and its lease file, for the environment's AGENTOS_CREDENTIALS and HOME."""
    return credentials_path(), default_lease_path()


@functools.lru_cache(maxsize=8)  # asked for every file read: 5,000 issues are 15,000 checks of one root
def _real_root(root: Path) -> str:
    return os.path.realpath(root)


def _real_file(path: Path, root: Path) -> Path:
    try:
        real = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRepoContent("it is a link loop") from None
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise NotRepoContent("it is a link to a missing file") from None
        raise NotRepoContent(f"it cannot be checked ({exc.strerror})") from None
    if not real.is_relative_to(_real_root(root)):
        raise NotRepoContent(f"it leads outside the repository, to {shown_name(real)}")
    try:
        kind = stat.S_IFMT(real.stat().st_mode)
    except OSError as exc:
        raise NotRepoContent(f"it cannot be checked ({exc.strerror})") from None
    if kind != stat.S_IFREG:
        raise NotRepoContent(_not_a_file(kind))
    _check_link_target(path, real, root)
    return real


def _check_link_target(path: Path, real: Path, root: Path) -> None:
    """A link inside the repository (`src/settings.txt -> ../.env`) is read only if its target could be shown
    by its own name: one of the files the repository lists (never a secret-looking name, one git ignores,
    anything under .git, nor, outside git, a hidden one), and not one git ignores though it is tracked. Only
    links cost the check (a lookup, and a git call)."""
    if real == path.absolute():  # no link on the way: the common case, and no path arithmetic
        return
    target = real.relative_to(_real_root(root)).as_posix()
    if os.path.relpath(path, root) == target:  # a link above the repository, or a `..`: none inside it
        return
    if looks_secret(target, root):
        raise NotRepoContent(f"it is a link to {shown_name(target)}, whose name looks like a secret's")
    ignored, unknown = git_ignored(root, [target])
    if ignored:
        raise NotRepoContent(f"it is a link to {shown_name(target)}, which git ignores")
    if unknown:
        raise NotRepoContent(f"it is a link to {shown_name(target)}, of which {unknown[target]}: git cannot tell "
                             "whether it ignores it")
    if target not in _listing(root)[0]:
        raise NotRepoContent(f"it is a link to {shown_name(target)}, which the repository's file list leaves out")


def _not_a_file(kind: int) -> str:
    if kind == stat.S_IFDIR:
        return "it is a directory, not a file"
    return f"it is {_KINDS.get(kind, 'something else')}, not a regular file"


# Names that hold secrets far more often than designs: never sent to a model, whatever git says of them.
SECRET_NAMES = (".env*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                ".netrc", "credentials.json")
MAX_WALKED = 50_000  # files listed outside git, where a forgotten build folder could hold millions


def looks_secret(relative: str, root: Path) -> bool:
    """A repository file whose name looks like a secret's (SECRET_NAMES), or the credentials file itself."""
    name = PurePosixPath(relative).name
    if any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in SECRET_NAMES):
        return True
    credentials = credentials_path()
    return name == credentials.name and os.path.realpath(root / relative) == os.path.realpath(credentials)


def repo_files(root: Path) -> tuple[list[str], str | None]:
    """Every file of the repository at `root`, as sorted paths relative to it: what git lists (tracked, and new
    files it does not ignore), or outside git a walk that skips hidden names and what .gitignore files name
    (their common patterns: no `!`); then a note that says so. Secret-looking names are left out, and so are
    names that are not UTF-8 or hold a control character: they cannot be sent as text, or could steer a reader."""
    try:
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        files, note = _walk(root), f"git could not list the files ({type(exc).__name__})"
    else:
        if listed.returncode == 0:
            names = dict.fromkeys(os.fsdecode(name) for name in listed.stdout.split(b"\0") if name)
            return sorted(n for n in names if _sendable(n) and (root / n).is_file() and not looks_secret(n, root)), None
        why = one_line(os.fsdecode(listed.stderr), 120).removeprefix("fatal: ")
        files, note = _walk(root), f"git could not list the files ({why})"
    return files, f"{note}: the file list is a walk that skips hidden names and what .gitignore files name"


Listed = tuple[tuple[str, ...], str | None]  # the files, and a note on how they were listed
_listed: dict[Path, Listed] = {}  # root -> its files as this process was handed them


def keep_listing(root: Path) -> None:
    """List the repository's files now and keep the list for this process and the processes it forks: a run's
    warm parent does it as the run starts (warm_parent.py), so that every item sees one file tree, as the run
    started, and none lists the repository again (a cost that grows with its size: 5,000 issues are 5,000
    files)."""
    files, note = repo_files(root)
    _listed[root] = (tuple(files), note)


def kept_listing(root: Path) -> Listed | None:
    return _listed.get(root)


@functools.lru_cache(maxsize=4)  # a process that has kept no listing lists once for all the links it meets
def _listed_now(root: Path) -> tuple[frozenset[str], str | None]:
    files, note = repo_files(root)
    return frozenset(files), note


def _listing(root: Path) -> tuple[Collection[str], str | None]:
    """The files as kept by `keep_listing`, else as listed once in this process; and how they were listed."""
    kept = _listed.get(root)
    return kept if kept is not None else _listed_now(root)


def listed_files(root: Path) -> Listed:
    """`repo_files` as kept by `keep_listing`, else listed now."""
    if (kept := _listed.get(root)) is not None:
        return kept
    files, note = repo_files(root)
    return tuple(files), note


def git_ignored(root: Path, relatives: list[str]) -> tuple[set[str], dict[str, str]]:
    """Those of `relatives` that git's ignore rules name, tracked or not (`git check-ignore --no-index`), and
    those it could not tell, each with why: they are not sent either (a check that fails, exit 128 when a path
    crosses a link for instance, must not pass every file). A failed check of many paths is asked again path by
    path, so that one odd path does not hold back the others. Outside git (the files were listed by a walk,
    which left out what .gitignore files name) nothing is asked."""
    if not relatives or _listing(root)[1] is not None:
        return set(), {}
    ignored, why = _check_ignore(root, relatives)
    if why is None:
        return ignored, {}
    if len(relatives) == 1:
        return set(), {relatives[0]: why}
    ignored, unknown = set(), {}
    for relative in relatives:
        alone, why = _check_ignore(root, [relative])
        ignored |= alone
        if why is not None:
            unknown[relative] = why
    return ignored, unknown


def _check_ignore(root: Path, relatives: list[str]) -> tuple[set[str], str | None]:
    """What git ignores of `relatives`, or why it could not tell (exit 0: some are ignored; 1: none are)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "check-ignore", "--no-index", "-z", "--stdin"],
                              input=b"".join(os.fsencode(r) + b"\0" for r in relatives), capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return set(), f"git check-ignore could not run ({type(exc).__name__})"
    if done.returncode not in (0, 1):
        said = one_line(os.fsdecode(done.stderr), 120).removeprefix("fatal: ")
        return set(), f"git check-ignore failed with exit {done.returncode}" + (f": {said}" if said else "")
    return {os.fsdecode(name) for name in done.stdout.split(b"\0") if name}, None


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    rules: list[tuple[str, str]] = []  # (the folder of the .gitignore, a pattern), every level down to here
    for folder, dirs, files in os.walk(root):
        base = "" if Path(folder) == root else Path(folder).relative_to(root).as_posix()
        rules = [rule for rule in rules if not rule[0] or f"{base}/".startswith(f"{rule[0]}/")]
        rules += _ignore_rules(Path(folder), base)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _walk_ignores(rules, f"{base}/{d}", True))
        for name in sorted(files):
            relative = f"{base}/{name}".lstrip("/")
            if not name.startswith(".") and not _walk_ignores(rules, relative, False):
                found.append(relative)
        if len(found) >= MAX_WALKED:
            break
    return sorted(n for n in found[:MAX_WALKED] if _sendable(n) and not looks_secret(n, root))


def _sendable(name: str) -> bool:
    return name.isprintable() and not any(0xDC80 <= ord(c) <= 0xDCFF for c in name)


def _ignore_rules(folder: Path, base: str) -> list[tuple[str, str]]:
    try:
        lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [(base, line.strip()) for line in lines if line.strip() and not line.startswith(("#", "!"))]


def _walk_ignores(rules: list[tuple[str, str]], relative: str, is_dir: bool) -> bool:
    """Whether a .gitignore rule names the path, as git reads it: a pattern with a slash (`/x`, `a/b`, `**/x`,
    `a/**/b`) is matched against the path below its .gitignore's folder, `**/` standing for any folders or none;
    one without, against the last part at any depth; a trailing `/` only a folder. What git may read otherwise
    (a `!` that takes a file back) is not read: the walk leaves out more, never less."""
    relative = relative.lstrip("/")
    name = PurePosixPath(relative).name
    for base, pattern in rules:
        if pattern.endswith("/") and not is_dir:
            continue
        pattern = pattern.rstrip("/")
        if "/" in pattern:  # anchored to the folder of its .gitignore (the walk keeps only those above the path)
            below = relative[len(base) + 1 :] if base else relative
            if glob_regex(pattern.lstrip("/")).fullmatch(below):
                return True
        elif glob_regex(pattern).fullmatch(name):
            return True
    return False
