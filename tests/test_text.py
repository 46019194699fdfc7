"""Reading issues and briefs: name the file on every error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentos_jobs.core.errors import InputError
from agentos_jobs.core.text import shown_name
from agentos_jobs.items.discovery import parse_brief, parse_issue


@pytest.mark.parametrize("name, content, expected", [
    ("7.md", "no heading\n", "7.md: the first line is not a '# Title' heading"),
    ("7.json", "[1, 2]", "7.json: expected one JSON object"),
    ("7.json", '{"number": 8, "title": "x"}', "'number' is 8 but the file name says 7"),
    ("7.json", '{"number": ' + "9" * 5000 + ', "title": "x"}', "7.json: not valid JSON (a number too long to read)"),
    ("7.json", "[" * 100_000 + "]" * 100_000, "7.json: not valid JSON (nested too deeply)"),
    ("7.json", '{"number": 7, "title": ""}', "'title' must be a non-empty string"),
    ("7.md", b"# T\n\xff\xfe", "7.md: not UTF-8 text"),
])
def test_malformed_issues_name_the_file(tmp_path: Path, name: str, content: str | bytes, expected: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError) as caught:
        parse_issue(path, tmp_path)
    assert str(caught.value).startswith(str(tmp_path)) and expected in str(caught.value)


def test_brief_without_heading_takes_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "faster-ci.md"
    path.write_text("CI is slow.\n")
    doc = parse_brief(path, tmp_path)
    assert doc.title == "Faster ci" and doc.body == "CI is slow."


def test_titles_lose_terminal_control_sequences(tmp_path: Path) -> None:
    path = tmp_path / "3.json"
    path.write_text('{"number": 3, "title": "Fix \\u001b]0;pwned\\u0007 login\\u001b[1A\\u001b[2K", "body": ""}')
    assert parse_issue(path, tmp_path).title == "Fix ]0;pwned login[1A[2K"
    assert "\x1b" not in parse_issue(path, tmp_path).title


def test_a_float_issue_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "3.json"
    path.write_text('{"number": 3.0, "title": "x"}')
    with pytest.raises(InputError, match=r"'number' is 3\.0 but the file name says 3"):
        parse_issue(path, tmp_path)


def test_names_are_shown_with_every_unprintable_character_escaped() -> None:
    name = "docs/" + os.fsdecode(b"5-\xff") + "\x1b]0;x\x07\u202e\n été 日本.md"
    assert shown_name(name) == "docs/5-\\xff\\x1b]0;x\\x07\\u202e\\n été 日本.md"
    assert shown_name(Path("a/b.md")) == "a/b.md"


def test_a_byte_order_mark_is_no_part_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "4.md"
    path.write_bytes(b"\xef\xbb\xbf# Four\n\nBody.\n")
    assert parse_issue(path, tmp_path).title == "Four"
    path = tmp_path / "4.json"
    path.write_bytes(b'\xef\xbb\xbf{"number": 4, "title": "Four"}')
    assert parse_issue(path, tmp_path).title == "Four"
