"""The README and docs/ stay true to each other and to the code: every relative link and anchor leads somewhere,
every setting the code declares is in the settings reference with its environment variable, every AGENTOS_*
variable the package reads is documented, and the README stays a README (no line of any of them over 120
characters). No doit run: these read files only."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

from agentos_jobs.core import settings as config

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "agentos_jobs"
README_MAX_LINES = 160
MAX_LINE = 120

_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_ENV_VAR = re.compile(r"\bAGENTOS_[A-Z][A-Z0-9_]*\b")


def declared_settings() -> dict[str, str | None]:
    """Every setting the code declares, with its environment variable (None: pyproject.toml only). Read from the
    settings module: point this at wherever settings are declared once the package is restructured."""
    declared: dict[str, str | None] = {key: spec.env for key, spec in {**config.SETTINGS,
                                                                        **config.ROLE_SETTINGS}.items()}
    declared.update(dict.fromkeys(config.ROLES))  # [tool.agentos_jobs.drafter] / .reviewer]: tables, no variable
    return declared


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text without code blocks and code spans, where a `[x](y)` is an example, not a link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (markup dropped) lowercased, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
    kept = "".join(ch for ch in text.lower() if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of a Markdown file (a repeated one gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(match[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(root: Path) -> list[str]:
    """`file: [text](target)` for every relative link whose file or heading is not there."""
    broken = []
    for doc in documents(root):
        for match in _LINK.finditer(_prose(doc.read_text(encoding="utf-8"))):
            target = match[2]
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check here
                continue
            name, _, anchor = target.partition("#")
            path = (doc.parent / name).resolve() if name else doc
            if not path.exists() or (anchor and (path.suffix != ".md" or anchor not in anchors(path))):
                broken.append(f"{doc.relative_to(root)}: [{match[1]}]({target})")
    return broken


def undocumented_settings(reference: Path) -> list[str]:
    """Each declared setting needs a row of the reference's table that names it in its first cell and, when it has
    one, its environment variable in the same row."""
    rows = [line for line in reference.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    missing = []
    for key, var in declared_settings().items():
        row = next((row for row in rows if f"`{key}`" in row.split("|")[1]), None)
        if row is None:
            missing.append(f"{key}: no row")
        elif var and f"`{var}`" not in row:
            missing.append(f"{key}: its row does not name {var}")
    return missing


def undocumented_variables(root: Path) -> list[str]:
    """AGENTOS_* variables the package's source names that no document mentions."""
    used = {name for source in PACKAGE.rglob("*.py") for name in _ENV_VAR.findall(source.read_text(encoding="utf-8"))}
    said = {name for doc in documents(root) for name in _ENV_VAR.findall(doc.read_text(encoding="utf-8"))}
    return sorted(used - said)


def long_lines(root: Path) -> list[str]:
    return [f"{doc.relative_to(root)}:{number}: {len(line)} characters" for doc in documents(root)
            for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1) if len(line) > MAX_LINE]


def test_every_relative_link_and_anchor_leads_somewhere() -> None:
    assert broken_links(REPO) == []


def test_every_declared_setting_is_in_the_reference_with_its_variable() -> None:
    assert len(declared_settings()) > 30  # the reader found the settings, not an empty table
    assert undocumented_settings(REPO / "docs" / "settings.md") == []


def test_every_agentos_variable_the_package_reads_is_documented() -> None:
    assert undocumented_variables(REPO) == []


def test_the_readme_stays_a_readme() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_no_line_of_the_docs_passes_120_characters() -> None:
    assert long_lines(REPO) == []


def test_the_checks_catch_a_broken_link_a_missing_setting_and_a_long_readme(tmp_path: Path) -> None:
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    settings = tmp_path / "docs" / "settings.md"
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("(docs/settings.md)", "(docs/setting.md)", 1)
                      + "\nSee [the gate](docs/review.md#no-such-heading).\n" + "x\n" * README_MAX_LINES)
    settings.write_text("\n".join(line for line in settings.read_text().splitlines()
                                  if not line.startswith("| `max_iterations`"))
                        .replace("| `max_retries` | `AGENTOS_MAX_RETRIES` |", "| `max_retries` | |"))
    assert broken_links(tmp_path) == ["README.md: [Settings](docs/setting.md)",
                                      "README.md: [the gate](docs/review.md#no-such-heading)"]
    assert undocumented_settings(settings) == ["max_iterations: no row",
                                               "max_retries: its row does not name AGENTOS_MAX_RETRIES"]
    assert len(readme.read_text().splitlines()) > README_MAX_LINES


def test_anchors_follow_githubs_slugs(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# What a run costs, and a budget\n## `max_tokens` and *usage*\n## Notes\n## Notes\n"
                   "```\n# not a heading\n```\n## OpenAI's flex tier\n")
    assert anchors(doc) == {"what-a-run-costs-and-a-budget", "max_tokens-and-usage", "notes", "notes-1",
                            "openais-flex-tier"}
