"""Scenario 040 and its relatives: ids that could escape a directory or a command line are refused."""

from __future__ import annotations

import re

import pytest

from agentos_jobs.core.errors import InvalidItemId
from agentos_jobs.core.ids import slugify, validate_item_id

from conftest import BIN, Workspace

BAD_IDS = ["../../../etc/passwd", "a/b", "a\\b", "x\x00y", "two\nlines", "-rf", "..", "", "a" * 101, "sp ace",
           "naïve"]


@pytest.mark.parametrize("raw", BAD_IDS)
def test_bad_ids_are_refused_with_a_one_line_message(raw: str) -> None:
    with pytest.raises(InvalidItemId) as caught:
        validate_item_id(raw)
    message = str(caught.value)
    assert "\n" not in message and "\x00" not in message
    assert message.startswith(f"invalid item id {raw!a}")


@pytest.mark.parametrize("raw", ["42", "add-oauth", "v1.2_fix", "a" * 100])
def test_good_ids_pass_unchanged(raw: str) -> None:
    assert validate_item_id(raw) == raw


def test_slugs_of_brief_names_are_valid_ids() -> None:
    assert slugify("Faster CI") == "faster-ci"
    assert slugify("../../evil") == "evil"
    assert validate_item_id(slugify("Ünïcode: idea!")) == "n-code-idea"
    japanese = slugify("日本語のアイデア")  # no ASCII letter at all: a stable id, never a brief passed over
    assert re.fullmatch(r"brief-[0-9a-f]{8}", japanese) and validate_item_id(japanese) == japanese
    assert slugify("日本語のアイデア") == japanese != slugify("別のアイデア")


def test_040_path_traversal_id_is_rejected_by_the_wrapper(workspace: Workspace) -> None:
    workspace.add_issue(1)
    result = workspace.command(str(BIN / "agentos-jobs"), "run", "lld", "../../../etc/passwd")
    assert result.returncode == 1
    assert result.stderr == ("agentos-jobs: error: invalid item id '../../../etc/passwd': it contains a path "
                             "separator; ids are issue numbers or slugs of letters, digits, '.', '_' and '-' "
                             "(at most 100 characters)\n")
    assert not workspace.base.joinpath("runs").exists() and not workspace.base.joinpath("logs").exists()


def test_workflow_process_refuses_a_bad_id_too(workspace: Workspace) -> None:
    result = workspace.command(str(BIN / "python"), "-m", "agentos_jobs.procs.workflow", "lld", "-x")
    assert result.returncode == 1
    assert "invalid item id '-x': it starts with '-'" in result.stderr
