"""What a repository already keeps, found by `agentos-jobs init`: its own LLD template, and the folders its LLDs
and their lineage are in, so that the settings it writes follow the repository instead of the tool's defaults."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from agentos_jobs.core.fsutil import display_path
from agentos_jobs.core.settings import Settings
from agentos_jobs.items.owned import lld_number
from agentos_jobs.repo.files import repo_files

_LINEAGE_FOLDER = re.compile(r"\d+-lld")
_TEMPLATE_NAME = re.compile(r"lld|low[-_ ]?level[-_ ]?design", re.IGNORECASE)


@dataclass
class Conventions:
    """The settings to write (key -> path from the root) and one line per finding for the user."""

    settings: dict[str, str] = field(default_factory=dict)
    said: list[str] = field(default_factory=list)


def find_conventions(settings: Settings) -> Conventions:
    files = repo_files(settings.root)[0]
    found = Conventions()
    lld_counts = Counter(str(PurePosixPath(f).parent) for f in files if lld_number(PurePosixPath(f).name) is not None)
    item_folders = {folder for folder in map(_lineage_folder, files) if folder}
    lineage_counts = Counter(parent for parent, _ in item_folders)
    for key, counts, default, what in (
            ("lld_dir", lld_counts, settings.lld_dir, "LLD-<N>.md files"),
            ("lineage_dir", lineage_counts, settings.lineage_dir, "<N>-lld lineage folders")):
        if not counts:
            continue
        folder, count = _favoured(counts)
        others = [f for f in counts if f != folder]
        also = f"; also {', '.join(sorted(others)[:3])}{' ...' if len(others) > 3 else ''}" if others else ""
        if folder == display_path(default, settings.root):
            found.said.append(f"{key}: {folder} already holds {count} {what}: the default, kept{also}")
        else:
            found.settings[key] = folder
            found.said.append(f"{key} = \"{folder}\": it already holds {count} {what}{also}")
    inputs = [display_path(settings.issues_dir, settings.root), display_path(settings.ideas_dir, settings.root)]
    outputs = tuple(f"{folder}/" for folder in [*lld_counts, *lineage_counts, *inputs])  # designs, rounds, issues
    templates = sorted((f for f in files if _is_lld_template(f) and not f.startswith(outputs)), key=_template_rank)
    if templates:
        found.settings["lld_template"] = templates[0]
        rest = f" (also there: {', '.join(templates[1:3])})" if len(templates) > 1 else ""
        found.said.append(f"lld_template = \"{templates[0]}\": the repository's own LLD template; the gate requires "
                          f"its headings{rest}")
    if lld_counts or lineage_counts:
        found.said.append("an LLD or lineage file agentos-jobs did not write is never overwritten: its item stops, "
                          "'exists', until 'agentos-jobs adopt' or 'agentos-jobs replace'")
    return found


def _lineage_folder(path: str) -> tuple[str, str] | None:
    """(the lineage folder, the item's folder in it) of a file under `<lineage>/<N>-lld/`."""
    parts = PurePosixPath(path).parts
    for index, part in enumerate(parts[:-1]):
        if _LINEAGE_FOLDER.fullmatch(part) and index > 0:
            return str(PurePosixPath(*parts[:index])), part
    return None


def _favoured(counts: Counter[str]) -> tuple[str, int]:
    """The folder agentos-jobs would write into: an `active` one first (designs under way), then the fullest."""
    folder = max(counts, key=lambda f: (PurePosixPath(f).name == "active", counts[f], -len(f)))
    return folder, counts[folder]


def _is_lld_template(path: str) -> bool:
    pure = PurePosixPath(path)
    in_templates = any(part.lower() in ("template", "templates") for part in pure.parts[:-1])
    return (pure.suffix.lower() == ".md" and not pure.name.startswith(".")
            and not any(part.startswith(".") for part in pure.parts[:-1])
            and bool(_TEMPLATE_NAME.search(pure.name)) and (in_templates or "template" in pure.name.lower()))


def _template_rank(path: str) -> tuple[bool, bool, int, str]:
    """One in a templates folder first, then a name that says template (`0102-feature-lld-template.md` before
    `0106-lld-pre-impl-review.md`), then the shallowest."""
    pure = PurePosixPath(path)
    in_templates = any(part.lower() in ("template", "templates") for part in pure.parts[:-1])
    return not in_templates, "template" not in pure.name.lower(), len(pure.parts), path
