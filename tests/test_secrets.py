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

from agentos_jobs.repo.redact import redact

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


GHP = "ghp_" + "Q7mZ2kT9vR4xW1yB8nC3dF6hJ0pL5sA2eG7u"  # shaped like GitHub's tokens, made up here
SK = "sk-proj-" + "Xq4Tb9Lm2Wv7Rz1Kc8Nd3Hf6Jp0Ys5Ue"


def test_credentials_written_in_ordinary_files_are_redacted_by_content(workspace: Workspace, fake: FakeLLM) -> None:
    """The names say nothing (`config/app.yaml`, `config/deploy_settings.py`); what the files hold does."""
    files = {"config/app.yaml": f"github:\n  owner: acme\n  token: {GHP}\nretries: 3\n",
             "config/deploy_settings.py": f'OPENAI_API_KEY = "{SK}"\nDB_URL = "postgres://app:Zx81pQ2mWv@db:5432/x"\n'
                                          'DB_PASSWORD = "hK3$vq9!Lm2pW7"\nPASSWORD_ENV = "${DB_PASSWORD}"\n'
                                          "max_tokens = 8192\n",
             "docs/setup.md": "Run it.\n\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                              "-----END OPENSSH PRIVATE KEY-----\n\nDone: SETUP-BODY.\n"}
    git_repo(workspace, files)
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body="Read config/app.yaml, config/deploy_settings.py and docs/setup.md.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = "\n".join(fake.sent())
    for value in (GHP, SK, "Zx81pQ2mWv", "hK3$vq9!Lm2pW7", "b3BlbnNzaC1rZXktdjEAAAAA"):
        assert value not in sent, value
    first = drafts(fake)[0]
    for kept in ("owner: acme", "token: <redacted: github-token>", 'OPENAI_API_KEY = "<redacted: openai-key>"',
                 "postgres://app:<redacted: url-password>@db:5432/x", 'DB_PASSWORD = "<redacted: assigned-secret>"',
                 'PASSWORD_ENV = "${DB_PASSWORD}"', "max_tokens = 8192", "<redacted: private-key>", "SETUP-BODY"):
        assert kept in first, kept
    record = (workspace.root / "docs/lineage/active/1-lld/000-context.md").read_text()
    assert "## Credentials redacted" in record
    assert "- config/app.yaml: github-token (1)" in record
    assert "- config/deploy_settings.py: openai-key (1), url-password (1), assigned-secret (1)" in record
    assert "- docs/setup.md: private-key (1)" in record
    assert GHP not in record and SK not in record
    assert "credentials redacted: config/app.yaml: github-token (1)" in result.stdout
    log = next(workspace.base.glob("logs/parallel/*/LLD-1.log")).read_text()
    assert GHP not in log and SK not in log


def test_a_hard_link_to_the_pools_lease_file_is_never_sent(workspace: Workspace, fake: FakeLLM) -> None:
    git_repo(workspace, {"src/app.py": "APP-BODY = 1\n"})
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1, TITLE, body="Read src/app.py.")
    first = workspace.doit("lld")
    assert first.returncode == 0, first.stdout + first.stderr
    lease = workspace.home / "credentials.lease.json"  # the pool's store, beside the credentials file
    os.link(lease, workspace.root / "state.json")
    subprocess.run(["git", "add", "state.json"], cwd=workspace.root, check=True, env=workspace.env)
    workspace.add_issue(2, "Show the state", body="Read state.json and src/app.py.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "state.json not shown: it is the key pool's lease file (" in result.stdout
    assert '"key-1"' not in drafts(fake)[-1]  # the lease file names the keys: it was not sent


def test_a_url_password_is_redacted_with_or_without_a_user_name() -> None:
    """`redis://:PASSWORD@host` has no user name: the old pattern wanted one, and sent the password."""
    for url, kept in (("redis://:Xk9mP2vLq7@cache:6379/0", "redis://:<redacted: url-password>@cache:6379/0"),
                      ("postgres://app:Zx81pQ2mWv@db:5432/x", "postgres://app:<redacted: url-password>@db:5432/x"),
                      ("amqp://guest:guest@rabbit/", "amqp://guest:<redacted: url-password>@rabbit/")):
        text, rules = redact(f'URL = "{url}"\n')
        assert text == f'URL = "{kept}"\n' and rules == ["url-password"], text
    assert redact("see https://example.com/a:b@c")[1] == []  # a path, no password


def test_credentials_written_in_the_issue_itself_are_redacted_in_every_request_and_its_lineage_copy(
        workspace: Workspace, fake: FakeLLM) -> None:
    """The issue's own text was sent verbatim in every request and copied whole into `000-issue.md`, although
    the files it names were redacted by content."""
    git_repo(workspace, {"src/app.py": "APP-BODY = 1\n"})
    use_provider(workspace, fake, "openai", keys=1)
    key_block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAy8Dbv8prpJ\n-----END RSA PRIVATE KEY-----"
    workspace.add_issue(1, f"Rotate {SK} out of CI", body=f"CI fails with token {GHP} in src/app.py.\n\n"
                        f"The deploy key was pasted here too:\n\n{key_block}\n\nThe cache is redis://:Xk9mP2vLq7@cache.")
    result = workspace.doit("lld")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = "\n".join(fake.sent())
    assert len(fake.sent()) >= 2 and "APP-BODY" in sent
    copy = (workspace.root / "docs/lineage/active/1-lld/000-issue.md").read_text()
    for value in (GHP, SK, "MIIEowIBAAKCAQEAy8Dbv8prpJ", "Xk9mP2vLq7"):
        assert value not in sent and value not in copy, value
    for kept in ("Rotate <redacted: openai-key> out of CI", "<redacted: private-key>",
                 "CI fails with token <redacted: github-token> in src/app.py",
                 "redis://:<redacted: url-password>@cache"):
        assert kept in drafts(fake)[0] and kept in copy, kept
    assert all("<redacted: github-token>" in text for text in fake.sent())  # the review's request too
    log = next(workspace.base.glob("logs/parallel/*/LLD-1.log")).read_text()
    said = [line for line in log.splitlines() if "the issue's text holds credentials" in line]
    assert len(said) == 1 and said[0].endswith("redacted before any request or copy: openai-key (1), "
                                               "github-token (1), private-key (1), url-password (1)"), said
    assert GHP not in log and SK not in log and GHP not in result.stdout
