"""What the models see of the repository: the file tree, the files an issue names (by path or by what they
define), the `context` globs, within a budget; never a secret or a file git ignores; the same context on resume;
prompts laid out so that the providers' caches serve the shared beginning, and cached tokens counted."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agentos_jobs.core.settings import load_settings
from agentos_jobs.design import context
from agentos_jobs.design.context import build_context, prepare_view
from agentos_jobs.items.discovery import Document
from agentos_jobs.repo.files import keep_listing, repo_files
from agentos_jobs.steps.checkpoint import Checkpoint, summarize

from conftest import Workspace
from fake_llm import FakeLLM, bad_request, use_provider

SCORE = "def compute_score(answers):\n    return sum(answers) / len(answers)  # SCORE-BODY\n"
REPORT = "from app.score import compute_score\n\nHEADER = 'REPORT-BODY'\n"
ARCHITECTURE = "# Architecture\n\nThree layers: web, app, store. ARCHITECTURE-BODY\n"
TITLE = "Weighted scores"
BODY = "Change `compute_score` to weigh answers, and print the weights in src/app/report.py."


def setting(ws: Workspace, line: str) -> None:
    """One more line in the workspace's [tool.agentos_jobs], the last table of its pyproject.toml."""
    with (ws.root / "pyproject.toml").open("a") as toml:
        toml.write(line + "\n")


def git_repo(ws: Workspace, files: dict[str, str], ignore: str = "", context: str = "") -> None:
    """The workspace as a git repository holding `files` (all added); `context` is the setting's TOML value."""
    for path, text in files.items():
        ws.write(path, text)
    if ignore:
        ws.write(".gitignore", ignore)
    if context:
        setting(ws, f"context = {context}")
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=ws.root, check=True, capture_output=True, env=ws.env)


def drafts(fake: FakeLLM) -> list[str]:
    return [text for text in fake.sent() if "You review" not in text]


def reviews(fake: FakeLLM) -> list[str]:
    return [text for text in fake.sent() if "You review" in text]


def test_the_first_draft_holds_the_named_files_the_context_files_and_the_tree(workspace: Workspace,
                                                                              fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app/score.py": SCORE, "src/app/report.py": REPORT, "src/app/store.py": "STORE-BODY\n",
                         "docs/architecture.md": ARCHITECTURE, "README.md": "README-BODY\n"},
             context='["docs/*.md"]')
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body=BODY)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    first = drafts(fake)[0]
    for text in (SCORE.rstrip(), REPORT.rstrip(), ARCHITECTURE.rstrip()):
        assert text in first
    tree = first[first.index("<file_tree>") : first.index("</file_tree>")]
    assert "\nsrc/app/store.py\n" in tree and "\nREADME.md\n" in tree and "STORE-BODY" not in first
    # the part every item shares first, this item's own files next, its own text last
    assert first.index("<file_tree>") < first.index("ARCHITECTURE-BODY") < first.index("SCORE-BODY") \
        < first.rindex(TITLE)
    assert '<file path="src/app/score.py" shown="defines compute_score">' in first
    assert "[LLD-1] context: the file tree and 3 file(s)" in result.stdout


def test_the_tree_leaves_out_the_other_items_inputs(workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app/score.py": SCORE, "README.md": "README-BODY\n"})
    use_provider(workspace, fake, "openai", keys=1)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    workspace.write("ideas/active/a-brief.md", "# A brief\n\nSomething.\n")
    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    for draft in drafts(fake):
        tree = draft[draft.index("<file_tree>") : draft.index("</file_tree>")]
        assert "\nsrc/app/score.py\n" in tree and "docs/issues/" not in tree and "ideas/active/" not in tree


def test_every_item_of_a_run_sees_the_file_tree_as_the_run_started(workspace: Workspace, fake: FakeLLM) -> None:
    """Listed once, by the run's warm parent: one tree for every item (and one shared beginning to cache)."""
    git_repo(workspace, {"src/app/score.py": SCORE})
    use_provider(workspace, fake, "openai", keys=1)
    for number in (1, 2):
        workspace.add_issue(number)
    fake.delay = 0.5
    proc = workspace.start_doit("-n", "1", "lld")
    workspace.wait_for(lambda: len(fake.calls) >= 1, what="item 1's first answer")
    workspace.write("src/app/added.py", "ADDED = 1\n")  # before item 2 starts: -n 1 runs one at a time
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    trees = [draft[draft.index("<file_tree>") : draft.index("</file_tree>")] for draft in drafts(fake)]
    assert len(trees) == 2 and trees[0] == trees[1] and "src/app/added.py" not in trees[1]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_secrets_and_ignored_files_never_reach_a_request(workspace: Workspace, fake: FakeLLM, tmp_path: Path,
                                                         provider: str) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("OUTSIDE-SECRET\n")
    planted = {".env": "DB_PASSWORD=ENV-SECRET\n", ".env.local": "ENV-LOCAL-SECRET\n", "server.pem": "PEM-SECRET\n",
               "deploy/site.key": "KEY-SECRET\n", "home/id_rsa": "RSA-SECRET\n", "local/notes.txt": "IGNORED-SECRET\n",
               "docs/ok.md": "OK-BODY\n"}
    git_repo(workspace, planted, ignore="local/\nbuild/\n", context='["**"]')  # .env is tracked: still a secret
    workspace.write("build/tracked.cfg", "TRACKED-IGNORED-SECRET\n")  # ignored, though someone forced it in
    (workspace.root / "docs/leak.md").symlink_to(outside)
    (workspace.root / "docs/settings.txt").symlink_to("../.env")  # inside: the link's own name says nothing
    (workspace.root / "docs/notes.txt").symlink_to("../local/notes.txt")
    (workspace.root / "docs/git.txt").symlink_to("../.git/config")  # git lists nothing in .git
    with (workspace.root / ".git/config").open("a") as config:
        config.write("# GIT-CONFIG-SECRET\n")
    subprocess.run(["git", "add", "-f", "docs/leak.md", "build/tracked.cfg", "docs/settings.txt", "docs/notes.txt",
                    "docs/git.txt"], cwd=workspace.root, check=True)
    use_provider(workspace, fake, provider, keys=1)
    credentials = workspace.root / "config/agentos-keys.json"  # the credentials file itself, inside the repository
    credentials.parent.mkdir()
    (workspace.home / "credentials.json").rename(credentials)
    workspace.env["AGENTOS_CREDENTIALS"] = str(credentials)
    workspace.add_issue(1, TITLE, body="Read .env, .env.local, server.pem, deploy/site.key, home/id_rsa, "
                        "local/notes.txt, build/tracked.cfg, docs/leak.md, docs/settings.txt, docs/notes.txt, "
                        "docs/git.txt, config/agentos-keys.json and docs/ok.md.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = "\n".join(fake.sent())
    assert "OK-BODY" in sent  # the context was sent ...
    # ... and not one of these, nor their names in the tree
    for secret in ("ENV-SECRET", "ENV-LOCAL-SECRET", "PEM-SECRET", "KEY-SECRET", "RSA-SECRET", "IGNORED-SECRET",
                   "TRACKED-IGNORED-SECRET", "OUTSIDE-SECRET", "SECRET-key", "GIT-CONFIG-SECRET"):
        assert secret not in sent
    first = drafts(fake)[0]
    tree = first[first.index("<file_tree>") : first.index("</file_tree>")].splitlines()
    assert "docs/ok.md" in tree
    for name in (".env", ".env.local", "server.pem", "deploy/site.key", "home/id_rsa", "local/notes.txt",
                 "config/agentos-keys.json"):
        assert name not in tree
    assert "docs/leak.md not shown: it leads outside the repository" in result.stdout
    assert "build/tracked.cfg not shown: git ignores it" in result.stdout
    assert "docs/settings.txt not shown: it is a link to .env, whose name looks like a secret's" in result.stdout
    assert "docs/notes.txt not shown: it is a link to local/notes.txt, which git ignores" in result.stdout
    assert "docs/git.txt not shown: it is a link to .git/config, which the repository's file list leaves out" in \
        result.stdout


def big_module(handlers: int) -> str:
    """A Python module far larger than its share: many handlers, a class, and `compute_score` deep inside."""
    body = "".join(f"def handler_{n}(request):\n    return request * {n}  # HANDLER-{n}-BODY\n\n\n"
                   for n in range(handlers))
    return ('"""A big module."""\n\nimport os\n\n\n' + body + "class Report:\n    title = 'r'\n\n"
            "    def header(self):\n        return 'HEADER-BODY'\n\n    @property\n    def render(self):\n"
            "        return 'RENDER-BODY'\n\n\n# Weighs the answers.\ndef compute_score(answers):\n"
            "    return sum(answers)  # SCORE-BODY\n\n\n" + body.replace("handler_", "late_handler_"))


def test_a_named_file_larger_than_its_share_is_cut_to_what_the_issue_names_never_dropped(
        workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/small.py": "SMALL-BODY = 1\n", "src/big.py": big_module(80),
                         "src/other.py": "def unrelated():\n    return 'OTHER-BODY'\n"})
    setting(workspace, "context_tokens = 2000")
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body="Touch src/big.py and src/small.py: `compute_score` and `Report.render`.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    first = drafts(fake)[0]
    assert "SMALL-BODY" in first  # the small file whole, the big one cut to what the issue names
    for shown in ("SCORE-BODY", "# Weighs the answers.", "RENDER-BODY", "    @property", "class Report:",
                  "def handler_0(request):", "def late_handler_79(request):"):
        assert shown in first, shown
    assert "HANDLER-79-BODY" not in first and "OTHER-BODY" not in first  # its share full, from its start
    assert '<file path="src/big.py" shown="named in the issue" cut="the definitions of render, compute_score, ' \
           'Report; an outline of the rest (signatures); its first ' in first
    assert "Left out to fit the context budget" not in first
    record = (workspace.root / "docs/lineage/active/1-lld/000-context.md").read_text()
    shown = re.search(r"What the models were shown of the repository: ([\d,]+) of 2,000 tokens", record)
    assert shown and int(shown.group(1).replace(",", "")) <= 2000  # the budget, never more
    assert "| `src/small.py` | named in the issue |" in record and "| `src/big.py` | named in the issue |" in record
    assert "- src/big.py: cut to the definitions of render, compute_score, Report; an outline of the rest " \
        "(signatures); its first " in record
    assert "[LLD-1] context: the file tree and 2 file(s)" in result.stdout
    assert "cut to fit context_tokens: src/big.py: cut to the definitions of" in result.stdout


def test_the_tree_shows_source_and_tests_before_documents_and_counts_what_it_shows(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = {**{f"docs/guide-{n:03d}.md": "G\n" for n in range(300)},
             **{f"src/app/module_{n:02d}.py": "x = 1\n" for n in range(30)},
             **{f"tests/test_module_{n:02d}.py": "x = 1\n" for n in range(30)}, "README.md": "R\n"}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "pyproject.toml").write_text("[tool.agentos_jobs]\ncontext_tokens = 2400\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    found = build_context(load_settings(root, {}), Document(title="T", body="A change.", number=1))
    tree = found.shared[found.shared.index("<file_tree>") : found.shared.index("</file_tree>")].splitlines()[1:]
    listed = [line for line in tree if not line.startswith("(not listed")]
    assert all(path in listed for path in files if not path.endswith(".md"))  # every source file and test
    assert "pyproject.toml" in listed and "docs/guide-299.md" not in listed
    total = len(files) + 1
    assert tree[-1] == f"(not listed: {total - len(listed)} more paths: docs/ {total - len(listed)})"
    shown = {path: why for path, why, _ in found.files}
    assert shown["file tree"] == f"{len(listed)} of {total} paths"  # what the tree lists, not what the repo holds
    assert f"file tree: {len(listed)} of {total} paths shown, documents and the deepest cut first" in found.cut
    assert found.files[0][2] <= 2400 // context.TREE_SHARE
    assert found.tokens == context.estimate_tokens(found.shared)  # what is sent, header and all


def test_a_name_resolves_to_its_definition_in_the_repositorys_own_source(tmp_path: Path) -> None:
    """Never to a test that defines a function of the same name, a call site, a comment, the standard library
    or a builtin; `Class.method` to the file that defines both."""
    root = tmp_path / "repo"
    files = {"src/jobs.py": "def run_job(job):\n    return job  # RUN-JOB-BODY\n",
             "src/engine.py": "class Engine:\n    def run(self):\n        return 'ENGINE-RUN'\n",
             "src/cli.py": "def run(argv):\n    return subprocess.run(argv)  # CLI-RUN\n",
             "tests/test_jobs.py": "def run_job(job):\n    return 'TEST-RUN-JOB'\n\ndef run():\n    pass\n",
             "tests/helpers/conftest.py": "def run(argv):\n    return 'CONFTEST-RUN'\n",
             "web/page.ts": "export function renderPage() {}\n",
             "web/caller.ts": "// here we call function renderPage once\nconst page = renderPage();\n"}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    doc = Document(title="T", number=1, body="Call `subprocess.run`, `os.path.join` and `print()` from `run_job`; "
                                              "`Engine.run` and `renderPage()` stay.")
    found = build_context(load_settings(root, {}), doc)
    shown = {path: why for path, why, _ in found.files}
    assert shown == {"file tree": "7 paths", "src/jobs.py": "defines run_job", "src/engine.py": "defines Engine.run",
                     "web/page.ts": "defines renderPage"}, shown
    assert not any("subprocess.run" in note or "os.path.join" in note for note in found.notes), found.notes


def test_a_resumed_item_is_reviewed_against_its_recorded_context_and_its_resumed_draft_costs_nothing(
        workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app/score.py": SCORE})
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body=BODY)
    fake.script(bad_request("openai"), role="reviewer")
    first = workspace.doit("lld")
    assert first.returncode == 1 and workspace.checkpoints() == ["lld_workflow_1.db"], first.stdout
    assert workspace.summary()["items"][0]["input_tokens"] == 100  # the draft, paid in the first run
    workspace.write("src/app/score.py", "def compute_score(answers):\n    return 0  # EDITED-SINCE\n")
    again = workspace.doit("lld")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[LLD-1] context: as recorded when this item started" in again.stdout
    review = reviews(fake)[-1]
    assert "SCORE-BODY" in review and "EDITED-SINCE" not in review
    row = workspace.summary()["items"][0]
    assert (row["input_tokens"], row["output_tokens"]) == (100, 20)  # the review alone: the draft was resumed
    assert "tokens: 100 in, 20 out" in again.stdout


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_the_shared_beginning_is_cached_and_cached_tokens_reach_the_summary(workspace: Workspace, fake: FakeLLM,
                                                                            provider: str) -> None:
    """Each wire format: the context goes first, item 2 shares item 1's beginning, the cache serves it."""
    git_repo(workspace, {"docs/architecture.md": ARCHITECTURE * 120, "src/app/score.py": SCORE},
             context='["docs/architecture.md"]')
    use_provider(workspace, fake, provider, keys=1)
    workspace.add_issue(1, "First", body=BODY)
    workspace.add_issue(2, "Second", body="Something else entirely.")
    result = workspace.doit("-n", "1", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    first = drafts(fake)[0]
    assert first.index("ARCHITECTURE-BODY") < first.index("SCORE-BODY") < first.rindex("First")
    summary = workspace.summary()
    rows = {row["prefix"]: row for row in summary["items"]}
    assert rows["LLD-1"]["cached_tokens"] == 0 < rows["LLD-2"]["cached_tokens"] < rows["LLD-2"]["input_tokens"]
    cached = summary["totals"]["cached_tokens"]
    assert cached == rows["LLD-2"]["cached_tokens"] and summary["totals"]["input_tokens"] == 400
    assert f"tokens: 400 in ({cached:,} cached), 80 out" in result.stdout
    row_line = next(line for line in result.stdout.splitlines() if line.startswith("LLD-2 "))
    assert f"240 ({cached:,} cached)" in row_line


def test_an_old_checkpoint_gains_the_new_columns_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with sqlite3.connect(db) as conn:  # the layout before cached tokens and run ids
        conn.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE steps (seq INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL CHECK (status IN ('done', 'failed')), output TEXT NOT NULL,
                input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
                started_at TEXT NOT NULL, finished_at TEXT NOT NULL);
            INSERT INTO meta VALUES ('input_sha256', 'h');
            INSERT INTO steps (name, status, output, input_tokens, output_tokens, started_at, finished_at)
                VALUES ('draft-1', 'done', 'the old draft', 100, 20, 't', 't');""")
    conn.close()
    old = summarize(db, "run-2")
    assert old is not None and old.steps_done == 1 and old.input_tokens == 0  # read as it is; not this run's
    said: list[str] = []
    cp = Checkpoint.open(db, "h", said.append, run_id="run-2")
    cp.record("review-1", "done", "VERDICT: APPROVED", "t", 100, 20, cached_tokens=60)
    draft = cp.get("draft-1")
    cp.close()
    assert said == [] and draft is not None and draft.output == "the old draft"  # resumed, not moved aside
    new = summarize(db, "run-2")
    assert new is not None and (new.steps_done, new.input_tokens, new.cached_tokens) == (2, 100, 60)


def test_globs_identifiers_and_ambiguity(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = {"pkg/module/__init__.py": "def func(): ...\n", "src/pkg/tools.py": "class Tool:\n    def run(self): ...\n",
             "web/app.ts": "export function renderPage() {}\n", "docs/a.md": "A\n", "docs/deep/b.md": "B\n",
             **{f"cmd{n}/main.py": "def main(): ...\n" for n in range(4)}}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "pyproject.toml").write_text('[tool.agentos_jobs]\ncontext = ["docs/*.md", "docs/deep/"]\n')
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    settings = load_settings(root, {})
    doc = Document(title="T", body="Call `pkg.module.func`, `Tool.run` and `renderPage()` from `main`; see "
                                   "`./src/pkg/tools.py:12` and `missing_helper`.", number=1)
    context = build_context(settings, doc)
    shown = {path: why for path, why, _ in context.files}
    assert shown["pkg/module/__init__.py"] == "defines pkg.module.func"
    assert shown["src/pkg/tools.py"] == "named in the issue"  # its path comes first; Tool.run resolves to it too
    assert shown["web/app.ts"] == "defines renderPage"
    assert shown["docs/a.md"] == "the context setting: docs/*.md"
    assert shown["docs/deep/b.md"] == "the context setting: docs/deep/"
    assert not any(path.endswith("main.py") for path in shown)
    assert "main is defined in 4 files: none is shown; name its file in the item" in context.notes
    assert "missing_helper is named by the item but defined in no file git lists" in context.notes
    assert context.item.index("pkg/module/__init__.py") < context.item.index("web/app.ts")  # in the order named
    assert "docs/a.md" in context.shared and "docs/a.md" not in context.item


def test_definitions_are_found_at_few_places_and_at_many_through_links_inside_the_repository(tmp_path: Path) -> None:
    """A file that holds a name at a few places is searched only there (a keyword may end the line above); one
    that holds it at many is searched whole; a longer name that contains it is not it. A link inside the
    repository is followed; one that leads out of it is not."""
    root = tmp_path / "repo"
    outside = tmp_path / "outside.py"
    outside.write_text("def leaked_helper(): ...\n")
    files = {"src/app/score.py": SCORE, "src/app/rescore.py": "def recompute_score(): ...\n# compute_score\n",
             "web/page.ts": "export function\nrenderPage() {}\n",
             "src/many.py": "".join(f"x{n} = fetch_rows()\n" for n in range(30)) + "def fetch_rows(): ...\n",
             "real/helper.py": "def linked_helper(): ...\n",
             **{f"src/other/m{n}.py": f"def unrelated_{n}(): ...\n" for n in range(20)}}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "src/linked.py").symlink_to(root / "real/helper.py")
    (root / "src/leak.py").symlink_to(outside)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    doc = Document(title="T", number=1, body="Change `compute_score`, `renderPage()`, `self.fetch_rows`, "
                                                "`linked_helper` and `leaked_helper`.")
    found = build_context(load_settings(root, {}), doc)
    shown = {path: why for path, why, _ in found.files}
    assert shown["src/app/score.py"] == "defines compute_score" and "src/app/rescore.py" not in shown
    assert shown["web/page.ts"] == "defines renderPage"
    assert shown["src/many.py"] == "defines self.fetch_rows"
    assert shown["src/linked.py"] == "defines linked_helper" and shown["real/helper.py"] == "defines linked_helper"
    assert "src/leak.py" not in shown
    assert "leaked_helper is named by the item but defined in no file git lists" in found.notes


def test_the_tree_leaves_out_the_tools_own_folder_before_git_is_told_to_ignore_it(tmp_path: Path) -> None:
    """A run's warm parent lists the repository as the run starts, which on a first run may be before the
    .agentos folder has its .gitignore: what is in it is still never shown."""
    root = tmp_path / "repo"
    for path in ("src/a.py", ".agentos/doit-deps.sqlite", ".agentos/runs/r/summary.json"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert ".agentos/doit-deps.sqlite" in repo_files(root)[0]  # git lists it: nothing ignores it yet
    context = build_context(load_settings(root, {}), Document(title="T", body="A change.", number=1))
    assert "src/a.py" in context.shared and ".agentos" not in context.shared


def test_the_tree_leaves_out_the_tools_outputs_and_no_more_where_they_are_set_elsewhere(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for path in ("src/a.py", "docs/guide.md", "docs/design/LLD-001.md", "docs/history/1-lld/001-draft.md",
                 "docs/superseded/1-lld-20260101T000000/001-draft.md"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    (root / "pyproject.toml").write_text('[tool.agentos_jobs]\nlld_dir = "docs/design"\nlineage_dir = "docs/history"\n')
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    settings = load_settings(root, {})
    shared = build_context(settings, Document(title="T", body="A change.", number=1)).shared
    assert "docs/guide.md" in shared and "src/a.py" in shared  # the rest of docs/ is the repository's own
    assert "docs/design" not in shared and "docs/history" not in shared and "superseded" not in shared


def test_an_item_looks_up_the_runs_listing_and_walks_none_of_it(tmp_path: Path) -> None:
    """Beside 5,000 issues an item's context costs what it costs beside 50: the warm parent lists the
    repository once and makes its view (tree, globs, lookups) for all the items it forks; an item, whose settings
    are its own but equal, finds that view made, and does no work per listed file."""
    root = tmp_path / "repo"
    for path, text in {"src/app/score.py": SCORE, "docs/architecture.md": ARCHITECTURE,
                       **{f"docs/issues/{n}.md": f"# Issue {n}\n" for n in range(1, 301)}}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "pyproject.toml").write_text('[tool.agentos_jobs]\ncontext = ["docs/*.md"]\n')
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    keep_listing(root)
    prepare_view(load_settings(root, {}))
    made = context._kept_view.cache_info()
    found = build_context(load_settings(root, {}), Document(title="T", body="Change `compute_score`.", number=1))
    assert context._kept_view.cache_info()._replace(hits=made.hits) == made  # found, not made again
    assert context._kept_view.cache_info().hits == made.hits + 1
    shown = {path: why for path, why, _ in found.files}
    assert shown["src/app/score.py"] == "defines compute_score"
    assert shown["docs/architecture.md"] == "the context setting: docs/*.md"
    assert shown["file tree"] == "3 paths" and "docs/issues/" not in found.shared  # pyproject, architecture, score


def test_outside_git_the_walk_skips_hidden_ignored_and_secret_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for path in ("src/a.py", "build/out.bin", "src/gen/x.py", "src/keep.log", "app.log", ".hidden/h.py",
                 "certs/site.pem", "notes/.env.prod", "docs/guide.md"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    (root / ".gitignore").write_text("build/\n*.log\n# a comment\n")
    (root / "src/.gitignore").write_text("gen/\n")
    files, note = repo_files(root)
    assert files == ["docs/guide.md", "src/a.py"]
    assert note is not None and "the file list is a walk that skips hidden names and what .gitignore files name" \
        in note


def test_outside_git_the_walk_reads_leading_and_inner_double_stars_as_git_does(tmp_path: Path) -> None:
    """`**/local_settings.py` names that file at the root too, `**/cache/` a root folder, `docs/**/draft.md`
    docs/draft.md itself: the old walk matched each only one folder down, and listed (so sent) the rest. Git's
    own answer, in a copy made a repository, is the reference."""
    root = tmp_path / "repo"
    files = ("local_settings.py", "app/local_settings.py", "cache/x.txt", "app/cache/y.txt", "docs/draft.md",
             "docs/a/b/draft.md", "docs/guide.md", "src/a.py", "src/gen/out.py", "sub/secret.txt",
             "sub/deep/secret.txt", "secret.txt", "logs/x/app.log", "src/keep.txt", "build/o.txt", "#notes.txt",
             "star*.txt", "starry.txt")
    for path in files:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n")
    (root / ".gitignore").write_text("**/local_settings.py\n**/cache/\ndocs/**/draft.md\n/src/**/out.py\n"
                                     "logs/**\nbuild/**/\n\\#notes.txt\nstar\\*.txt\n")
    (root / "sub/.gitignore").write_text("**/secret.txt\n")
    listed, note = repo_files(root)
    assert note is not None and "the file list is a walk" in note
    assert listed == ["build/o.txt", "docs/guide.md", "secret.txt", "src/a.py", "src/keep.txt", "starry.txt"], listed
    reference = tmp_path / "reference"
    subprocess.run(["cp", "-r", str(root), str(reference)], check=True)
    subprocess.run(["git", "init", "-q"], cwd=reference, check=True)
    by_git = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=reference, check=True,
                            capture_output=True, text=True).stdout.split()
    assert listed == sorted(path for path in by_git if not path.rsplit("/", 1)[-1].startswith("."))


def test_context_tokens_zero_sends_no_context(workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app/score.py": SCORE})
    setting(workspace, "context_tokens = 0")
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body=BODY)
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SCORE-BODY" not in "\n".join(fake.sent()) and "<file_tree>" not in "\n".join(fake.sent())
    assert "[LLD-1] context: none; context_tokens is 0: the models see no repository context" in result.stdout


@pytest.mark.parametrize("value, said", [
    ('"docs/*.md"', "context must be a list of file paths or globs"),
    ("[1, 2]", "context must be a list of file paths or globs"),
    ("-1", "context_tokens must be a non-negative whole number"),
])
def test_bad_context_settings_are_one_line(workspace: Workspace, value: str, said: str) -> None:
    setting(workspace, f"{'context_tokens' if said.startswith('context_tokens') else 'context'} = {value}")
    workspace.add_issue(1)
    result = workspace.doit("lld")
    assert result.returncode == 3 and said in result.stderr and "Traceback" not in result.stderr


def test_anthropic_caches_the_system_prompt_even_with_no_context(workspace: Workspace, fake: FakeLLM) -> None:
    """The instructions, template and rubric are the same for every item of a kind: marked, they are read back."""
    setting(workspace, "context_tokens = 0")
    use_provider(workspace, fake, "anthropic", keys=1)
    workspace.add_issue(1, "First", body=BODY)
    workspace.add_issue(2, "Second", body="Something else entirely.")
    result = workspace.doit("-n", "1", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(call.body["system"][-1]["cache_control"] == {"type": "ephemeral"} for call in fake.calls)
    rows = {row["prefix"]: row for row in workspace.summary()["items"]}
    assert rows["LLD-1"]["cached_tokens"] == 0 < rows["LLD-2"]["cached_tokens"]


def test_a_cut_source_of_another_language_or_a_document_keeps_what_the_item_names(tmp_path: Path) -> None:
    """A brace language's definition ends at its closing brace; a document keeps the lines that name the
    item's names, with their headings."""
    root = tmp_path / "repo"
    filler = "".join(f"export function helper{n}(value: number): number {{\n  return value * {n}; // HELPER-{n}\n}}\n\n"
                     for n in range(80))
    page = ("/** Renders the page. */\nexport async function renderPage(user: User): Promise<string> {\n"
            "  if (!user) {\n    return 'ANONYMOUS-PAGE';\n  }\n  return `PAGE-FOR-${user.name}`;\n}\n\n"
            "export function afterPage() {\n  return 'AFTER-PAGE-BODY';\n}\n")
    guide = "".join(f"## Part {n}\n\nNothing to see here, {n}.\n\n" for n in range(600))
    guide = guide.replace("## Part 150\n\n", "## Part 150\n\nThe `score_weights` table lives here: GUIDE-HIT.\n\n")
    files = {"web/page.ts": filler + page + filler.replace("helper", "late"), "docs/guide.md": guide}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "pyproject.toml").write_text("[tool.agentos_jobs]\ncontext_tokens = 6000\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    doc = Document(title="T", number=1, body="Change `renderPage()` in web/page.ts; see docs/guide.md on "
                                              "`score_weights`.")
    found = build_context(load_settings(root, {}), doc)
    item = found.item
    assert "export async function renderPage(user: User): Promise<string> {" in item and "/** Renders the page. */" \
        in item and "PAGE-FOR-" in item
    assert "AFTER-PAGE-BODY" not in item and "HELPER-79" not in item and "LATE-0" not in item
    assert "export function late79(value: number): number {" in item  # the outline reaches the end
    assert "GUIDE-HIT" in item and "## Part 150" in item and "## Part 599" in item
    assert "Nothing to see here, 598." not in item
    assert any(said.startswith("web/page.ts: cut to the definitions of renderPage; an outline of the rest "
                               "(signatures)") for said in found.cut), found.cut
    assert any(said.startswith("docs/guide.md: cut to the lines that mention score_weights; an outline of the "
                               "rest (headings)") for said in found.cut), found.cut


def test_many_named_files_never_overrun_the_budget_nor_go_as_empty_blocks(workspace: Workspace,
                                                                           fake: FakeLLM) -> None:
    """An issue naming 300 files of 80 lines each, with context_tokens = 4000: the old code cut every one to
    nothing ("0 of 80 lines"), still sent its empty block, and sent 8,815 tokens. What cannot hold a line of
    its share is left out, named in the request as far as the budget goes and in the context record whole."""
    files = {f"src/mod_{n:03d}.py": "".join(f"VALUE_{n}_{line} = {line}\n" for line in range(80)) for n in range(300)}
    git_repo(workspace, files)
    setting(workspace, "context_tokens = 4000")
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body="Touch " + ", ".join(files) + ".")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    found = build_context(load_settings(workspace.root, {}),
                          Document(title=TITLE, body="Touch " + ", ".join(files) + ".", number=1))
    assert found.tokens == context.estimate_tokens(found.shared) + context.estimate_tokens(found.item) <= 4000
    first = drafts(fake)[0]
    assert found.item in first and 'cut="nothing' not in first
    blocks = re.findall(r'<file path="([^"]+)"[^>]*>\n(.*?)\n</file>', first, re.DOTALL)
    assert blocks and all(text.strip() for _, text in blocks)  # no empty block
    sent = {path for path, _ in blocks}
    assert "Left out to fit the context budget" in found.item
    record = (workspace.root / "docs/lineage/active/1-lld/000-context.md").read_text()
    for path in files:  # each named file shown (in part at least) or said to be left out, in the record
        assert path in sent or f"- {path}: left out: its share (" in record, path
    assert "left out: its share (" in result.stdout


def test_a_named_file_of_one_long_line_keeps_its_first_part(tmp_path: Path) -> None:
    """Minified JavaScript and compact JSON are one line: the old code cut such a file to 0 characters."""
    root = tmp_path / "repo"
    minified = "!function(e){" + "".join(f"var v{n}=e.k{n}||{n};" for n in range(20000)) + "}(window);"
    data = json.dumps({f"key_{n}": n for n in range(20000)}, separators=(",", ":"))
    for path, text in {"web/app.min.js": minified, "data/table.json": data}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "pyproject.toml").write_text("[tool.agentos_jobs]\ncontext_tokens = 4000\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    found = build_context(load_settings(root, {}), Document(title="T", number=1,
                                                            body="Shrink web/app.min.js and data/table.json."))
    assert found.tokens <= 4000
    assert "1: !function(e){var v0=e.k0||0;var v1=e.k1||1;" in found.item
    assert '1: {"key_0":0,"key_1":1,"key_2":2,' in found.item
    assert "v19999" not in found.item and "key_19999" not in found.item
    said = [cut for cut in found.cut if cut.startswith(("web/app.min.js: cut to", "data/table.json: cut to"))]
    assert len(said) == 2 and all("its first line, cut to " in cut for cut in said), found.cut
