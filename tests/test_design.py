"""Designs a team would accept, shown through real runs against the local fake servers: no review is paid for a
draft that fails the gate and such a draft is never filed; structured verdicts in each wire format (and a reply
that ignores the schema); DISCUSS and BLOCKED; the review log; the template in force."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Workspace
from fake_llm import FakeLLM, Reply, bad_request, structured, use_provider

THIN = "# LLD: thin\n\n## 1. Context & Goal\nMake it better.\n\nVERDICT: APPROVED\n"
PROVIDERS = ["openai", "anthropic", "gemini"]


def lineage(ws: Workspace, number: int) -> list[str]:
    return sorted(p.name for p in (ws.root / f"docs/lineage/active/{number}-lld").iterdir())


def row(ws: Workspace) -> dict[str, Any]:
    return ws.summary()["items"][0]  # type: ignore[no-any-return]


def test_a_thin_draft_is_never_reviewed_nor_filed_however_lenient_the_reviewer(workspace: Workspace,
                                                                               fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(Reply(text=THIN), role="drafter", times=-1)
    fake.script(Reply(verdict=structured("APPROVED")), role="reviewer", times=-1)  # would approve anything
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(workspace)["status"] == "needs-revision"
    assert fake.calls_by(role="reviewer") == [] and len(fake.calls_by(role="drafter")) == 2
    assert not (workspace.root / "docs/lld/active/LLD-001.md").exists()
    assert lineage(workspace, 1) == ["000-context.md", "000-issue.md", "001-draft.md", "001-gate.md", "002-draft.md",
                                     "002-gate.md"]
    gate = (workspace.root / "docs/lineage/active/1-lld/001-gate.md").read_text()
    assert "- G1.1: section '1. Context & Goal'" not in gate and "section '3. Requirements' is missing" in gate
    assert "[LLD-1] gate 1: draft 1 failed " in result.stdout and "no review asked" in result.stdout
    revise = fake.calls_by(role="drafter")[1].body["messages"][-1]["content"]
    assert "A mechanical check rejected it before review:" in revise and "'3. Requirements' is missing" in revise


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_full_draft_is_reviewed_with_a_structured_verdict_and_filed_with_its_review_log(
        workspace: Workspace, fake: FakeLLM, provider: str) -> None:
    use_provider(workspace, fake, provider, keys=1)
    fake.script(Reply(verdict=structured("REVISE", ("blocking", "Retries are unbounded."),
                                         ("suggestion", "Name the module after the feature."))), role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[LLD-1] review 1: REVISE (2 finding(s), 1 blocking)" in result.stdout
    reviews, drafts = fake.calls_by(role="reviewer"), fake.calls_by(role="drafter")
    assert len(reviews) == 2 and len(drafts) == 2
    for call in reviews:  # every review asks for the verdict through the provider's own structured output
        if provider == "openai":
            fmt = call.body["response_format"]
            assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
            schema = fmt["json_schema"]["schema"]
        elif provider == "anthropic":
            assert call.body["tool_choice"] == {"type": "tool", "name": "review_verdict"}
            schema = call.body["tools"][0]["input_schema"]
        else:
            config = call.body["generationConfig"]
            assert config["responseMimeType"] == "application/json"
            schema = config.get("responseSchema") or config["responseJsonSchema"]
        assert json.dumps(schema).count("BLOCKED") == 1 and "findings" in json.dumps(schema)
    for call in drafts:  # a draft is Markdown: no schema asked
        assert not {"response_format", "tools", "tool_choice"} & set(call.body)
        assert "responseMimeType" not in call.body.get("generationConfig", {})
    revise = json.dumps(drafts[1].body)
    assert "R1.1 [blocking] Retries are unbounded." in revise and "R1.2 [suggestion]" in revise
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert "\nreviews: 2\n" in lld and "## Review Responses" not in lld  # the answers are in the log, not the design
    log = lld[lld.index("## Appendix: Review Log"):]
    confirmed = "YES - done as asked; review 2 did not reopen it"
    assert f"| R1.1 | blocking | Retries are unbounded. | {confirmed} |" in log
    assert f"| R1.2 | suggestion | Name the module after the feature. | {confirmed} |" in log
    assert "### Review 2: draft 2 (APPROVED)" in log and "| 1 | 1 | REVISE | 2 (1 blocking) |" in log
    verdict = (workspace.root / "docs/lineage/active/1-lld/001-verdict.md").read_text()
    assert verdict.startswith("# Review 1\n") and verdict.rstrip().endswith("VERDICT: REVISE")


def test_discuss_ends_the_item_needs_human_with_the_question_in_the_summary_and_the_log(workspace: Workspace,
                                                                                          fake: FakeLLM) -> None:
    use_provider(workspace, fake, "anthropic", keys=1)
    fake.script(Reply(verdict=structured("DISCUSS", ("high", "Should retries share one budget per host?"))),
                role="reviewer")
    workspace.add_issue(1)
    workspace.add_issue(2)
    result = workspace.doit("lld")
    assert result.returncode == 1, result.stdout + result.stderr
    statuses = workspace.statuses()
    assert sorted(statuses.values()) == ["done", "needs-human"]
    prefix = next(p for p, s in statuses.items() if s == "needs-human")
    message = next(r["message"] for r in workspace.summary()["items"] if r["prefix"] == prefix)
    assert message.startswith("review 1 asks a person to decide: Should retries share one budget per host?")
    assert "Should retries share one budget per host?" in result.stdout[result.stdout.index("agentos-jobs run"):]
    log = (workspace.base / "logs/parallel" / workspace.summary()["run_id"] / f"{prefix}.log").read_text()
    assert f"[{prefix}] review 1: DISCUSS: Should retries share one budget per host?" in log
    assert "1 needs-human" in result.stdout and len(fake.calls_by(role="reviewer")) == 2


def test_blocked_fails_the_item_with_the_reason(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "gemini", keys=1)
    fake.script(Reply(verdict=structured("BLOCKED", ("blocking", "The issue asks to store passwords in clear."))),
                role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 1
    assert row(workspace)["status"] == "failed"
    assert row(workspace)["message"].startswith("review 1 BLOCKED it: The issue asks to store passwords in clear.")
    assert not (workspace.root / "docs/lld/active/LLD-001.md").exists() and len(fake.calls_by(role="drafter")) == 1


APPROVED_AS_TEXT = "All good.\n\n- [suggestion] a shorter name\n\n**VERDICT:** APPROVED\n"
FENCED_APPROVED = "```json\n{\"verdict\": \"APPROVED\", \"findings\": []}\n```"
ASKED = {"openai": "response_format", "anthropic": "tool_choice", "gemini": "responseMimeType"}


@pytest.mark.parametrize("provider, reply, status, reviews", [
    ("openai", APPROVED_AS_TEXT, "done", 2),  # a prose approval is asked again: the JSON it gets approves
    ("openai", "Looks fine to me.\n", "done", 2),  # no verdict at all: asked again too
    ("openai", "- [blocking] the retry loop has no bound\n\nVERDICT: REVISE\n", "needs-revision", 1),  # a refusal
    ("openai", FENCED_APPROVED + "\n\nVERDICT: REVISE\n", "done", 2),  # two verdicts that disagree
    ("anthropic", APPROVED_AS_TEXT, "done", 2),  # a text block where the tool was asked for
    ("anthropic", "VERDICT: REVISE\n\nBound the retry loop.\n", "needs-revision", 1),
    ("gemini", APPROVED_AS_TEXT, "done", 2),  # plain text where JSON was asked for
    ("gemini", "Looks fine to me.\n", "done", 2),
])
def test_a_reply_that_ignores_the_schema_may_refuse_and_is_otherwise_asked_again(
        workspace: Workspace, fake: FakeLLM, provider: str, reply: str, status: str, reviews: int) -> None:
    use_provider(workspace, fake, provider, keys=1, AGENTOS_MAX_ITERATIONS="1")
    fake.script(Reply(text=reply), role="reviewer")  # then the fake's default: the schema's JSON, APPROVED
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert row(workspace)["status"] == status, result.stdout
    assert len(fake.calls_by(role="reviewer")) == reviews
    assert ASKED[provider] in json.dumps(fake.calls_by(role="reviewer")[0].body)  # asked, and ignored by the server


def test_the_gate_is_a_checkpointed_step_a_resumed_item_does_not_redo(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    fake.script(bad_request("openai"), role="reviewer")
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 1
    (workspace.root / "pyproject.toml").rename(workspace.root / "moved.toml")  # the draft's Modify path is gone
    again = workspace.doit("lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[LLD-1] gate-1: resumed from checkpoint" in again.stdout and "[LLD-1] review-1: done" in again.stdout


def test_the_offline_stand_in_keeps_tables_passes_the_gate_and_says_what_it_is(workspace: Workspace) -> None:
    table = "| field | type |\n|-------|------|\n| id | int |"
    workspace.add_issue(3, body=f"Store the records.\n\n{table}\n\nThe code is in `dodo.py`.")
    workspace.write("ideas/active/faster-ci.md", "# Faster CI\n\nCI takes 20 minutes.\n")  # no criteria yet
    result = workspace.doit("lld", "issue")
    assert result.returncode == 0, result.stdout
    assert "[LLD-3] review 1: APPROVED" in result.stdout and "[LLD-3] gate 1: draft 1 failed" not in result.stdout
    assert "[ISSUE-faster-ci] gate 1: draft 1 failed" in result.stdout
    lld = (workspace.root / "docs/lld/active/LLD-003.md").read_text()
    assert table in lld and "| `dodo.py` | Modify |" in lld and "## 11. Definition of Done" in lld
    assert "## Appendix: Review Log" in lld
    written = [path for folder in ("docs/lld", "docs/lineage", "docs/issues/drafts") for path in
               (workspace.root / folder).rglob("*") if path.is_file()]
    assert {"000-context.md", "001-gate.md", "LLD-003.md"} <= {path.name for path in written}
    for path in written:  # the input's copy is the user's own text, the same whoever drafts
        assert "offline stand-in" in path.read_text() or path.name in ("000-issue.md", "000-brief.md"), path


def test_a_repositorys_own_template_and_rubric_are_what_the_models_see(workspace: Workspace, fake: FakeLLM) -> None:
    workspace.write("docs/design-template.md", "# Design\n\n## Goal\n*Why.*\n\n## Rollout\n*How it ships.*\n")
    workspace.write("docs/rubric.md", "RUBRIC-OF-THIS-REPO: blocking means unsafe.\n")
    with (workspace.root / "pyproject.toml").open("a") as toml:
        toml.write('lld_template = "docs/design-template.md"\nlld_rubric = "docs/rubric.md"\n')
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="1")
    fake.script(Reply(text="# D\n\n## Goal\nFaster.\n\n## Rollout\nBehind a flag.\n"), role="drafter")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    draft, review = (json.dumps(c.body) for c in fake.calls)
    assert "## Rollout" in draft and "Verification" not in draft and "RUBRIC-OF-THIS-REPO" in review
    (workspace.root / "docs/rubric.md").unlink()
    workspace.add_issue(2)
    refused = workspace.doit("lld")
    assert refused.returncode == 3 and "lld_rubric = 'docs/rubric.md' is not a file" in refused.stdout + refused.stderr


ISSUE_DRAFT = ("# Faster CI\n\n## Problem\nCI takes 20 minutes on every push.\n\n## Proposal\nCache the "
               "dependencies between runs.\n\n## Acceptance criteria\n- [ ] a push with unchanged dependencies "
               "finishes CI in under 8 minutes\n- [ ] a changed lock file rebuilds the cache\n\n## Out of scope\n"
               "Test sharding.\n")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_issue_workflow_gates_its_draft_asks_a_structured_verdict_and_files_it(workspace: Workspace,
                                                                                  fake: FakeLLM,
                                                                                  provider: str) -> None:
    use_provider(workspace, fake, provider, keys=1)
    fake.script(Reply(text=ISSUE_DRAFT.replace("- [ ]", "-")), role="drafter", times=1)  # criteria, no checklist
    fake.script(Reply(text=ISSUE_DRAFT), role="drafter", times=1)
    workspace.write("ideas/active/faster-ci.md", "# Faster CI\n\nCI is slow.\n")
    result = workspace.doit("issue")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ISSUE-faster-ci] gate 1: draft 1 failed" in result.stdout  # and no review was paid for it
    reviews = fake.calls_by(role="reviewer")
    assert len(reviews) == 1 and ASKED[provider] in json.dumps(reviews[0].body)
    assert (workspace.root / "docs/issues/drafts/faster-ci.md").read_text().startswith(ISSUE_DRAFT.rstrip())


def test_an_issue_draft_that_fails_the_gate_is_never_reviewed_nor_filed(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(Reply(text=ISSUE_DRAFT.replace("- [ ]", "- [ ] TBD\n-")), role="drafter")
    fake.script(Reply(text="VERDICT: APPROVED\n"), role="reviewer")  # a lenient reviewer, never asked
    workspace.write("ideas/active/faster-ci.md", "# Faster CI\n\nCI is slow.\n")
    result = workspace.doit("issue")
    assert result.returncode == 1 and workspace.statuses() == {"ISSUE-faster-ci": "needs-revision"}
    assert fake.calls_by(role="reviewer") == [] and not (workspace.root / "docs/issues/drafts").exists()
