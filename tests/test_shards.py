"""AGENTOS_SHARD=i/n: n machines split one repository's items, with no overlap and none left out."""

from __future__ import annotations

import pytest

from agentos_jobs.run.shards import parse_shard

from conftest import Workspace


def listed(ws: Workspace, shard: str, seed: str = "0") -> set[str]:
    done = ws.doit("list", "--all", extra_env={"AGENTOS_SHARD": shard, "PYTHONHASHSEED": seed})
    assert done.returncode == 0, done.stdout + done.stderr
    return {line.split()[0] for line in done.stdout.splitlines() if line.startswith("lld:")}


def test_three_shards_of_30_items_are_disjoint_cover_all_and_are_stable(workspace: Workspace) -> None:
    for number in range(1, 31):
        workspace.add_issue(number)
    everything = listed(workspace, "")
    assert everything == {f"lld:{n}" for n in range(1, 31)}
    shards = [listed(workspace, f"{i}/3") for i in (1, 2, 3)]
    assert all(shards) and sum(len(s) for s in shards) == 30 and set().union(*shards) == everything
    assert [listed(workspace, f"{i}/3", seed="12345") for i in (1, 2, 3)] == shards  # another process, the same
    workspace.add_issue(31)  # a new item changes no other item's shard
    assert all(shard <= listed(workspace, f"{i}/3") for i, shard in zip((1, 2, 3), shards, strict=True))


def test_a_sharded_run_runs_its_share_only(workspace: Workspace) -> None:
    for number in range(1, 7):
        workspace.add_issue(number)
    mine = listed(workspace, "2/3")
    result = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_SHARD": "2/3"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert {f"lld:{row['id']}" for row in workspace.summary()["items"]} == mine
    assert {p.stem for p in (workspace.base / "done" / "lld").glob("*.json")} == {m.split(":")[1] for m in mine}


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "1/0", "a/b", "1/3/5", "-1/3"])
def test_a_malformed_shard_is_one_line_and_nothing_runs(workspace: Workspace, value: str) -> None:
    workspace.add_issue(1)
    for command in (("list",), ("lld",)):
        done = workspace.doit(*command, extra_env={"AGENTOS_SHARD": value})
        output = done.stdout + done.stderr
        assert done.returncode == 3, output
        assert f"AGENTOS_SHARD must be i/n with 1 <= i <= n (e.g. 2/3 for the second of three shards), got " \
               f"{value!r}" in output
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert not workspace.runs() and not (workspace.base / "done").exists()


def test_shard_values() -> None:
    assert parse_shard(" 2 / 3 ") == parse_shard("2/3")
    assert parse_shard("1/1").holds("anything")
