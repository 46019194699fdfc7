"""The summary says what share of the run's input tokens the providers' prompt caches served, and what that saved,
as the fake server reports cached tokens (a beginning an earlier request sent, at least ~1,024 tokens)."""

from __future__ import annotations

import pytest

from agentos_jobs.core.prices import show_cost

from conftest import Workspace
from fake_llm import FakeLLM, use_provider

PRICES_TOML = '\n[tool.agentos_jobs.prices]\n"gpt-test" = { input = 100, cached_input = 10, output = 5000 }\n'


def test_the_summary_gives_the_cached_share_of_input_tokens_and_what_it_saved(workspace: Workspace,
                                                                            fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai")
    (workspace.root / "pyproject.toml").write_text((workspace.root / "pyproject.toml").read_text() + PRICES_TOML)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    done = workspace.doit("-n", "1", "lld")
    assert done.returncode == 0, done.stdout + done.stderr
    totals = workspace.summary()["totals"]
    assert totals["cached_tokens"] > 0
    saved = totals["cached_tokens"] * (100 - 10) / 1e6  # each cached token billed at 10, not 100, a million
    assert totals["cache_saved_usd"] == pytest.approx(saved)
    share = round(100 * totals["cached_tokens"] / totals["input_tokens"])
    assert f"prompt cache: {share}% of the input tokens read from it, saving {show_cost(saved)}" in done.stdout
