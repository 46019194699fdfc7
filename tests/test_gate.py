"""The mechanical gate, checked on drafts in a real directory: what it refuses, and that a well-formed draft of
the built-in template (the offline stand-in's, or one a model would write) passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentos_jobs.config import ConfigError, load_settings
from agentos_jobs.gate import check_issue, check_lld
from agentos_jobs.items import Document
from agentos_jobs.providers.offline import draft_issue, draft_lld
from agentos_jobs.template import load_template, parse_template
from agentos_jobs.verdict import Finding

from fake_llm import full_draft

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
