"""Batch mode (`batch = true`): each call a provider batch at half price, each item moving one step a run, never
submitted or paid twice. Real doit runs against the fake server's Files and Batches endpoints (fake_batches.py)."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentos_jobs.core.prices import Price

from conftest import BIN, Workspace
from fake_llm import FakeLLM, Reply, secret, use_provider

PRICE = Price(input=100.0, cached_input=10.0, output=5000.0)
PRICES_TOML = '\n[tool.agentos_jobs.prices]\n"gpt-test" = { input = 100, cached_input = 10, output = 5000 }\n'


def add_settings(ws: Workspace, text: str) -> None:
    path = ws.root / "pyproject.toml"
    path.write_text(path.read_text() + text)


def full_price(rows: list[dict[str, int]]) -> float:
    return sum((row["input_tokens"] - row["cached_tokens"]) * PRICE.input + row["cached_tokens"] * PRICE.cached_input
               + row["output_tokens"] * PRICE.output for row in rows) / 1e6


def run(ws: Workspace, *args: str) -> dict[str, str]:
    result = ws.doit(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws.statuses()


def _kill_the_run_once_it_submitted(ws: Workspace, batches: Any) -> None:
    """kill -9 of the whole run (doit, its workers, the item's processes) while the server holds its answer to a
    submission, which it then lets go."""
    started = ws.start_doit("lld")
    assert batches.paused.wait(60), "the run never submitted"
    os.killpg(started.pid, signal.SIGKILL)
    started.wait(30)
    for pid in ws.pids_of("lld 1"):
        os.kill(pid, signal.SIGKILL)
    batches.release.set()


def test_twenty_items_are_drafted_and_reviewed_in_batches_over_runs_each_call_paid_once_at_half_price(
        workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    add_settings(workspace, PRICES_TOML)
    for number in range(1, 21):
        workspace.add_issue(number)
    first = workspace.doit("-n", "3", "lld")
    assert first.returncode == 0, first.stdout + first.stderr  # nothing is wrong: the provider has the work
    assert set(workspace.statuses().values()) == {"waiting"}
    assert workspace.summary()["totals"]["waiting"] == 20
    assert len(fake.batches.created()) == 20 and not fake.calls  # submitted; nothing answered yet
    assert "step draft-1: batch batch_" in first.stdout and " submitted (key key-" in first.stdout
    listed = workspace.doit("list", "-s", "lld:1")
    assert listed.stdout.startswith("R "), listed.stdout  # not done: the next run takes it up
    costs: list[dict[str, int]] = []
    statuses = {}
    for _ in range(2):  # each run moves every item one step: the drafts' answers in, then the reviews'
        statuses = run(workspace, "-n", "3", "lld")
        costs += workspace.summary()["items"]
    assert set(statuses.values()) == {"done"}, statuses
    assert all(workspace.marker("lld", str(n)).exists() for n in range(1, 21))
    assert not (workspace.root / "docs" / "lineage" / "superseded").exists()  # each run went on with the rounds
    assert len(fake.batches.created()) == 40  # a draft and a review each
    paid = Counter(call.batch for call in fake.calls)
    assert len(fake.calls) == 40 and set(paid.values()) == {1}  # every request answered (paid) exactly once
    assert Counter(call.role for call in fake.calls) == {"drafter": 20, "reviewer": 20}
    spent = sum(row["cost_usd"] for row in costs)
    assert spent == pytest.approx(full_price(costs) / 2)  # the same tokens at half the synchronous price
    run(workspace, "-n", "3", "lld")  # every item up to date: nothing asked or submitted again
    assert len(fake.batches.created()) == 40 and len(fake.calls) == 40


@pytest.mark.parametrize("moment", ["files", "batches"])
def test_a_run_killed_around_a_submission_submits_nothing_twice(workspace: Workspace, fake: FakeLLM,
                                                                 moment: str) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.batches.pause_after = moment  # the server has the upload (or the batch); the run dies before its answer
    _kill_the_run_once_it_submitted(workspace, fake.batches)
    assert len(fake.batches.created()) == (1 if moment == "batches" else 0)
    rerun = workspace.doit("lld")
    assert ("lld-draft: found batch batch_" in rerun.stdout) == (moment == "batches"), rerun.stdout
    assert workspace.statuses() == {"LLD-1": "waiting"}
    assert run(workspace, "lld") == {"LLD-1": "waiting" if moment == "files" else "done"}
    if moment == "files":
        assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.batches.created()) == 2 and len(fake.calls) == 2  # a draft, a review: each submitted once


def test_a_submission_refused_with_a_429_waits_a_run_and_is_submitted_once_after(workspace: Workspace,
                                                                                    fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.batches.refusals = [429]  # the provider's rate limit refuses the first submission
    first = workspace.doit("lld")
    assert first.returncode == 0, first.stdout + first.stderr
    row = workspace.summary()["items"][0]
    assert row["status"] == "waiting" and "could not be submitted for now (429" in row["message"], row
    assert fake.batches.created() == []
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # submitted now, once
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # the draft's answer read; its review submitted
    assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.batches.created()) == 2 and len(fake.calls) == 2


def test_a_batch_answered_with_a_failed_request_is_submitted_afresh_not_found_again(workspace: Workspace,
                                                                                      fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.script(Reply(500, {"error": {"message": "The server had an error", "type": "server_error"}}),
                role="drafter")  # the batch completes, its one request answered with a 500
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    assert workspace.doit("lld").returncode == 1 and workspace.statuses() == {"LLD-1": "failed"}
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # a new batch: the failed one is not taken for its answer
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # the draft read; its review submitted
    assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.batches.created()) == 3


def test_usage_that_is_no_token_count_in_a_batch_answer_keeps_the_answer(workspace: Workspace,
                                                                           fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.script(Reply(usage={"completion_tokens": "many"}), role="drafter")
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    second = workspace.doit("lld")
    assert second.returncode == 0 and "usage that is no token count" in second.stdout, second.stdout
    assert workspace.statuses() == {"LLD-1": "waiting"}  # the paid draft kept; its review submitted
    assert run(workspace, "lld") == {"LLD-1": "done"} and len(fake.batches.created()) == 2


def test_a_refused_submission_fails_by_name_with_the_key_scrubbed(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.batches.refusals = [401]  # its message echoes the key, as OpenAI's does
    failed = workspace.doit("lld")
    assert failed.returncode == 1
    message = workspace.summary()["items"][0]["message"]
    assert "the batch was refused (key key-1): 401 Incorrect API key provided" in message, message
    key = secret("openai", 1)
    shown = failed.stdout + failed.stderr + "".join(p.read_text() for p in workspace.base.rglob("*.log"))
    assert key[:12] not in shown and key[-12:] not in shown


def test_a_batch_whose_key_was_renamed_is_read_with_the_providers_other_key_not_paid_again(
        workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_BATCH="1")
    workspace.add_issue(1)
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    credentials = Path(workspace.env["AGENTOS_CREDENTIALS"])
    credentials.write_text(credentials.read_text().replace('"key-1"', '"renamed"'))
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # the draft read with "renamed"; its review submitted
    assert run(workspace, "lld") == {"LLD-1": "done"} and len(fake.batches.created()) == 2


def test_an_expired_batch_fails_its_step_by_name_and_the_rerun_submits_it_again(workspace: Workspace,
                                                                               fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.batches.fates = ["expired"]
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    failed = workspace.doit("lld")
    assert failed.returncode == 1
    row = workspace.summary()["items"][0]
    assert row["status"] == "failed"
    assert "batch batch_2 expired: it expired: not answered within its 24 h window" in row["message"], row["message"]
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    assert len(fake.batches.created()) == 2  # submitted again, once
    fake.batches.ready = lambda: False  # the provider is slow: the item waits, run after run
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    assert "still in_progress" in workspace.summary()["items"][0]["message"]
    fake.batches.ready = lambda: True
    run(workspace, "lld")
    assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.calls) == 2


def test_batch_mode_with_a_provider_that_has_none_is_refused_naming_the_setting(workspace: Workspace) -> None:
    done = workspace.doit("lld", extra_env={"AGENTOS_BATCH": "1"})
    assert done.returncode == 3
    assert "environment variable AGENTOS_BATCH: the drafter's provider 'offline' has no batch mode" in done.stderr


def test_until_done_runs_again_until_no_item_waits(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1")
    for number in (1, 2, 3):
        workspace.add_issue(number)
    done = workspace.command(str(BIN / "agentos-jobs"), "until-done", "--pause", "0.05", "--", "-n", "3", "lld")
    assert done.returncode == 0, done.stdout + done.stderr
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done"}
    assert len(workspace.runs()) == 3  # drafts submitted; drafts taken and reviews submitted; reviews taken
    assert done.stdout.count("3 item(s) wait for their batch; running again in") == 2
    assert "running again in 0.1s" in done.stdout  # the pause grows


def test_a_waiting_batch_holds_its_worst_case_in_the_budget(workspace: Workspace, fake: FakeLLM) -> None:
    """At half price a call's worst case (8,192 tokens out at $5,000 a million) is about $20.5: a budget of $50
    lets two batches wait, and the third item is not submitted."""
    use_provider(workspace, fake, "openai", AGENTOS_BATCH="1", AGENTOS_MAX_COST="50")
    add_settings(workspace, PRICES_TOML)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    workspace.doit("-n", "1", "lld")
    assert sorted(workspace.statuses().values()) == ["over-budget", "waiting", "waiting"]
    assert len(fake.batches.created()) == 2


def test_anthropic_message_batches_draft_and_review_over_runs_at_half_price(workspace: Workspace,
                                                                           fake: FakeLLM) -> None:
    use_provider(workspace, fake, "anthropic", AGENTOS_BATCH="1")
    add_settings(workspace, PRICES_TOML.replace("gpt-test", "claude-test"))
    for number in (1, 2, 3):
        workspace.add_issue(number)
    assert set(run(workspace, "-n", "3", "lld").values()) == {"waiting"}
    assert len(fake.message_batches.created()) == 3 and not fake.calls
    rows = []
    for _ in range(2):
        statuses = run(workspace, "-n", "3", "lld")
        rows += workspace.summary()["items"]
    assert set(statuses.values()) == {"done"}
    assert len(fake.message_batches.created()) == 6 and len(fake.calls) == 6
    assert set(Counter(call.batch for call in fake.calls).values()) == {1}
    assert sum(row["cost_usd"] for row in rows) == pytest.approx(full_price(rows) / 2)


def test_a_run_killed_after_its_message_batch_was_made_waits_for_it_and_submits_nothing_twice(
        workspace: Workspace, fake: FakeLLM) -> None:
    """A message batch carries no tag: the re-run finds it by its results, so it waits until it has ended."""
    use_provider(workspace, fake, "anthropic", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.message_batches.ready = lambda: False
    fake.message_batches.pause_after = "batches"
    _kill_the_run_once_it_submitted(workspace, fake.message_batches)
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    assert "made when an earlier run stopped while submitting" in workspace.summary()["items"][0]["message"]
    fake.message_batches.ready = lambda: True
    assert run(workspace, "lld") == {"LLD-1": "waiting"}  # found in the ended batch's results: the draft taken
    assert len(fake.message_batches.created()) == 2  # the draft's, once; then the review's
    assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.calls) == 2


def test_an_errored_message_batch_request_fails_its_step_naming_the_batch(workspace: Workspace,
                                                                         fake: FakeLLM) -> None:
    use_provider(workspace, fake, "anthropic", AGENTOS_BATCH="1")
    workspace.add_issue(1)
    fake.message_batches.fates = ["errored"]
    run(workspace, "lld")
    assert workspace.doit("lld").returncode == 1
    message = workspace.summary()["items"][0]["message"]
    assert "batch msgbatch_1 ended: the request failed (invalid_request_error: max_tokens: too large)" in message
    assert run(workspace, "lld") == {"LLD-1": "waiting"} and len(fake.message_batches.created()) == 2


def test_the_flex_tier_is_asked_for_and_what_it_serves_costs_half(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_SERVICE_TIER="flex")
    add_settings(workspace, PRICES_TOML)
    workspace.add_issue(1)
    assert run(workspace, "lld") == {"LLD-1": "done"}
    assert len(fake.calls) == 2 and {call.body.get("service_tier") for call in fake.calls} == {"flex"}
    row = workspace.summary()["items"][0]
    assert row["cost_usd"] == pytest.approx(full_price([row]) / 2)


def test_a_service_tier_with_no_openai_role_is_refused(workspace: Workspace) -> None:
    done = workspace.doit("lld", extra_env={"AGENTOS_SERVICE_TIER": "flex"})
    assert done.returncode == 3
    assert "environment variable AGENTOS_SERVICE_TIER: service_tier is OpenAI's" in done.stderr


def test_a_role_can_batch_alone_the_drafter_in_batches_the_reviewer_answering_at_once(workspace: Workspace,
                                                                                       fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai")
    for name in ("AGENTOS_PROVIDER", "AGENTOS_MODEL"):  # the settings file decides, role by role
        workspace.env.pop(name)
    path = workspace.root / "pyproject.toml"
    path.write_text(path.read_text().replace('provider = "offline"', 'provider = "openai"\nmodel = "gpt-test"')
                    + "\n[tool.agentos_jobs.drafter]\nbatch = true\n")
    workspace.add_issue(1)
    assert run(workspace, "lld") == {"LLD-1": "waiting"}
    assert run(workspace, "lld") == {"LLD-1": "done"}  # the draft's batch read, the review asked directly
    assert [(call.role, bool(call.batch)) for call in fake.calls] == [("drafter", True), ("reviewer", False)]
