"""Issues as teams write them: YAML front matter, tables and code blocks, titles that name their own issue,
one file under two names, and a file with a problem that says what the problem is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentos_jobs.core.errors import InputError
from agentos_jobs.items.discovery import parse_brief, parse_issue

from conftest import Workspace
from fake_llm import FakeLLM, use_provider

BODY = """CI takes 20 minutes; it should take 5.

| Job | Now | Target |
|-----|-----|--------|
| test | 15m | 4m |
| lint | 5m | 1m |

```python
def compute_score(x):

    return x * 2  # indented, after a blank line
```

## Acceptance criteria
- [ ] The test job takes under 4 minutes"""

FRONT = """---
title: "Issue #497: Faster CI"
number: 497
state: open
labels:
  - name: enhancement
    color: a2eeef
  - name: "needs design"
assignees: []
milestone:
  title: v2
url: https://github.com/o/r/issues/497   # a comment
---

# Issue #497: Faster CI

"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_gives_title_number_and_labels_and_the_body_is_kept_as_written(tmp_path: Path) -> None:
    doc = parse_issue(write(tmp_path, "497-faster-ci.md", FRONT + BODY + "\n"), tmp_path)
    assert (doc.title, doc.number, doc.labels) == ("Faster CI", 497, ("enhancement", "needs design"))
    assert doc.body == BODY  # the repeated heading is gone; the table and the code block are untouched


@pytest.mark.parametrize("front, title, labels", [
    ("number: 8\nlabels: [bug, \"ui, web\"]", "Crash on start", ("bug", "ui, web")),
    ("labels: bug, ui", "Crash on start", ("bug", "ui")),
    ("title: 'It''s slow'\nlabels:\n- perf", "It's slow", ("perf",)),
    ("title: >-\n  A folded\n  title", "A folded title", ()),
])
def test_the_title_comes_from_front_matter_or_the_heading_after_it(tmp_path: Path, front: str, title: str,
                                                                   labels: tuple[str, ...]) -> None:
    doc = parse_issue(write(tmp_path, "8.md", f"---\n{front}\n---\n\n# Crash on start\n\nIt crashes.\n"), tmp_path)
    assert (doc.title, doc.labels) == (title, labels)
    assert doc.body == ("It crashes." if title == "Crash on start" else "# Crash on start\n\nIt crashes.")


def test_a_brief_may_have_front_matter_too(tmp_path: Path) -> None:
    doc = parse_brief(write(tmp_path, "faster-ci.md", "---\ntitle: Faster CI\ntags: [ci]\n---\nCI is slow.\n"),
                      tmp_path)
    assert (doc.title, doc.body) == ("Faster CI", "CI is slow.")


OWN_NUMBER = [("497.md", "# Issue #497: Faster CI\n\nBody.\n"), ("497.md", "# [#497] Faster CI\n\nBody.\n"),
              ("497.md", "# 497: Faster CI\n\nBody.\n"), ("497.md", "---\ntitle: \"LLD-497: Faster CI\"\n---\nBody.\n"),
              ("497.json", '{"number": 497, "title": "Issue #497 - Faster CI", "body": "Body."}')]
OTHER_NUMBER = ["Issue #12: fix what #12 broke", "497 bugs in one release", "#4970 Faster CI", "Issue 497, edited"]


def test_a_title_that_names_its_own_issue_is_not_doubled_and_any_other_is_kept(tmp_path: Path) -> None:
    for name, text in OWN_NUMBER:
        assert parse_issue(write(tmp_path, name, text), tmp_path).title == "Faster CI", text
    for title in OTHER_NUMBER:
        assert parse_issue(write(tmp_path, "497.md", f"# {title}\n\nBody.\n"), tmp_path).title == title


@pytest.mark.parametrize("text, expected", [
    ("---\ntitle: x\n", "497.md: front matter opened by '---' on line 1 but never closed"),
    ("---\nnumber: 12\ntitle: x\n---\n", "497.md: front matter 'number' is '12' but the file name says 497"),
    ("---\ntitle: [a, b]\n---\n", "497.md: front matter line 2: 'title' must be one value"),
    ("---\nlabels:\n  - color: red\n---\n# T\n", "line 2: 'labels': an item that is a mapping needs a 'name'"),
    ("---\ntitle: \"open\n---\n", "line 2: 'title': a double-quoted value that is not closed"),
    ("---\nlabels: bug\n---\nNo heading.\n", "497.md: the front matter has no 'title' and no '# Title' heading"),
    ("---\nthis is no key\n---\n# T\n", "497.md: front matter line 2: expected 'key: value'"),
])
def test_bad_front_matter_names_the_file_the_line_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_issue(write(tmp_path, "497.md", text), tmp_path)
    assert expected in str(caught.value)


def test_front_matter_issues_run_and_the_model_gets_their_tables_whole(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    workspace.write("docs/issues/497-faster-ci.md", FRONT + BODY + "\n")
    workspace.write("docs/issues/8.md", "---\nnumber: 8\nlabels: [bug]\n---\n\n# Crash on start\n\nIt crashes.\n"
                    "\n- [ ] It starts\n")
    result = workspace.doit("-n", "2", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert workspace.statuses() == {"LLD-8": "done", "LLD-497": "done"}
    drafts = [text for text in fake.sent() if "Faster CI" in text and "You review" not in text]
    assert drafts and all(BODY in text for text in drafts)  # every line of the table and the code block
    assert all("Issue #497: Faster CI" not in text and "Labels: enhancement, needs design" in text
               for text in drafts)


def test_the_filed_design_names_its_issue_once(workspace: Workspace) -> None:
    workspace.write("docs/issues/497.md", "# Issue #497: Faster CI\n\nCI is slow.\n\n- [ ] Under 5 minutes\n")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    design = (workspace.root / "docs/lld/active/LLD-497.md").read_text()
    assert "Faster CI" in design and "Issue #497:" not in design and "#497 Issue" not in design


def test_one_file_under_two_names_is_one_item(workspace: Workspace) -> None:
    workspace.add_issue(5, "Five")
    (workspace.root / "docs/issues/5-five.md").symlink_to("5.md")
    os.link(workspace.root / "docs/issues/5.md", workspace.root / "docs/issues/05.md")
    listed = workspace.doit("list", "--all", "-s")
    assert listed.returncode == 0 and listed.stdout.count("lld:5") == 1 and "several files" not in listed.stdout
    result = workspace.doit("lld")
    assert result.returncode == 0 and workspace.statuses() == {"LLD-5": "done"}, result.stdout + result.stderr


def test_a_readable_file_with_a_problem_says_what_it_is(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.write("docs/issues/7.json", '{"number": 7, "title": ')
    workspace.write("docs/issues/8.md", "---\ntitle: Eight\n")
    listed = workspace.doit("list", "--all")
    assert listed.returncode == 0, listed.stderr
    assert "cannot be read" not in listed.stdout
    assert "(7.json: not valid JSON" in listed.stdout
    assert "(8.md: front matter opened by '---' on line 1 but never closed" in listed.stdout
