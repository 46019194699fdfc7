"""What a run spends: each call priced from the usage the server reports, and the run's budget kept across its
worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentos_jobs.core.errors import ConfigError, OverBudget
from agentos_jobs.core.layout import BaseDir
from agentos_jobs.core.prices import PRICES, Price, cost_usd, parse_prices, price_of, show_cost
from agentos_jobs.core.settings import load_settings
from agentos_jobs.pool.budget import Ledger, read_spend
from agentos_jobs.run.progress import Progress

from conftest import BIN, Workspace
from fake_llm import MODELS, FakeLLM, Reply, bad_request, use_provider

TEST_PRICE = Price(input=100.0, cached_input=10.0, output=5000.0)  # dollars per million: a call costs cents
PRICES_TOML = '\n[tool.agentos_jobs.prices]\n"gpt-test" = { input = 100, cached_input = 10, output = 5000 }\n'


def add_settings(ws: Workspace, text: str) -> None:
    """The workspace's [tool.agentos_jobs] stanza is the last table of its pyproject.toml: lines go into it."""
    path = ws.root / "pyproject.toml"
    path.write_text(path.read_text() + text)


def expected_cost(totals: dict[str, int], price: Price) -> float:
    fresh = totals["input_tokens"] - totals["cached_tokens"]
    return (fresh * price.input + totals["cached_tokens"] * price.cached_input
            + totals["output_tokens"] * price.output) / 1e6


def test_a_dated_model_takes_its_familys_price_and_settings_come_first() -> None:
    assert price_of("gpt-4o-2024-08-06", {}) == PRICES["gpt-4o"]
    assert price_of("gpt-4o-mini-2024-07-18", {}) == PRICES["gpt-4o-mini"]  # the longest name it starts with
    assert price_of("claude-sonnet-4-5-20250929", {}) == PRICES["claude-sonnet-4-5"]
    assert price_of("models/gemini-2.5-flash", {}) == PRICES["gemini-2.5-flash"]
    assert price_of("gpt-4o", {"gpt-4o": TEST_PRICE}) == TEST_PRICE
    assert price_of("gpt-4oops", {}) is None and price_of("my-local-model", {}) is None
    assert cost_usd(None, 100, 0, 20) is None and show_cost(None) == "unknown"
    assert cost_usd(TEST_PRICE, 100, 40, 20) == pytest.approx((60 * 100 + 40 * 10 + 20 * 5000) / 1e6)


@pytest.mark.parametrize("table", [{"m": {"input": 1, "output": 2}}, {"m": {"input": -1, "cached_input": 0,
                                                                          "output": 1}}, ["m"]])
def test_a_malformed_price_is_refused_by_name(tmp_path: Path, table: object) -> None:
    with pytest.raises(ValueError):
        parse_prices(table)
    (tmp_path / "pyproject.toml").write_text('[tool.agentos_jobs.prices]\n"m" = { input = 1, output = 2 }\n')
    with pytest.raises(ConfigError, match="prices: 'm' must have exactly input, cached_input, output"):
        load_settings(tmp_path, {})


def test_the_ledger_holds_the_worst_case_and_refuses_what_would_cross_the_budget(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "budget.json", 0.10)
    ledger.reserve("a", 0.06, "the draft call")
    with pytest.raises(OverBudget, match=r"could cost up to \$0.0500.*\$0.0600 held by calls under way"):
        ledger.reserve("b", 0.05, "the draft call")
    ledger.settle("a", 0.01)  # it cost less than its worst case: the rest is free again
    ledger.reserve("b", 0.05, "the draft call")
    ledger.release("b")  # a failed call is not billed
    ledger.settle("c", None)
    spend = read_spend(tmp_path / "budget.json")
    assert spend is not None and (spend.spent, spend.held, spend.unknown) == (pytest.approx(0.01), 0.0, 1)
    assert spend.line() == "$0.0100 + unknown spent of $0.1000"


def test_the_budget_setting_is_checked_and_the_progress_line_shows_the_spend(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {"AGENTOS_MAX_COST": "0.5"}).max_cost_usd == 0.5
    assert load_settings(tmp_path, {}).max_cost_usd is None
    for bad in ("0", "-1", "a lot", "inf"):
        with pytest.raises(ConfigError, match="environment variable AGENTOS_MAX_COST: max_cost_usd must be a positive"):
            load_settings(tmp_path, {"AGENTOS_MAX_COST": bad})
    run = BaseDir(tmp_path).run("r1")
    progress = Progress(lambda text: None, 2, 1, run, 15.0)
    assert "spent" not in progress.line()  # no paid call yet
    ledger = Ledger(run.budget, 0.10)
    ledger.settle("a", 0.01)
    assert " · $0.0100 spent of $0.1000 · " in progress.line()


def test_costs_in_the_summary_are_the_reported_usage_at_the_price_table(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai")
    add_settings(workspace, PRICES_TOML)
    for number in (1, 2):
        workspace.add_issue(number)
    result = workspace.doit("-n", "2", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = workspace.summary()
    totals = summary["totals"]
    assert totals["cached_tokens"] > 0  # the cached price is in the sum, not only the input price
    assert round(totals["cost_usd"], 2) == round(expected_cost(totals, TEST_PRICE), 2)
    assert totals["cost_usd"] == pytest.approx(expected_cost(totals, TEST_PRICE))
    for row in summary["items"]:
        assert row["cost_usd"] == pytest.approx(expected_cost(row, TEST_PRICE))
    assert f"cost: {show_cost(totals['cost_usd'])} (this run's calls" in result.stdout
    found = [json.loads(line) for path in (workspace.base / "runs" / summary["run_id"] / "spans").glob("*.jsonl")
             for line in path.read_text().splitlines()]
    calls = [span["attributes"] for span in found if span["attributes"].get("gen_ai.operation.name") == "chat"]
    assert len(calls) == 4 and sum(call["agentos.cost_usd"] for call in calls) == pytest.approx(totals["cost_usd"])
    steps = [span["attributes"] for span in found if span["name"] in ("step draft-1", "step review-1")]
    assert sum(step["agentos.cost_usd"] for step in steps) == pytest.approx(totals["cost_usd"])
    report = workspace.command(str(BIN / "agentos-jobs"), "report")
    assert show_cost(summary["items"][0]["cost_usd"]) in report.stdout and "COST" in report.stdout


def test_a_resumed_step_costs_nothing_and_an_unknown_model_says_unknown(workspace: Workspace,
                                                                      fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    fake.script(bad_request("openai"), role="reviewer", times=1)
    workspace.add_issue(1)
    first = workspace.doit("lld")
    assert first.returncode == 1
    assert workspace.summary()["totals"]["cost_usd"] is None  # gpt-test is in no price table: never $0
    assert workspace.summary()["items"][0]["cost_usd"] is None
    assert "unknown" in first.stdout
    add_settings(workspace, PRICES_TOML)
    second = workspace.doit("lld")
    assert second.returncode == 0, second.stdout
    row = workspace.summary()["items"][0]
    assert "[LLD-1] draft-1: resumed from checkpoint" in second.stdout
    one_call = cost_usd(TEST_PRICE, row["input_tokens"], row["cached_tokens"], row["output_tokens"])
    assert row["input_tokens"] == 100 and row["cost_usd"] == pytest.approx(one_call)  # the review only


def test_a_budget_over_ten_items_is_never_crossed_and_a_larger_one_finishes_them(workspace: Workspace,
                                                                               fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=3)
    add_settings(workspace, "max_tokens = 20\n" + PRICES_TOML)  # a call costs ~$0.11; its worst case ~$0.25
    for number in range(1, 11):
        workspace.add_issue(number)
    budget = 1.20
    first = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_MAX_COST": str(budget)})
    assert first.returncode == 1, first.stdout + first.stderr
    summary = workspace.summary()
    statuses = workspace.statuses()
    over = sorted(prefix for prefix, status in statuses.items() if status == "over-budget")
    assert over and set(statuses.values()) == {"done", "over-budget"}, [r["message"] for r in summary["items"]]
    assert summary["totals"]["cost_usd"] <= budget
    spend = read_spend(BaseDir(workspace.base).run(summary["run_id"]).budget)
    assert spend is not None and spend.spent <= budget and spend.held == 0
    assert spend.spent == pytest.approx(summary["totals"]["cost_usd"])
    assert all(f"lld_workflow_{p.split('-')[1]}.db" in workspace.checkpoints() for p in over)
    row = next(r for r in summary["items"] if r["status"] == "over-budget")
    assert "max_cost_usd=1.2, so it was not made; raise max_cost_usd" in row["message"]
    second = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_MAX_COST": "100"})
    assert second.returncode == 0, second.stdout + second.stderr
    assert set(workspace.statuses().values()) <= {"done", "up-to-date"}
    ok = [c for c in fake.calls if c.status == 200]
    # each item's draft and review paid once over both runs: nothing the first run paid for was asked again
    assert len([c for c in ok if c.role == "drafter"]) == 10 and len([c for c in ok if c.role == "reviewer"]) == 10


def test_a_budget_with_a_model_that_has_no_price_stops_the_run_before_it_starts(workspace: Workspace,
                                                                                 fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", AGENTOS_MAX_COST="1")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 3 and fake.calls == []
    assert result.stderr.startswith("agentos-jobs: error: model 'gpt-test' has no price, so max_cost_usd cannot be "
                                    "kept; add it to [tool.agentos_jobs.prices]")
    assert "Traceback" not in result.stderr


def test_a_cut_off_answer_is_billed_and_counted_though_the_item_fails(workspace: Workspace, fake: FakeLLM) -> None:
    """The provider bills an answer cut off at max_tokens like any other: the ledger and the spans count it."""
    use_provider(workspace, fake, "openai", keys=1)
    add_settings(workspace, "max_tokens = 20\n" + PRICES_TOML)
    fake.script(Reply(truncated=True), role="drafter", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"AGENTOS_MAX_COST": "5"})
    assert result.returncode == 1 and workspace.statuses() == {"LLD-1": "failed"}
    spend = read_spend(BaseDir(workspace.base).run(workspace.summary()["run_id"]).budget)
    one_call = cost_usd(TEST_PRICE, 100, 0, 20)  # what the fake server reports for every answer
    assert spend is not None and spend.held == 0 and spend.spent == pytest.approx(one_call)


BAD_USAGE = {"nan": Reply(usage={"completion_tokens": float("nan")}),
             "negative": Reply(usage={"prompt_tokens": -100_000_000}),
             "text": Reply(usage={"completion_tokens": "many"}),
             "missing": Reply(no_usage=True)}


@pytest.mark.parametrize("case", sorted(BAD_USAGE))
def test_usage_that_is_no_token_count_is_unknown_and_counted_at_its_worst_case(workspace: Workspace, fake: FakeLLM,
                                                                               case: str) -> None:
    """NaN, negative, text or missing usage: the paid answer is kept, its cost is unknown (never $0, a refund or
    NaN), said in one line, and the budget counts it at the worst case it held for it."""
    use_provider(workspace, fake, "openai", keys=1)
    add_settings(workspace, "max_tokens = 100\n" + PRICES_TOML)  # a call's worst case: ~$0.50 of output
    fake.script(BAD_USAGE[case], role="drafter", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"AGENTOS_MAX_COST": "5"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("reported usage that is no token count") == 1, result.stdout
    assert "the call's cost is unknown; counted at the worst case held for it against max_cost_usd=5" in result.stdout
    summary = workspace.summary()
    assert summary["items"][0]["cost_usd"] is None and "internal error" not in result.stdout
    spend = read_spend(BaseDir(workspace.base).run(summary["run_id"]).budget)
    worst = cost_usd(TEST_PRICE, 0, 0, 100)
    assert spend is not None and spend.unknown == 1 and spend.held == 0
    assert worst < spend.spent < worst + 2 * cost_usd(TEST_PRICE, 100, 0, 20)  # the draft's hold, and the review
    again = workspace.doit("lld", extra_env={"AGENTOS_MAX_COST": "5"})
    assert again.returncode == 0 and len(fake.calls) == 2  # the answer was kept: nothing is bought twice


def test_the_output_limit_the_budget_holds_is_sent_so_a_long_answer_cannot_cross_it(workspace: Workspace,
                                                                                    fake: FakeLLM) -> None:
    """A model that would write 30,000 tokens is stopped at max_tokens, which the budget held for the call."""
    use_provider(workspace, fake, "openai", keys=3)
    add_settings(workspace, "max_tokens = 100\n" + PRICES_TOML)
    fake.script(Reply(writes=30_000), role="drafter", times=-1)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_MAX_COST": "2"})
    assert result.returncode == 1 and set(workspace.statuses().values()) == {"failed"}
    assert "the answer was cut off at the token limit; raise max_tokens" in result.stdout
    assert {call.body.get("max_completion_tokens") for call in fake.calls} == {100}
    spend = read_spend(BaseDir(workspace.base).run(workspace.summary()["run_id"]).budget)
    assert spend is not None and spend.spent <= 2


def test_a_server_that_refuses_max_completion_tokens_is_sent_max_tokens(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    add_settings(workspace, "max_tokens = 100\n")
    fake.refuses = {"max_completion_tokens"}
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    answered = [call for call in fake.calls if call.status == 200]
    assert [call.role for call in answered] == ["drafter", "reviewer"]
    assert all(call.body.get("max_tokens") == 100 and "max_completion_tokens" not in call.body for call in answered)
    assert len(fake.calls_by(role="refused")) <= 2  # once per workflow process at most: then it is remembered


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_usage_that_is_no_token_count_from_the_other_providers(workspace: Workspace, fake: FakeLLM,
                                                               provider: str) -> None:
    """Anthropic's SDK passes text through: the answer is kept. google-genai refuses the whole answer: the item
    fails in one line naming the field, and the call is counted at its worst case."""
    use_provider(workspace, fake, provider, keys=1)
    model = MODELS[provider]
    add_settings(workspace, f'max_tokens = 100\n\n[tool.agentos_jobs.prices]\n"{model}" = '
                            "{ input = 100, cached_input = 10, output = 5000 }\n")
    field = "output_tokens" if provider == "anthropic" else "candidatesTokenCount"
    fake.script(Reply(usage={field: "many"}), role="drafter", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"AGENTOS_MAX_COST": "5"})
    spend = read_spend(BaseDir(workspace.base).run(workspace.summary()["run_id"]).budget)
    assert spend is not None and spend.unknown == 1 and spend.spent > cost_usd(TEST_PRICE, 0, 0, 100)
    if provider == "anthropic":
        assert result.returncode == 0 and "(output_tokens='many'): the call's cost is unknown" in result.stdout
    else:
        assert result.returncode == 1 and "internal error" not in result.stdout
        assert "the server's answer is not in Gemini's form (usage_metadata.candidatesTokenCount" in result.stdout
