"""Processes that use one lease store (a file or a Redis URL) at once, for the pool's concurrency tests:

    python lease_clients.py hammer <store> <held dir> <rounds> <worker> <keys>
        take and give back keys `rounds` times; holding a key is an exclusively created file in <held dir>, so a
        second holder at once fails with FileExistsError; every grant is logged to <held dir>/../grants.log
    python lease_clients.py hold <store> <ttl seconds>
        take the only key, say "held", and keep it (until killed)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.policy import CredentialPool
from agentos_jobs.pool.stores import open_location


def hammer(store: str, held_dir: Path, rounds: int, worker: str, count: int) -> None:
    keys = [Credential(name=f"k{n}", provider="openai", key=f"secret-{n}") for n in range(count)]
    pool = CredentialPool(open_location(store, 30, print), keys, "run", print)
    got = 0
    while got < rounds:
        credential = pool.try_reserve("openai", worker)
        if not isinstance(credential, Credential):
            time.sleep(0.001)
            continue
        flag = held_dir / credential.name
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # fails if another process holds it now
        with (held_dir.parent / "grants.log").open("a") as log:
            log.write(f"{os.environ.get('AGENTOS_HOST_ID')} {credential.name}\n")
        time.sleep(0.001)
        flag.unlink()
        pool.release(credential)
        got += 1


def hold(store: str, ttl: float) -> None:
    pool = CredentialPool(open_location(store, ttl, print), [Credential(name="only", provider="openai", key="s")],
                          "run", print)
    assert isinstance(pool.try_reserve("openai", "LLD-1"), Credential)
    print("held", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    if sys.argv[1] == "hammer":
        hammer(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    else:
        hold(sys.argv[2], float(sys.argv[3]))
