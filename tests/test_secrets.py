"""No key of the pool and no credential a file holds reaches a model: the tool's private files are told by
what they are (a hard link, a copy), every pool key is masked in every request, a failed ignore check sends
nothing, and credentials written in ordinary files are redacted by content. Each through a real run against
the fake server, asserting on what the server received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from test_context import drafts, git_repo

from conftest import Workspace
from fake_llm import FakeLLM, secret, use_provider

TITLE = "Rotate the keys"


def test_a_hard_link_or_a_copy_of_the_credentials_file_is_never_sent_and_pool_keys_are_masked(
        workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app.py": "APP-BODY = 1\n"})
    use_provider(workspace, fake, "openai", keys=2)
    keys = workspace.home / "credentials.json"
    os.link(keys, workspace.root / "config.json")  # a hard link: another name, another folder, the same file
    (workspace.root / "backup").mkdir()
    shutil.copy(keys, workspace.root / "backup/keys.backup.json")  # a plain copy: the same bytes
    pretty = json.dumps(json.loads(keys.read_text()), indent=2)  # an edited copy: other bytes, the same keys
    workspace.write("backup/keys.pretty.json", pretty)
    subprocess.run(["git", "add", "-A"], cwd=workspace.root, check=True, env=workspace.env)
    workspace.add_issue(1, TITLE, body="Read config.json, backup/keys.backup.json, backup/keys.pretty.json and "
                        f"src/app.py. The log said: auth failed for {secret('openai', 2)}.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = "\n".join(fake.sent())
    assert "APP-BODY" in sent
    assert "SECRET-key" not in sent and "9f8e7d6c5b4a" not in sent  # no key, nor a piece of one, ever left
    first = drafts(fake)[0]
    assert "<key key-2>" in first  # the issue's pasted key, masked in the request whichever key made the call
    assert '"name": "key-1"' in first and "<key key-1>" in first  # the edited copy went, its keys masked
    assert "config.json not shown: it is the credentials file (" in result.stdout
    assert "backup/keys.backup.json not shown: it is a copy of the credentials file (" in result.stdout


def test_a_failed_ignore_check_sends_nothing_it_could_not_check(workspace: Workspace, fake: FakeLLM) -> None:
    """`git check-ignore` exits 128 when a listed path crosses a link (a folder made a link after it was
    committed): the old code then took nothing as ignored, and a tracked file that git ignores was sent."""
    git_repo(workspace, {"lib/notes.txt": "NOTES-BODY\n", "src/app.py": "APP-BODY = 1\n"}, ignore="build/\n")
    workspace.write("build/tracked.cfg", "TRACKED-IGNORED-SECRET\n")
    subprocess.run(["git", "add", "-f", "build/tracked.cfg"], cwd=workspace.root, check=True, env=workspace.env)
    (workspace.root / "real").mkdir()
    (workspace.root / "lib/notes.txt").rename(workspace.root / "real/notes.txt")
    (workspace.root / "lib").rmdir()
    (workspace.root / "lib").symlink_to("real")  # git's index still lists lib/notes.txt, now beyond a link
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body="Read lib/notes.txt, build/tracked.cfg and src/app.py.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = "\n".join(fake.sent())
    assert "APP-BODY" in sent and "TRACKED-IGNORED-SECRET" not in sent and "NOTES-BODY" not in sent
    assert "build/tracked.cfg not shown: git ignores it" in result.stdout
    assert ("lib/notes.txt not shown: git check-ignore failed with exit 128: pathspec 'lib/notes.txt' is beyond a "
            "symbolic link, so whether git ignores it is unknown") in result.stdout
