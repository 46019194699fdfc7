"""A child's context as one argument, and open_item's direct lookup: no process of a run lists the issues
folder for one item."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos_jobs.core.errors import InputError, InvalidItemId
from agentos_jobs.items import discovery as items
from agentos_jobs.items.discovery import load_document, open_item
from agentos_jobs.procs import warm_parent
from agentos_jobs.procs.handoff import Handoff


def test_a_hand_off_round_trips_and_refuses_what_is_not_one() -> None:
    handoff = Handoff("run-1", ("/repo/docs/issues/7.md",), parent=12, doit_pid=3, outcome="/o.json", clear_line=True)
    assert Handoff.from_arg(handoff.to_arg()) == handoff
    for text in ("", "[]", '{"run_id": "r"}', '{"run_id": 1, "sources": []}', '{"run_id": "r", "sources": [],'
                                                                               ' "colour": 1}'):
        with pytest.raises(ValueError, match="not a hand-off from agentos-jobs"):
            Handoff.from_arg(text)


def test_open_item_finds_an_item_at_its_handed_paths_without_listing_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    issues = tmp_path / "docs" / "issues"
    issues.mkdir(parents=True)
    (issues / "7-oauth.md").write_text("# Add OAuth\n\nBody.\n")
    monkeypatch.chdir(tmp_path)
    _, listed = open_item("lld", "7")
    monkeypatch.setattr(items, "list_inputs", lambda *args: pytest.fail("listed the issues folder"))
    settings, item = open_item("lld", "7", [str(issues / "7-oauth.md")])
    assert item == listed and item.title == "Add OAuth" and settings.root == tmp_path.resolve()
    with pytest.raises(InvalidItemId):
        open_item("lld", "../7", [str(issues / "7-oauth.md")])


def test_open_item_by_hand_names_a_missing_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="no lld item '9'"):
        open_item("lld", "9")


def test_an_items_text_is_the_one_its_hash_was_taken_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read once, when the item is opened: the design is made from the text the marker's hash records, and an
    edit made while the item runs is the next run's input, not half of this one's."""
    issues = tmp_path / "docs" / "issues"
    issues.mkdir(parents=True)
    (issues / "7.md").write_text("# Add OAuth\n\nFirst body.\n")
    monkeypatch.chdir(tmp_path)
    _, item = open_item("lld", "7")
    (issues / "7.md").write_text("# Add SAML\n\nSecond body.\n")
    document = load_document(item)
    assert document.title == "Add OAuth" and "First body." in document.body
    _, edited = open_item("lld", "7")
    assert edited.input_hash != item.input_hash and load_document(edited).title == "Add SAML"


def test_a_workers_environment_travels_as_what_differs_from_the_warm_parents() -> None:
    before = {"HOME": "/h", "PATH": "/bin", "GONE": "1", "BIG": "x" * 300_000}
    after = {"HOME": "/h", "PATH": "/usr/bin:/bin", "BIG": "x" * 300_000, "TRACEPARENT": "00-ab-cd-01"}
    change = warm_parent.env_change(before, after)
    assert change == {"PATH": "/usr/bin:/bin", "TRACEPARENT": "00-ab-cd-01", "GONE": None}  # not the big one
    assert warm_parent.changed_env(before, change) == after
    assert warm_parent.changed_env(before, warm_parent.env_change(before, before)) == before
