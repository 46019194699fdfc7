"""The mechanical gate, checked on drafts in a real directory: what it refuses, and that a well-formed draft of
the built-in template (the offline stand-in's, or one a model would write) passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from gate_corpus import DESIGNS

from agentos_jobs.core.errors import ConfigError
from agentos_jobs.core.settings import load_settings
from agentos_jobs.design.gate import check_issue, check_lld, unresolved_questions
from agentos_jobs.design.offline import draft_issue, draft_lld
from agentos_jobs.design.template import load_template, parse_template
from agentos_jobs.design.verdict import Finding
from agentos_jobs.items.discovery import Document

from conftest import Workspace
from fake_llm import FakeLLM, Reply, full_draft, structured, use_provider

ISSUE = Document(title="Weighted scores", number=4, body=(
    "Scores should weigh answers. The report in `src/report.py` prints them, a new `src/weights.py` holds them.\n\n"
    "| answer | weight |\n|---|---|\n| yes | 2 |\n\n## Acceptance criteria\n- [ ] weights apply\n- [ ] the report "
    "shows them\n"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/report.py").write_text("print('report')\n")
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def lld_gate(draft: str, root: Path, findings: tuple[Finding, ...] = ()) -> list[str]:
    return check_lld(draft, load_template(load_settings(root, {}), "lld"), root, findings)


def test_a_full_draft_and_the_offline_draft_of_a_well_formed_issue_pass(repo: Path, monkeypatch: pytest.MonkeyPatch
                                                                        ) -> None:
    assert lld_gate(full_draft("Weighted scores"), repo) == []
    monkeypatch.chdir(repo)  # the stand-in marks a named file Modify when it exists, as workflows run in the root
    template = load_template(load_settings(repo, {}), "lld").text
    draft = draft_lld(ISSUE, "4", template)
    assert lld_gate(draft, repo) == []
    assert "| `src/report.py` | Modify |" in draft and "| `src/weights.py` | Add |" in draft
    assert "| answer | weight |\n|---|---|\n| yes | 2 |" in draft  # the issue's table, as it was written
    assert "| 010 | REQ-1 | weights apply |" in draft and "| 020 | REQ-2 | the report shows them |" in draft


def test_a_missing_section_and_one_holding_only_the_templates_text(repo: Path) -> None:
    draft = full_draft().replace("## 8. Performance\nOne pass.\n", "").replace(
        "Plain functions.", "*The module it lives in, the pattern it follows, and the key decisions with their "
                            "reasons.*")
    assert lld_gate(draft, repo) == [
        "section '2.6 Technical Approach' is empty (it holds only placeholders or the template's own text)",
        "section '8. Performance' is missing"]


def test_a_heading_spelled_another_way_is_the_same_section(repo: Path) -> None:
    draft = full_draft().replace("## 9. Risks & Mitigations", "### 9 Risks and mitigations:")
    assert lld_gate(draft, repo) == []


@pytest.mark.parametrize("row, said", [
    ("| `src/missing.py` | Modify | x |", "`src/missing.py` is marked Modify but does not exist in the repository"),
    ("| src/gone.py | Delete | x |", "`src/gone.py` is marked Delete but does not exist in the repository"),
    ("| `src/report.py` | Add | x |", "`src/report.py` is marked Add but already exists in the repository"),
    ("| `path/to/module.py` | Add | x |", "`path/to/module.py` in the files-changed table is a placeholder"),
    ("| TBD | Add | x |", "`TBD` in the files-changed table is a placeholder"),
    ("| `src/...` | Modify | x |", "`src/...` in the files-changed table is a placeholder"),
    ("| `../other/repo.py` | Modify | x |", "`../other/repo.py` in the files-changed table is outside the repository"),
    ("| `src/report.py` | Rename | x |", "`src/report.py`: change type 'Rename' is not Add, Modify or Delete"),
])
def test_files_changed_paths_are_checked_against_the_repository(repo: Path, row: str, said: str) -> None:
    draft = full_draft().replace("| `pyproject.toml` | Modify | Registers it |", row)
    found = lld_gate(draft, repo)
    assert len(found) == 1 and found[0].startswith(said), found


def test_a_table_in_a_code_block_is_not_checked(repo: Path) -> None:
    draft = full_draft().replace("None.\n\n## 2. Proposed", "None.\n\n```\n| File | Change |\n|---|---|\n"
                                                          "| `nowhere.py` | Modify |\n```\n\n## 2. Proposed")
    assert lld_gate(draft, repo) == []


def test_requirements_need_an_id_and_a_test_scenario(repo: Path) -> None:
    draft = full_draft().replace("2. **REQ-2:** it is tested", "2. **REQ-2:** it is tested\n- it is fast\n"
                                 "4. **REQ-4:** it is documented").replace("| 010 | REQ-1 |", "| 010 | REQ-1, REQ-7 |")
    assert lld_gate(draft, repo) == [
        "requirement 'it is fast' has no id: name it REQ-<n>, or number the list",
        "REQ-4 is proved by no test scenario: add a row naming it to the test-scenario table",
        "a test scenario names REQ-7, which is not a requirement"]


def test_a_revision_answers_every_open_finding_by_id(repo: Path) -> None:
    findings = (Finding("R1.1", "blocking", "x"), Finding("R1.2", "suggestion", "y"))
    answered = full_draft(prompt="R1.1 R1.2")
    assert lld_gate(answered, repo, findings) == []
    one = answered.replace("- R1.2: addressed — done as asked\n", "")
    assert lld_gate(one, repo, findings) == ["review finding R1.2 is not answered: add '- R1.2: addressed — how' or "
                                             "'- R1.2: not addressed — why' under '## Review Responses'"]


def test_a_repositorys_own_template_is_what_the_gate_requires(repo: Path) -> None:
    template = parse_template("# Design\n\n## Goal\n*Why.*\n\n## Rollout\n*How it ships.*\n", "docs/t.md")
    assert check_lld("# D\n\n## Goal\nFaster.\n\n## Rollout\n*How it ships.*\n", template, repo, ()) == [
        "section 'Rollout' is empty (it holds only placeholders or the template's own text)"]
    assert check_lld("# D\n\n## Goal\nFaster.\n\n## Rollout\nBehind a flag.\n", template, repo, ()) == []
    with pytest.raises(ConfigError, match="no '## ' section headings"):
        parse_template("# Only a title\n\nText.\n", "docs/t.md")


@pytest.mark.parametrize("criteria, said", [
    ("- [ ] a 503 is retried five times", []),
    ("The brief gives none.", ["the acceptance criteria hold no '- [ ]' checklist item"]),
    ("- it is retried", ["acceptance criterion '- it is retried' is not a '- [ ]' checklist item"]),
    ("- [ ] TBD", ["section 'Acceptance criteria' is empty (it holds only placeholders or the template's own text)",
                   "acceptance criterion 'TBD' is a placeholder, not a testable outcome"]),
    ("- [ ] (write one)", ["acceptance criterion '(write one)' is a placeholder, not a testable outcome"]),
])
def test_an_issues_acceptance_criteria_are_testable_checklist_items(repo: Path, criteria: str, said: list[str]
                                                                    ) -> None:
    template = load_template(load_settings(repo, {}), "issue")
    draft = (f"# T\n\n## Problem\nSlow.\n\n## Proposal\nCache.\n\n## Acceptance criteria\n{criteria}\n\n"
             "## Out of scope\nNo.\n")
    assert check_issue(draft, template, ()) == said
    brief = Document(title="Faster CI", body="CI is slow.")
    assert check_issue(draft_issue(brief, template.text), template, ()) == [
        "the acceptance criteria hold no '- [ ]' checklist item"]
    assert check_issue(draft_issue(brief, template.text, revised=True), template, ()) == []


def test_a_section_is_found_by_its_title_whatever_follows_or_by_its_number(repo: Path) -> None:
    draft = (full_draft().replace("### 2.5 Logic Flow", "### 2.5 Logic Flow (Pseudocode)")
             .replace("## 7. Security", "## 7. Security Considerations")
             .replace("### 10.2 Manual Tests\nNone.", "### 10.2 Test Commands\n`pytest`\n\n"
                      "### 10.3 Manual Tests (Only If Unavoidable)\nN/A - All scenarios automated.")
             .replace("## 8. Performance", "## 8. Budgets"))  # renamed: found by its top-level number
    assert lld_gate(draft, repo) == []
    gone = draft.replace("### 10.3 Manual Tests (Only If Unavoidable)\nN/A - All scenarios automated.", "")
    assert lld_gate(gone, repo) == ["section '10.2 Manual Tests' is missing"]  # not '10.2 Test Commands'


def test_a_repositorys_template_with_a_review_log_appendix_is_met_word_for_word(repo: Path) -> None:
    text = ("# {IssueID} - Feature: {Title}\n\n## 1. Context\n*Why.*\n\n## 2. Design\n*What.*\n\n"
            "## Appendix A: Glossary\n*Terms.*\n\n## Appendix: Review Log\n*Filled by the workflow.*\n\n"
            "### {Reviewer} Review #{N} ({VERDICT})\n\n#### Comments\n\n### Review Summary\n")
    template = parse_template(text, "docs/templates/lld.md")
    assert [s.title for s in template.sections] == ["1. Context", "2. Design", "Appendix A: Glossary"]
    draft = ("# 7 - Feature: Cache\n\n## 1. Context\nSlow.\n\n## 2. Design\nCache it.\n\n## Appendix A: Glossary\n"
             "TTL: time to live.\n\n## Appendix: Review Log\n\n### Gemini Review #1 (APPROVED)\n\n#### Comments\n\n"
             "### Review Summary\n")
    assert check_lld(draft, template, repo, ()) == []
    assert check_lld(draft.replace("TTL: time to live.", "TBD"), template, repo, ()) == [
        "section 'Appendix A: Glossary' is empty (it holds only placeholders or the template's own text)"]


@pytest.mark.parametrize("placeholder", ["TBD", "TODO", "N/A", "[UNCHANGED]", "...", "- TBD", "| TBD | TBD |"])
def test_sections_holding_only_placeholders_are_empty(repo: Path, placeholder: str) -> None:
    draft = full_draft()
    for body in ("`def run(feature: Feature) -> int`.", "1. Read. 2. Check. 3. Write.", "Input is validated.",
                 "One pass.", "| None known | - |"):
        draft = draft.replace(body, placeholder)
    draft = draft.replace("### 10.2 Manual Tests\nNone.", "### 10.2 Manual Tests\nTBD")
    assert lld_gate(draft, repo) == [f"section '{title}' is empty (it holds only placeholders or the template's own "
                                     "text)" for title in ("2.4 Function Signatures", "2.5 Logic Flow", "7. Security",
                                                           "8. Performance", "9. Risks & Mitigations",
                                                           "10.2 Manual Tests")]


@pytest.mark.parametrize("body, empty", [
    ("N/A - every input is a constant in the code.", False),  # N/A with a reason is an answer anywhere
    ("None - no new input crosses a trust boundary.", False),
    ("N/A", True),  # bare, only where the template offers it: the built-in Security section does not
    ("None.", True),
    ("N/A - N/A", True),
])
def test_not_applicable_needs_a_reason_where_the_template_does_not_offer_it(repo: Path, body: str,
                                                                           empty: bool) -> None:
    found = lld_gate(full_draft().replace("Input is validated.", body), repo)
    assert found == (["section '7. Security' is empty (it holds only placeholders or the template's own text)"]
                     if empty else [])
    offered = full_draft().replace("### 2.2 Dependencies\nNone.", f"### 2.2 Dependencies\n{body}")
    assert lld_gate(offered, repo) == []  # the built-in Dependencies section offers "None"


def test_requirements_as_a_numbered_list_proved_by_tags_or_by_a_requirement_column(repo: Path) -> None:
    numbered = full_draft().replace("1. **REQ-1:** it works\n2. **REQ-2:** it is tested",
                                    "1. it works\n2. it is tested\n3. it is fast")
    tagged = numbered.replace("| 010 | REQ-1 | it works |", "| 010 | - | it works (REQ-1) |").replace(
        "| 020 | REQ-2 |", "| 020 | 2-3 |")
    assert lld_gate(tagged, repo) == []
    assert lld_gate(numbered, repo) == [
        "REQ-3 is proved by no test scenario: add a row naming it to the test-scenario table"]
    assert lld_gate(tagged.replace("| 020 | 2-3 |", "| 020 | 2 |").replace("3. it is fast", "3. it is fast\n"
                                                                             "4. it is documented"), repo) == [
        "2 requirements are proved by no test scenario (REQ-3, REQ-4): name each in a row of the test-scenario "
        "table, as REQ-n or its number in a Requirement column"]


def test_an_add_under_a_folder_that_neither_exists_nor_is_added_is_a_finding(repo: Path) -> None:
    rows = "| `src/cache/store.py` | Add | x |\n| `src/cache/__init__.py` | Add | x |"
    draft = full_draft().replace("| `feature_module.py` | Add | The feature |", rows)
    assert lld_gate(draft, repo) == [
        "`src/cache/` neither exists nor is added in the files-changed table, yet `src/cache/store.py`, "
        "`src/cache/__init__.py` are added in it: check the path, or add a row `src/cache/` (Add)"]
    assert lld_gate(draft.replace(rows, f"| `src/cache/` | Add (Directory) | x |\n{rows}"), repo) == []


@pytest.mark.parametrize("header", ["| File | Type | Description |", "| Path | Action | Notes |",
                                    "| Files | Change | Why |"])
def test_a_files_table_is_found_by_a_file_column_and_a_change_type_or_action_column(repo: Path,
                                                                                   header: str) -> None:
    draft = full_draft().replace("| File | Change Type | Description |", header).replace(
        "| `pyproject.toml` | Modify | Registers it |", "| `pyproject.toml` | Python | Registers it |")
    assert lld_gate(draft, repo) == ["`pyproject.toml`: change type 'Python' is not Add, Modify or Delete"]
    scenarios = "| ID | Scenario | Type | File | REQ |\n|---|---|---|---|---|\n| 1 | x | Auto | `t.py` | REQ-1 |\n"
    assert lld_gate(full_draft().replace("### 10.2 Manual Tests", f"{scenarios}\n### 10.2 Manual Tests"), repo) == []


def test_unresolved_open_questions_go_back_to_the_drafter(repo: Path) -> None:
    draft = full_draft().replace("### Open Questions\nNone.", "### Open Questions\n- [ ] Per user or per team?\n"
                                 "- [x] Which store? **Assumed: the existing one.**\n- [ ] Keep the old flag?")
    found = lld_gate(draft, repo)
    assert found == [f"open question '{q}' is unresolved: answer it, or settle it as `- [x]` with the assumption "
                     "in bold" for q in ("Per user or per team?", "Keep the old flag?")]
    assert unresolved_questions([*found, "section 'x' is missing"]) == ["Per user or per team?", "Keep the old flag?"]
    titled = draft.replace("# LLD", "# LLD: settle the Open Questions", 1)  # a title is not the section
    assert lld_gate(titled, repo) == found


def test_a_requirements_section_named_otherwise_is_still_checked(repo: Path) -> None:
    draft = full_draft().replace("## 3. Requirements", "## 3. Functional Requirements").replace(
        "2. **REQ-2:** it is tested", "2. **REQ-2:** it is tested\n3. it is fast")
    assert "REQ-3 is proved by no test scenario: add a row naming it to the test-scenario table" in lld_gate(draft,
                                                                                                          repo)


def test_open_questions_left_after_the_last_round_end_the_item_needs_human_naming_them(workspace: Workspace,
                                                                                       fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    asking = full_draft("Cache").replace("### Open Questions\nNone.", "### Open Questions\n- [ ] Per user or per "
                                         "team?\n- [ ] Keep the old flag?")
    fake.script(Reply(text=asking), role="drafter", times=-1)
    fake.script(Reply(verdict=structured("APPROVED")), role="reviewer", times=-1)  # would approve anything
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 1, result.stdout + result.stderr
    row = workspace.summary()["items"][0]
    assert row["status"] == "needs-human"
    assert row["message"].startswith("draft 2 leaves 2 open question(s) for a person: Per user or per team?; Keep "
                                     "the old flag? (see docs/lineage/active/1-lld/002-gate.md")
    assert fake.calls_by(role="reviewer") == [] and len(fake.calls_by(role="drafter")) == 2
    assert not (workspace.root / "docs/lld/active/LLD-001.md").exists()
    revise = fake.calls_by(role="drafter")[1].body["messages"][-1]["content"]
    assert "open question 'Keep the old flag?' is unresolved" in revise


def test_a_draft_holding_every_heading_of_a_repositorys_template_is_reviewed_and_filed(workspace: Workspace,
                                                                                      fake: FakeLLM) -> None:
    """The repository's template ends with `## Appendix: Review Log`; a draft that holds it word for word passes
    the gate, and the filed design carries the workflow's own review log in its place."""
    workspace.write("docs/templates/lld.md", (DESIGNS / "templates/feature-lld.md").read_text())
    with (workspace.root / "pyproject.toml").open("a") as toml:
        toml.write('lld_template = "docs/templates/lld.md"\n')
    for path in ("src/ratelimit/clock.py", "src/ratelimit/bucket.py", "tests/test_bucket.py"):
        workspace.write(path, "")
    draft = (DESIGNS / "complete/feature-lld--clock-skew.md").read_text()
    assert "### Gemini Review #1 (APPROVED)" in draft and "#### Comments" in draft
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="1")
    fake.script(Reply(text=draft), role="drafter")
    fake.script(Reply(verdict=structured("APPROVED")), role="reviewer")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    filed = (workspace.root / "docs/lld/active/LLD-001.md").read_text()
    assert "## 10. Risks & Mitigations" in filed and "Gemini Review #1" not in filed
    assert filed.count("## Appendix: Review Log") == 1


def test_an_item_whose_last_draft_fails_the_gate_says_so_not_that_a_reviewer_refused(workspace: Workspace,
                                                                                       fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1, AGENTOS_MAX_ITERATIONS="2")
    fake.script(Reply(text="# A design\n\nWe will make it better.\n"), role="drafter", times=-1)
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 1
    message = workspace.summary()["items"][0]["message"]
    assert message.startswith("draft 2 failed the gate after 2 round(s) (max_iterations), no review asked: section "
                              "'1. Context & Goal' is missing and "), message
    assert "read docs/lineage/active/1-lld/002-gate.md" in message and fake.calls_by(role="reviewer") == []


def _hollowed(body: str) -> str:
    """The complete cli-retry design with sections 2.4, 2.5, 7, 8 and 9 reduced to `body`."""
    text = (DESIGNS / "complete/builtin--cli-retry.md").read_text()
    lines, found = text.splitlines(), [(i, line) for i, line in enumerate(text.splitlines()) if line.startswith("#")]
    starts = [i for i, line in found if line.split(" ", 2)[1] in ("2.4", "2.5", "7.", "8.", "9.")]
    for start in reversed(starts):
        end = next(i for i, _ in found if i > start)
        lines[start + 1:end] = [body, ""]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("body", ["(TBD)", "(todo)", "<!--\nWrite the signatures here.\n-->",
                                  "<!-- TBD -->\n<!--\n  Describe\n  the risks.\n-->"])
def test_a_section_holding_only_a_parenthesised_placeholder_or_an_html_comment_is_empty(repo: Path,
                                                                                         body: str) -> None:
    findings = lld_gate(_hollowed(body), repo)  # the paths it names are not in `repo`: only its sections matter
    assert [f for f in findings if "is empty" in f] == [
        f"section '{title}' is empty (it holds only placeholders or the template's own text)"
        for title in ("2.4 Function Signatures", "2.5 Logic Flow", "7. Security", "8. Performance",
                      "9. Risks & Mitigations")]


def test_a_parenthesised_answer_or_text_beside_a_comment_still_says_something(repo: Path) -> None:
    for body in ("(Input is validated at the boundary.)", "<!-- reviewed -->\nInput is validated.",
                 "Input is validated. <!-- a note\nover two lines -->"):
        assert lld_gate(full_draft().replace("Input is validated.", body), repo) == [], body


@pytest.mark.parametrize("cell", ["2, see issue 10-2000", "1-30000000", "2-9999999999999999999999"])
def test_a_number_range_in_a_requirement_cell_longer_than_the_requirements_is_not_read(repo: Path,
                                                                                      cell: str) -> None:
    draft = full_draft().replace("| 020 | REQ-2 |", f"| 020 | {cell} |")
    found = lld_gate(draft, repo)
    assert len(found) <= 1, found[:3]
    assert found in ([], ["REQ-2 is proved by no test scenario: add a row naming it to the test-scenario table"])
