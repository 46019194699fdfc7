"""Verdicts fail closed and reviews check the fixes, shown through real runs against the local fake servers with
scripted reviewers: every way a refusal has been seen to pass for an approval ends an item anything but `done`;
a reply that cannot be read is asked again once (a step like any other), then left to a person; each review
after the first is shown the previous findings with the drafter's answers, and a blocking finding reopened twice
running stops the rounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentos_jobs.core.errors import UnreadableReview
from agentos_jobs.design.offline import review_lld
from agentos_jobs.design.prompts import ISSUE, LLD, json_shape
from agentos_jobs.design.verdict import SCHEMA, Finding, parse_verdict

from conftest import Workspace
from fake_llm import FakeLLM, Reply, structured, use_provider

RETRIES = "The retry loop has no bound."

# The shapes of issue 19, each seen to end `done` and filed as APPROVED: replies a server sends whatever it was
# asked (`text`), and JSON a structured answer carries (`verdict`).
QUOTED = (f"I would not approve this design as it stands. {RETRIES}\n\nA lenient reviewer would write:\n\n"
          "> Verdict: APPROVED\n\nbut not before the loop is bounded.\n")
CONDITIONS = f"VERDICT: APPROVED WITH CONDITIONS\n\nMust fix before merging:\n1. {RETRIES}\n2. Test the timeout.\n"
SEVERITY = {"verdict": "APPROVED", "findings": [{"severity": "blocking", "description": RETRIES}]}
P0 = {"verdict": "APPROVED", "findings": [{"id": "1", "tier": "P0", "text": RETRIES}]}
OPEN_HIGH = structured("APPROVED", ("high", RETRIES))
TWO_VERDICTS = (f'Here is my review: {{"verdict": "REVISE", "findings": [{{"id": "1", "tier": "blocking", '
                f'"text": "{RETRIES}"}}]}}\n\nVERDICT: APPROVED\n')
BLOCKING_HEADING = f"VERDICT: APPROVED\n\n## Blocking\n\n1. {RETRIES}\n2. Secrets reach the log.\n"
# ... and more of the same kind.
CONDITIONS_KEY = {"verdict": "APPROVED", "findings": [], "conditions": [RETRIES]}
STRING_FINDING = {"verdict": "APPROVED", "findings": [RETRIES]}
NO_TIER = {"verdict": "APPROVED", "findings": [{"comment": RETRIES}]}
MEDIUM = {"verdict": "approved", "findings": [{"priority": "medium", "issue": RETRIES}]}
OFF_ENUM = {"verdict": "APPROVED_WITH_CHANGES", "findings": [{"id": "1", "tier": "blocking", "text": RETRIES}]}
CHECKED_BOX = f"- [x] **APPROVED**\n- [ ] **REVISE**\n\nOnce this is fixed: {RETRIES}\n"
TWO_FENCES = (f'```json\n{json.dumps(structured("REVISE", ("blocking", RETRIES)))}\n```\n\nOn reflection:\n\n'
              f'```json\n{json.dumps(structured("APPROVED"))}\n```\n')


def reply(shape: str | dict[str, Any]) -> Reply:
    return Reply(text=shape) if isinstance(shape, str) else Reply(verdict=shape)


def row(ws: Workspace) -> dict[str, Any]:
    return ws.summary()["items"][0]  # type: ignore[no-any-return]


def lineage_file(ws: Workspace, name: str) -> str:
    return (ws.root / "docs/lineage/active/1-lld" / name).read_text()


@pytest.mark.parametrize("shape", [QUOTED, CONDITIONS, TWO_VERDICTS, BLOCKING_HEADING, CONDITIONS_KEY, OFF_ENUM,
                                   CHECKED_BOX, TWO_FENCES],
                         ids=["quoted", "conditions", "two-verdicts", "blocking-heading", "conditions-key",
                              "off-enum", "checked-box", "two-fences"])
def test_a_reply_that_does_not_keep_to_the_schema_is_asked_again_once_then_left_to_a_person(
        workspace: Workspace, fake: FakeLLM, shape: str | dict[str, Any]) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    fake.script(reply(shape), role="reviewer", times=-1)
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(workspace)["status"] == "needs-human"
    assert row(workspace)["message"].startswith("review 1 could not be read, even when asked again: ")
    assert not (workspace.root / "docs/lld/active/LLD-001.md").exists()
    reviews = fake.calls_by(role="reviewer")
    assert len(reviews) == 2 and len(fake.calls_by(role="drafter")) == 1  # one repair, then no more rounds
    repair = reviews[1].body["messages"][-1]["content"]
    assert "Your previous answer could not be used: " in repair and RETRIES in repair
    assert reviews[1].body["response_format"] == reviews[0].body["response_format"]  # the schema, asked again
    if isinstance(shape, str):  # both replies are kept as they came
        assert lineage_file(workspace, "001-verdict.md") == shape
        assert lineage_file(workspace, "001-verdict-repair.md") == shape
    assert "review 1: the reply cannot be used (" in result.stdout and "asking again" in result.stdout


def test_a_review_left_to_a_person_is_not_paid_for_again_on_the_next_run(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    fake.script(Reply(text=CONDITIONS), role="reviewer", times=-1)
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 1
    again = workspace.doit("lld")
    assert again.returncode == 1 and row(workspace)["status"] == "needs-human"
    assert "[LLD-1] review-1-repair: resumed from checkpoint" in again.stdout
    assert "'doit clean lld:1'" in row(workspace)["message"]  # the way to be asked afresh: the run replays both
    assert len(fake.calls_by(role="reviewer")) == 2 and len(fake.calls_by(role="drafter")) == 1


@pytest.mark.parametrize("shape, tier", [(SEVERITY, "blocking"), (P0, "blocking"), (OPEN_HIGH, "high"),
                                         (STRING_FINDING, "blocking"), (NO_TIER, "blocking"), (MEDIUM, "high")],
                         ids=["severity-description", "p0", "open-high", "string-finding", "no-tier", "medium"])
def test_an_approval_with_an_open_blocking_or_high_finding_in_any_common_shape_is_a_revise(
        workspace: Workspace, fake: FakeLLM, shape: dict[str, Any], tier: str) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(reply(shape), role="reviewer", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"review 1: REVISE (1 finding(s), 1 {tier}; the reviewer said APPROVED over them)" in result.stdout
    assert len(fake.calls_by(role="reviewer")) == 2  # read at once: no repair asked
    revise = fake.calls_by(role="drafter")[1].body["messages"][-1]["content"]
    assert f"- R1.1 [{tier}] {RETRIES}" in revise  # the finding reaches the drafter, never dropped
    verdict = lineage_file(workspace, "001-verdict.md")
    assert f"| R1.1 | {tier} | {RETRIES} |" in verdict and "Read as: REVISE" in verdict
    log = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert "### Review 1: draft 1 (REVISE)" in log and "| 1 | 1 | REVISE (said APPROVED) |" in log


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_prose_approval_is_repaired_in_each_wire_format_and_the_repair_is_a_priced_step(
        workspace: Workspace, fake: FakeLLM, provider: str) -> None:
    use_provider(workspace, fake, provider, keys=1)
    fake.script(Reply(text="All good.\n\n**VERDICT:** APPROVED\n"), role="reviewer", times=1)
    fake.script(Reply(verdict=structured("REVISE", ("blocking", RETRIES))), role="reviewer", times=1)
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[LLD-1] review-1-repair: done" in result.stdout
    assert "[LLD-1] review 1: REVISE (1 finding(s)" in result.stdout
    assert len(fake.calls_by(role="reviewer")) == 3 and len(fake.calls_by(role="drafter")) == 2
    assert "Your previous answer could not be used: an approval counts only as the JSON object" in \
        json.dumps(fake.calls_by(role="reviewer")[1].body)
    assert row(workspace)["input_tokens"] == 5 * 100  # draft, review, repair, revision, review: each one paid
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert f"| R1.1 | blocking | {RETRIES} |" in lld  # the log has the review the repair gave
    assert lineage_file(workspace, "001-verdict.md") == "All good.\n\n**VERDICT:** APPROVED\n"


def findings(*items: tuple[str, str, str]) -> dict[str, Any]:
    """A REVISE with findings as (tier, text, reopens)."""
    return {"verdict": "REVISE", "findings": [{"id": str(n), "tier": tier, "text": text, "reopens": reopens}
                                              for n, (tier, text, reopens) in enumerate(items, 1)]}


def test_each_review_after_the_first_is_shown_the_previous_findings_and_the_answers(workspace: Workspace,
                                                                                   fake: FakeLLM) -> None:
    use_provider(workspace, fake, "anthropic", keys=1)
    fake.script(Reply(verdict=findings(("blocking", RETRIES, ""), ("suggestion", "Name it after the feature.", ""))),
                role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = (call.body["messages"][-1]["content"] for call in fake.calls_by(role="reviewer"))
    assert "previous review's findings" not in json.dumps(first)
    second_text = json.dumps(second)
    assert f"- R1.1 [blocking] {RETRIES}\\n  The drafter: addressed \\u2014 done as asked" in second_text
    assert "- R1.2 [suggestion] Name it after the feature.\\n  The drafter: addressed" in second_text
    assert "## Review Responses" not in second_text  # the answers come once, beside their findings
    schema = fake.calls_by(role="reviewer")[1].body["tools"][0]["input_schema"]
    assert "reopens" in schema["properties"]["findings"]["items"]["required"]


def test_a_blocking_finding_reopened_twice_running_ends_the_item_needs_human_naming_it(workspace: Workspace,
                                                                                      fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="6")
    fake.script(Reply(verdict=findings(("blocking", RETRIES, ""))), role="reviewer")
    fake.script(Reply(verdict=findings(("suggestion", "Shorter names.", ""), ("blocking", "Still unbounded.", "R1.1"))),
                role="reviewer")
    fake.script(Reply(verdict=findings(("blocking", "Still unbounded: no cap.", "r2.2"))), role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(workspace)["status"] == "needs-human"
    assert row(workspace)["message"].startswith("review 3 reopened blocking finding R1.1 for the second review "
                                                "running (now R3.1): Still unbounded: no cap.")
    assert len(fake.calls_by(role="reviewer")) == 3 and len(fake.calls_by(role="drafter")) == 3  # not 6 of each
    revise = fake.calls_by(role="drafter")[2].body["messages"][-1]["content"]
    assert "- R2.2 [blocking] (reopens R1.1) Still unbounded." in revise


def test_a_finding_reopened_once_then_fixed_is_logged_as_it_went(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "gemini", keys=1, AGENTOS_MAX_ITERATIONS="4")
    fake.script(Reply(verdict=findings(("blocking", RETRIES, ""), ("suggestion", "Shorter names.", ""))),
                role="reviewer")
    fake.script(Reply(verdict=findings(("blocking", "Still unbounded.", "R1.1"))), role="reviewer")
    fake.script(Reply(verdict=findings(("blocking", "A new hole.", ""))), role="reviewer")  # not a reopen
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    lld = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    log = lld[lld.index("## Appendix: Review Log"):]
    assert (f"| R1.1 | blocking | {RETRIES} | NO - reopened by review 2 as R2.1 (the draft said: done as asked) |"
            in log)
    assert "| R1.2 | suggestion | Shorter names. | YES - done as asked; review 2 did not reopen it |" in log
    assert ("| R2.1 | blocking | (reopens R1.1) Still unbounded. | YES - done as asked; review 3 did not reopen it |"
            in log)
    assert "| 2 | 2 | REVISE | 1 (1 blocking, 1 reopened) |" in log and "| 4 | 4 | APPROVED | 0 |" in log


@pytest.mark.parametrize("review, verdict, approved", [
    ('{"verdict": "APPROVED", "findings": []}', "APPROVED", True),
    ('```json\n{"verdict": "APPROVED", "findings": [{"tier": "nit", "text": "a name"}]}\n```', "APPROVED", True),
    ('{"verdict": "APPROVED", "findings": [{"level": "critical", "text": "x"}]}', "APPROVED", False),
    ("- [blocking] unbounded\n\nVERDICT: REVISE", "REVISE", False),
    ("VERDICT: DISCUSS\n\n- [high] Which store?", "DISCUSS", False),
])
def test_what_a_review_says(review: str, verdict: str, approved: bool) -> None:
    read = parse_verdict(review, 1)
    assert (read.verdict, read.approved) == (verdict, approved)


@pytest.mark.parametrize("review", [
    "Looks good.\n\nVERDICT: APPROVED\n", "**Verdict:** **APPROVED**", "- [x] **APPROVED**\n- [ ] **REVISE**",
    "VERDICT: APPROVED\n...\nVERDICT: REVISE", "- [ ] **APPROVED**", "approved", "", "The design is not APPROVED yet.",
    "VERDICT: LGTM", '{"verdict": "APPROVED"}', '{"verdict": "APPROVED", "findings": [{"tier": "high"}]}',
    '{"verdict": "APPROVED", "findings": [], "summary": "I would not approve this."}', "[1, 2]",
])
def test_what_is_never_read_as_a_review(review: str) -> None:
    with pytest.raises(UnreadableReview):
        parse_verdict(review, 1)


def test_a_reopen_names_a_finding_of_the_previous_review_or_none() -> None:
    earlier = (Finding("R1.1", "blocking", "x"), Finding("R1.2", "high", "y"))
    review = json.dumps(findings(("blocking", "a", "1.2"), ("high", "b", "R7.1"), ("high", "c", "R1.1")))
    assert [f.reopens for f in parse_verdict(review, 2, earlier).findings] == ["R1.2", "", "R1.1"]


def test_the_offline_reviewer_answers_in_the_schema() -> None:
    review = review_lld("# LLD\n\n### Open Questions\n- [ ] Which store?\n\n## 3. Requirements\nNone.\n")
    read = parse_verdict(review, 1)
    assert read.structured and read.verdict == "REVISE" and len(read.blocking) == 2
    properties = set(SCHEMA["properties"]["findings"]["items"]["properties"])
    assert all(set(item) == properties for item in json.loads(review)["findings"])


def test_a_finding_that_reopens_a_blocking_or_high_one_keeps_at_least_its_tier() -> None:
    earlier = (Finding("R1.1", "blocking", "unbounded"), Finding("R1.2", "high", "untested"),
               Finding("R1.3", "suggestion", "names"))
    review = json.dumps({"verdict": "APPROVED", "findings": [
        {"tier": "suggestion", "text": "still broken", "reopens": "R1.1"},
        {"tier": "suggestion", "text": "still untested", "reopens": "R1.2"},
        {"tier": "suggestion", "text": "still long", "reopens": "R1.3"}]})
    read = parse_verdict(review, 2, earlier)
    assert [f.tier for f in read.findings] == ["blocking", "high", "suggestion"]
    assert not read.approved and read.outcome == "REVISE"


def test_an_approval_that_reopens_a_blocking_finding_as_a_suggestion_is_not_filed(workspace: Workspace,
                                                                                  fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(Reply(verdict=findings(("blocking", RETRIES, ""))), role="reviewer")
    fake.script(Reply(verdict={**findings(("suggestion", "Still broken.", "R1.1")), "verdict": "APPROVED"}),
                role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert row(workspace)["status"] == "needs-revision", result.stdout + result.stderr
    assert "review 2: REVISE (1 finding(s), 1 blocking; the reviewer said APPROVED over them)" in result.stdout
    assert not (workspace.root / "docs/lld/active/LLD-001.md").exists()
    assert "| R2.1 | blocking | (reopens R1.1) Still broken. |" in lineage_file(workspace, "002-verdict.md")


@pytest.mark.parametrize("review", [
    '{"verdict": "REVISE", "findings": [], "verdict": "APPROVED"}',
    '```json\n{"verdict": "REVISE", "findings": [], "verdict": "APPROVED"}\n```',
    '{"verdict": "APPROVED", "findings": [{"tier": "blocking", "text": "x", "tier": "suggestion"}]}',
])
def test_a_reply_that_gives_a_key_twice_is_not_read(review: str) -> None:
    with pytest.raises(UnreadableReview, match="more than once"):
        parse_verdict(review, 1)


def test_a_finding_given_two_tiers_is_read_as_the_most_severe() -> None:
    review = json.dumps({"verdict": "APPROVED", "findings": [{"tier": "suggestion", "severity": "blocking",
                                                              "text": RETRIES}]})
    read = parse_verdict(review, 1)
    assert [f.tier for f in read.findings] == ["blocking"] and not read.approved


LONE = "Emoji cut in half: \ud83d."  # a lone surrogate: no UTF-8 file can hold it as it is


@pytest.mark.parametrize("shape", [
    Reply(text=json.dumps(findings(("blocking", LONE, "")))),  # `\ud83d` in the reviewer's JSON text
    Reply(verdict=findings(("blocking", LONE, ""))),  # the same, as the provider's structured answer
    Reply(text=f"VERDICT: REVISE\n\n- [blocking] {LONE}\n"),  # the server's JSON escapes it: the answer holds it
], ids=["in-the-reviewers-json", "structured", "in-prose"])
def test_a_lone_surrogate_in_a_review_is_written_replaced_and_the_review_is_paid_once(
        workspace: Workspace, fake: FakeLLM, shape: Reply) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(shape, role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.returncode == 0 and row(workspace)["status"] == "done", result.stdout + result.stderr
    assert "Emoji cut in half: \ufffd." in lineage_file(workspace, "001-verdict.md")
    assert "Emoji cut in half: \ufffd." in (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert len(fake.calls_by(role="reviewer")) == 2  # the review and the second round's: neither asked twice


def test_the_reviewer_is_shown_the_shape_of_the_schema_it_is_held_to() -> None:
    shape = json_shape(SCHEMA)
    assert shape == ('{"verdict": "APPROVED" | "REVISE" | "DISCUSS" | "BLOCKED", "findings": [{"id": "...", "tier": '
                     '"blocking" | "high" | "suggestion", "text": "...", "reopens": "..."}]}')
    assert shape in LLD.reviewer and shape in ISSUE.reviewer
    tiers = SCHEMA["properties"]["findings"]["items"]["properties"]["tier"]
    changed = {**SCHEMA, "properties": {**SCHEMA["properties"], "findings": {"type": "array", "items": {
        "type": "object", "properties": {"tier": {**tiers, "enum": ["blocking", "low"]}}}}}}
    assert json_shape(changed).endswith('"findings": [{"tier": "blocking" | "low"}]}')  # made from it, not beside it


def test_the_offline_reviewer_reads_questions_and_requirements_as_the_gate_does() -> None:
    draft = ("# LLD\n\n## Open Questions\n* [ ] Which store?\n- [x] Which clock? **The system's.**\n\n"
             "## 3. Requirements\n1. it works\n2. it is tested\n")
    read = parse_verdict(review_lld(draft), 1)
    assert [f.text for f in read.findings] == ["Open question unanswered: Which store? Answer it or record an "
                                               "assumption."]
