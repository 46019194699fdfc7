"""A child's context as one argument, and open_item's direct lookup: no process of a run lists the issues
folder for one item."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos_jobs import items
from agentos_jobs.handoff import Handoff
from agentos_jobs.ids import InvalidItemId
from agentos_jobs.items import InputError, open_item


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
