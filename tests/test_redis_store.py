"""The Redis lease store against a real redis-server on a loopback port: atomic under contention from many
processes and two hosts, leases of a killed holder reclaimed after their TTL, a restart costing no item, and a
server that is down said in one line before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from agentos_jobs.credentials import Credential
from agentos_jobs.lease_store import open_location
from agentos_jobs.pool import CredentialPool, PoolView
from agentos_jobs.redis_store import PREFIX, shown_url

from conftest import BIN, RedisServer, Workspace
from fake_llm import FakeLLM, secret, use_provider

HAMMER = r"""
import os, sys, time
from pathlib import Path

from agentos_jobs.credentials import Credential
from agentos_jobs.lease_store import open_location
from agentos_jobs.pool import CredentialPool
url, held_dir, rounds, worker, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
keys = [Credential(name=f"k{n}", provider="openai", key=f"secret-{n}") for n in range(count)]
pool = CredentialPool(open_location(url, 30, print), keys, "run", print)
got = 0
while got < rounds:
    credential = pool.try_reserve("openai", worker)
    if not isinstance(credential, Credential):
        time.sleep(0.001)
        continue
    flag = held_dir / credential.name
    fd = os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another process holds this key now
    os.close(fd)
    with (held_dir.parent / "grants.log").open("a") as log:
        log.write(f"{os.environ.get('AGENTOS_HOST_ID')} {credential.name}\n")
    time.sleep(0.001)
    flag.unlink()
    pool.release(credential)
    got += 1
"""

HOLD = r"""
import sys, time

from agentos_jobs.credentials import Credential
from agentos_jobs.lease_store import open_location
from agentos_jobs.pool import CredentialPool
pool = CredentialPool(open_location(sys.argv[1], float(sys.argv[2]), print),
                      [Credential(name="only", provider="openai", key="s")], "run", print)
assert isinstance(pool.try_reserve("openai", "LLD-1"), Credential)
print("held", flush=True)
time.sleep(60)
"""


def hammer(redis_server: RedisServer, tmp_path: Path, hosts: list[str], rounds: int, keys: int) -> list[str]:
    held = tmp_path / "held"
    held.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", HAMMER, redis_server.url, str(held), str(rounds), f"W{n}",
                               str(keys)], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "AGENTOS_HOST_ID": host}) for n, host in enumerate(hosts)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err  # a FileExistsError here means two holders at once
    assert list(held.iterdir()) == []
    return (tmp_path / "grants.log").read_text().splitlines()


def entries(redis_server: RedisServer) -> dict[str, dict[str, object]]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    return {key.removeprefix(PREFIX): json.loads(client.get(key) or "{}") for key in client.keys("*")}


def test_eight_processes_lose_no_update_and_never_share_a_key(redis_server: RedisServer, tmp_path: Path) -> None:
    grants = hammer(redis_server, tmp_path, ["host-a"] * 8, 40, keys=3)
    assert len(grants) == 8 * 40
    state = entries(redis_server)
    assert sorted(state) == ["k0", "k1", "k2"]
    assert sum(int(entry["granted"]) for entry in state.values()) == 8 * 40  # no update lost
    assert all(entry["holders"] == [] for entry in state.values())


def test_two_hosts_contend_for_two_keys(redis_server: RedisServer, tmp_path: Path) -> None:
    grants = hammer(redis_server, tmp_path, ["host-a"] * 3 + ["host-b"] * 3, 30, keys=2)
    assert len(grants) == 6 * 30
    assert {tuple(line.split()) for line in grants} == {("host-a", "k0"), ("host-a", "k1"), ("host-b", "k0"),
                                                         ("host-b", "k1")}
    assert sum(int(entry["granted"]) for entry in entries(redis_server).values()) == 6 * 30


def test_a_lease_is_kept_while_renewed_and_reclaimed_after_its_ttl_once_its_holder_is_killed(
        redis_server: RedisServer) -> None:
    ttl = 1.5
    holder = subprocess.Popen([sys.executable, "-c", HOLD, redis_server.url, str(ttl)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "AGENTOS_HOST_ID": "host-a"})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    os.environ["AGENTOS_HOST_ID"] = "host-b"  # another machine: host-a's pid means nothing here
    try:
        pool = CredentialPool(open_location(redis_server.url, ttl, print),
                              [Credential(name="only", provider="openai", key="s")], "run", print)
        deadline = time.monotonic() + 3 * ttl  # twice its TTL and more: the heartbeat keeps it
        while time.monotonic() < deadline:
            busy = pool.try_reserve("openai", "LLD-2")
            assert isinstance(busy, PoolView) and busy.in_use == 1
            time.sleep(0.1)
        [record] = entries(redis_server)["only"]["holders"]  # type: ignore[misc]
        assert record["host"] == "host-a" and record["item"] == "LLD-1"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        while not isinstance(pool.try_reserve("openai", "LLD-2"), Credential):
            assert time.monotonic() - killed < ttl + 1.0, "the lease was not reclaimed after its TTL"
            time.sleep(0.05)
        assert time.monotonic() - killed > ttl / 3  # not before the lease ran out: a pid means nothing here
        entry = entries(redis_server)["only"]
        assert entry["reclaimed"] == 1 and [h["item"] for h in entry["holders"]] == ["LLD-2"]  # type: ignore[union-attr]
    finally:
        os.environ.pop("AGENTOS_HOST_ID")


def use_redis(ws: Workspace, fake: FakeLLM, redis_server: RedisServer, keys: int = 1) -> None:
    use_provider(ws, fake, "openai", keys=keys, AGENTOS_LEASE_STORE=redis_server.url, AGENTOS_LEASE_TTL="3")


def test_a_run_on_redis_keeps_key_names_only_and_keys_shows_the_store(workspace: Workspace, fake: FakeLLM,
                                                                     redis_server: RedisServer) -> None:
    use_redis(workspace, fake, redis_server, keys=2)
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 0, result.stdout + result.stderr
    assert max(fake.most_in_flight.values()) == 1
    state = entries(redis_server)
    assert sorted(state) == ["key-1", "key-2"] and sum(int(e["granted"]) for e in state.values()) == 6
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    dump = " ".join(f"{key} {client.get(key)}" for key in client.keys("*"))
    pieces = {secret("openai", n)[i : i + 10] for n in (1, 2) for i in range(len(secret("openai", n)) - 9)}
    assert not [piece for piece in pieces if piece in dump]
    assert not (workspace.home / "credentials.lease.json").exists()  # nothing went to the file store
    keys = workspace.command(str(BIN / "agentos-jobs"), "keys")
    assert keys.returncode == 0 and f"lease store: redis://127.0.0.1:{redis_server.port}/0" in keys.stdout


def test_a_redis_restarted_mid_run_costs_no_item(workspace: Workspace, fake: FakeLLM,
                                                 redis_server: RedisServer) -> None:
    use_redis(workspace, fake, redis_server, keys=2)
    fake.delay = 1.0
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld")
    workspace.wait_for(lambda: len(fake.calls) >= 1, what="a first answer")
    redis_server.stop()
    time.sleep(2.0)
    redis_server.start()  # empty: --save '' --appendonly no
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert set(workspace.statuses().values()) == {"done"} and len(workspace.statuses()) == 4
    assert "is out of reach" in out and "Traceback" not in out + err
    assert sum(int(e["granted"]) for e in entries(redis_server).values()) >= 1  # the run went on writing to it


def test_a_redis_that_is_down_is_one_line_before_any_item(workspace: Workspace, fake: FakeLLM,
                                                          redis_server: RedisServer) -> None:
    use_redis(workspace, fake, redis_server)
    redis_server.stop()
    workspace.add_issue(1)
    where = f"redis://127.0.0.1:{redis_server.port}/0"
    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"agentos-jobs: error: lease store {where} cannot be reached (")
    assert "start it, or set lease_store (AGENTOS_LEASE_STORE) to another store" in result.stderr
    assert not fake.calls and not workspace.runs()
    for command in (("keys",), ("run", "lld", "1")):
        done = workspace.command(str(BIN / "agentos-jobs"), *command)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and f"lease store {where} cannot be reached" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert not fake.calls


def test_a_redis_url_is_shown_without_its_password() -> None:
    assert shown_url("redis://user:hunter2@cache.lan:6380/2") == "redis://cache.lan:6380/2"
    assert shown_url("rediss://:hunter2@cache.lan") == "rediss://cache.lan:6379/0"
