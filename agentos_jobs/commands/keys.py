"""`agentos-jobs keys`: the credential pool as the workers see it, by name only."""

from __future__ import annotations

import sys
from pathlib import Path

from agentos_jobs.core.fsutil import describe_os_error, read_json_object
from agentos_jobs.core.layout import BaseDir, credentials_path
from agentos_jobs.core.settings import load_settings
from agentos_jobs.core.status import EXIT_FAILED
from agentos_jobs.core.text import table_lines
from agentos_jobs.pool.credentials import load_credentials
from agentos_jobs.pool.policy import CredentialPool
from agentos_jobs.pool.stores import open_store


def print_keys() -> int:
    settings = load_settings()
    credentials = load_credentials()
    if not credentials:
        print(f"no keys: {credentials_path()} does not exist and no provider key variable is set")
        return 0
    last_run = read_json_object(BaseDir(settings.base_dir).run_lock_info) or {}
    store = open_store(settings, print)
    store.check()  # a Redis that is down: one line now, not a wait for it to come back
    pool = CredentialPool(store, credentials, str(last_run.get("run_id", "")), print)
    try:
        states = {state.name: state for state in pool.snapshot()}
    except OSError as exc:  # damage the pool rebuilds is said by it; this is what it cannot fix
        print(f"agentos-jobs: error: {describe_os_error(exc, Path(store.where)) or exc}", file=sys.stderr)
        return EXIT_FAILED
    rows = [("NAME", "PROVIDER", "SCOPE", "FINGERPRINT", "STATE")]
    rows += [(c.name, c.provider, c.scope or "-", c.fingerprint, states[c.name].describe()) for c in credentials]
    print("\n".join(table_lines(rows)))
    print(f"source: {credentials_path() if credentials_path().exists() else 'environment'}; "
          f"lease store: {store.where}")
    return 0
