"""The Redis lease store against a real redis-server on a loopback port: atomic under contention from many
processes and two hosts, leases of a killed holder reclaimed after their TTL, a restart costing no item, and a
server that is down said in one line before anything starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from agentos_jobs.core.errors import StoreUnavailable
from agentos_jobs.core.settings import ModelChoice, load_settings
from agentos_jobs.items.discovery import Document
from agentos_jobs.pool import redis_store
from agentos_jobs.pool.credentials import Credential
from agentos_jobs.pool.key_entry import Holder
from agentos_jobs.pool.lease_store import Entries, LeaseStore, T
from agentos_jobs.pool.policy import CredentialPool, PoolView
from agentos_jobs.pool.redis_store import PREFIX, shown_url
from agentos_jobs.pool.stores import open_location
from agentos_jobs.providers.base import Completion, Request
from agentos_jobs.providers.pooled import PooledProvider

from conftest import BIN, LEASE_CLIENTS, RedisServer, Workspace
from fake_llm import FakeLLM, secret, use_provider


def hammer(redis_server: RedisServer, tmp_path: Path, hosts: list[str], rounds: int, keys: int) -> list[str]:
    held = tmp_path / "held"
    held.mkdir()
    procs = [subprocess.Popen([sys.executable, LEASE_CLIENTS, "hammer", redis_server.url, str(held), str(rounds),
                               f"W{n}", str(keys)], stderr=subprocess.PIPE, text=True,
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
    holder = subprocess.Popen([sys.executable, LEASE_CLIENTS, "hold", redis_server.url, str(ttl)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "AGENTOS_HOST_ID": "host-a"})
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
        lease_ends = datetime.fromisoformat(record["expires"])  # read before the kill: a renewal only moves it on
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        while not isinstance(pool.try_reserve("openai", "LLD-2"), Credential):
            assert time.monotonic() - killed < ttl + 1.0, "the lease was not reclaimed after its TTL"
            time.sleep(0.05)
        seconds, micros = redis.Redis.from_url(redis_server.url).time()
        assert datetime.fromtimestamp(seconds + micros / 1e6, UTC) >= lease_ends  # by the store's own clock: not
        # before the lease ran out, a pid means nothing here; and no slowness of this machine can break it
        entry = entries(redis_server)["only"]
        assert entry["reclaimed"] == 1 and [h["item"] for h in entry["holders"]] == ["LLD-2"]  # type: ignore[union-attr]
    finally:
        os.environ.pop("AGENTOS_HOST_ID")


def use_redis(ws: Workspace, fake: FakeLLM, redis_server: RedisServer, keys: int = 1, ttl: str = "3") -> None:
    use_provider(ws, fake, "openai", keys=keys, AGENTOS_LEASE_STORE=redis_server.url, AGENTOS_LEASE_TTL=ttl)


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


def test_a_redis_restarted_mid_run_costs_no_item_and_gives_the_key_no_second_holder(
        workspace: Workspace, fake: FakeLLM, redis_server: RedisServer) -> None:
    use_redis(workspace, fake, redis_server, keys=1, ttl="6")  # one key, max_concurrency 1, and a worker waiting
    key, go = secret("openai", 1), threading.Event()
    fake.hold_until = go.is_set  # the first call stays in flight through the restart
    for number in (1, 2, 3):
        workspace.add_issue(number)
    proc = workspace.start_doit("-n", "2", "lld")
    workspace.wait_for(lambda: fake.in_flight.get(key) == 1 and list(workspace.base.glob("runs/*/waiting/*")),
                       what="a call in flight and the other worker waiting for its key")
    redis_server.stop()
    time.sleep(2.0)
    redis_server.start()  # empty: --save '' --appendonly no
    workspace.wait_for(lambda: entries(redis_server).get("key-1", {}).get("holders"), what="the lease put back")
    go.set()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert set(workspace.statuses().values()) == {"done"} and len(workspace.statuses()) == 3
    assert fake.most_in_flight == {key: 1}  # the waiting worker never had the key while the lease was away
    assert out.count("is out of reach") <= 2 and "Traceback" not in out + err  # once per worker process
    assert sum(int(e["granted"]) for e in entries(redis_server).values()) >= 1  # the run went on writing to it


def test_a_redis_that_is_down_is_one_line_before_any_item(workspace: Workspace, fake: FakeLLM,
                                                          redis_server: RedisServer) -> None:
    use_redis(workspace, fake, redis_server)
    redis_server.stop()
    workspace.add_issue(1)
    where = f"redis://127.0.0.1:{redis_server.port}/0"
    result = workspace.doit("-n", "3", "lld")
    assert result.returncode == 75, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"agentos-jobs: error: lease store {where} cannot be reached (")
    assert "start it, or set lease_store (AGENTOS_LEASE_STORE) to another store" in result.stderr
    assert not fake.calls and not workspace.runs()
    for command in (("keys",), ("run", "lld", "1")):
        done = workspace.command(str(BIN / "agentos-jobs"), *command)
        assert done.returncode == 75, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and f"lease store {where} cannot be reached" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert not fake.calls


def test_a_redis_url_is_shown_without_its_password() -> None:
    assert shown_url("redis://user:hunter2@cache.lan:6380/2") == "redis://cache.lan:6380/2"
    assert shown_url("rediss://:hunter2@cache.lan") == "rediss://cache.lan:6379/0"


def one_key_pool(store: LeaseStore, said: list[str], max_concurrency: int = 1) -> CredentialPool:
    return CredentialPool(store, [Credential(name="only", provider="openai", key="sk-test-0123456789abcdef",
                                             max_concurrency=max_concurrency)], "run", said.append)


def test_a_reservation_retried_after_its_reply_was_lost_holds_one_lease(redis_server: RedisServer,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_location(redis_server.url, 30, print)
    applied = store._transaction  # type: ignore[attr-defined]
    lost: list[bool] = []

    def reply_lost_once(names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        result = applied(names, change)  # EXEC applied ...
        if not lost:
            lost.append(True)
            raise redis.exceptions.ConnectionError("Connection closed by server.")  # ... its reply never came
        return result  # type: ignore[no-any-return]

    monkeypatch.setattr(store, "_transaction", reply_lost_once)
    pool = one_key_pool(store, [], max_concurrency=2)
    got = pool.try_reserve("openai", "LLD-1")
    assert isinstance(got, Credential) and lost
    entry = entries(redis_server)["only"]
    assert len(entry["holders"]) == 1 and entry["granted"] == 1  # type: ignore[arg-type]
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    entry["holders"] *= 2  # type: ignore[operator]  # two records of one token, as an older version left them
    client.set(PREFIX + "only", json.dumps(entry))
    pool.release(got)
    assert entries(redis_server)["only"]["holders"] == []


def test_a_lost_lease_is_put_back_even_when_the_key_went_to_another_holder(redis_server: RedisServer) -> None:
    """A Redis restarted empty forgets a lease in flight; a process that never saw it may take the key. The
    holder puts its lease back all the same, says so naming the other, and no third call gets the key until both
    are done (it used to give its lease up: the key could then go to a third call while its own still ran)."""
    said: list[str] = []
    pool = one_key_pool(open_location(redis_server.url, 30, said.append), said)
    other, third = (one_key_pool(open_location(redis_server.url, 30, print), []) for _ in range(2))
    mine = pool.try_reserve("openai", "LLD-1")
    assert isinstance(mine, Credential)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()  # a Redis restarted empty
    pool.renew()
    assert [h["item"] for h in entries(redis_server)["only"]["holders"]] == ["LLD-1"]  # type: ignore[union-attr]
    client.flushall()
    taken = other.try_reserve("openai", "LLD-2")  # a process that never saw the key
    assert isinstance(taken, Credential)
    pool.renew()
    holders = entries(redis_server)["only"]["holders"]
    assert sorted(h["item"] for h in holders) == ["LLD-1", "LLD-2"]  # type: ignore[union-attr]
    assert len(said) == 1 and "the lease of key only for LLD-1 was lost" in said[0] and "and LLD-2 (pid " in said[0]
    other.release(taken, {}, True)
    assert isinstance(third.try_reserve("openai", "LLD-3"), PoolView)  # LLD-1's call still runs on it
    pool.renew()
    assert len(said) == 1  # said once


def test_a_key_whose_entry_vanished_is_kept_a_ttl_for_its_holder(redis_server: RedisServer) -> None:
    holder, waiter = one_key_pool(open_location(redis_server.url, 30, print), []), \
        one_key_pool(open_location(redis_server.url, 30, print), [])
    assert isinstance(holder.try_reserve("openai", "LLD-1"), Credential)
    assert isinstance(waiter.try_reserve("openai", "LLD-2"), PoolView)  # the waiter has seen the key held
    redis.Redis.from_url(redis_server.url).flushall()
    view = waiter.try_reserve("openai", "LLD-2")
    assert isinstance(view, PoolView) and view.cooling == 1 and view.next_free_at is not None
    assert 25 < (view.next_free_at - datetime.now(UTC)).total_seconds() <= 30
    holder.renew()
    assert [h["item"] for h in entries(redis_server)["only"]["holders"]] == ["LLD-1"]  # type: ignore[union-attr]


class SlowStore:
    """A store whose renewals wait on demand, as on a Redis out of reach, or fail with an error that is not
    StoreUnavailable, or end the heartbeat thread."""

    heartbeat_seconds: float | None = 0.05

    def __init__(self, inner: LeaseStore) -> None:
        self.inner, self.where = inner, inner.where
        self.slow, self.waiting, self.go = threading.Event(), threading.Event(), threading.Event()
        self.failures = self.renewed = 0
        self.ending = False

    def update(self, names: Sequence[str], change: Callable[[Entries, datetime], T]) -> T:
        if change.__name__ != "renew":
            return self.inner.update(names, change)
        if self.ending:
            raise SystemExit
        if self.failures:
            self.failures -= 1
            raise RuntimeError("an unexpected reply")
        if self.slow.is_set():
            self.waiting.set()
            self.go.wait(30)
        result = self.inner.update(names, change)
        self.renewed += 1
        return result

    def stamp(self, holder: Holder, now: datetime) -> Holder:
        return self.inner.stamp(holder, now)

    def check(self) -> None:
        self.inner.check()


def expiry(redis_server: RedisServer) -> str:
    return str(entries(redis_server)["only"]["holders"][0]["expires"])  # type: ignore[index]


def test_the_heartbeat_outlives_any_failure_and_never_blocks_a_release(redis_server: RedisServer) -> None:
    said: list[str] = []
    store = SlowStore(open_location(redis_server.url, 30, print))
    pool = one_key_pool(store, said)
    store.failures = 3
    got = pool.try_reserve("openai", "LLD-1")
    assert isinstance(got, Credential)
    first = expiry(redis_server)
    deadline = time.monotonic() + 10
    while expiry(redis_server) == first:  # renewed again after three failed beats
        assert time.monotonic() < deadline, "the heartbeat died"
        time.sleep(0.05)
    assert said == ["renewing the key leases failed (RuntimeError: an unexpected reply); trying again at every beat"]
    store.slow.set()
    assert store.waiting.wait(10)  # the heartbeat is inside a renewal that waits, as for a Redis out of reach
    releasing = threading.Thread(target=pool.release, args=(got,))
    releasing.start()
    releasing.join(10)
    blocked = releasing.is_alive()
    renewed = store.renewed
    store.go.set()
    assert not blocked and entries(redis_server)["only"]["holders"] == []
    deadline = time.monotonic() + 10
    while store.renewed == renewed:  # the waiting renewal ends: the lease released meanwhile is not put back
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert entries(redis_server)["only"]["holders"] == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit it ends on
def test_a_heartbeat_thread_that_ends_is_started_again(redis_server: RedisServer) -> None:
    store = SlowStore(open_location(redis_server.url, 30, print))
    pool = one_key_pool(store, [], max_concurrency=2)
    store.ending = True
    assert isinstance(pool.try_reserve("openai", "LLD-1"), Credential)
    beat = pool._heartbeat
    assert beat is not None
    beat.join(5)
    assert not beat.is_alive() and pool._heartbeat is None
    store.ending = False
    assert isinstance(pool.try_reserve("openai", "LLD-2"), Credential)
    assert pool._heartbeat is not None and pool._heartbeat.is_alive()


def test_an_answer_is_kept_when_the_store_is_gone_at_release(redis_server: RedisServer, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_store, "RECONNECT_SECONDS", 0.5)
    said: list[str] = []
    settings = load_settings(tmp_path, {"AGENTOS_BASE_DIR": str(tmp_path / "base"), "AGENTOS_LEASE_TTL": "30"})
    pool = one_key_pool(open_location(redis_server.url, 30, said.append), said)

    class StoreDiesDuringTheCall:
        def call(self, credential: Credential, request: Request) -> Completion:
            redis_server.stop()
            return Completion(text="the answer", model="gpt-test")

    provider = PooledProvider(ModelChoice("openai", "gpt-test"), StoreDiesDuringTheCall(), pool, settings, "LLD-1",
                              said.append)
    answer = provider.complete(Request(kind="lld-draft", system="s", prompt="p", document=Document("t", "b"),
                                       item_id="LLD-1"))
    assert answer.text == "the answer"
    assert said[-1].startswith(f"key only not released: lease store {shown_url(redis_server.url)} cannot be reached")
    assert said[-1].endswith("its lease runs out by itself after lease_ttl_seconds=30")


def test_a_wrong_password_is_said_at_once_and_never_shown(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "right-one")
    store = open_location(redis_server.url.replace("//", "//:hunter2@"), 30, print)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        one_key_pool(store, []).try_reserve("openai", "LLD-1")
    assert time.monotonic() - started < 5  # not the 60 s wait for a server out of reach
    message = str(caught.value)
    assert message.startswith(f"lease store {redis_server.url} refused the credentials in its URL (")
    assert message.endswith("; set the right user and password in lease_store (AGENTOS_LEASE_STORE)")
    assert "hunter2" not in message and "right-one" not in message and "\n" not in message
    with pytest.raises(StoreUnavailable, match="refused the credentials"):
        store.check()


def test_a_redis_that_refuses_the_password_stops_the_run_as_a_setting_to_fix(workspace: Workspace, fake: FakeLLM,
                                                                              redis_server: RedisServer) -> None:
    """Out of reach is exit 75 (run again later); a store that answers but refuses will not change its mind: 3."""
    use_provider(workspace, fake, "openai", AGENTOS_LEASE_STORE=redis_server.url.replace("//", "//:hunter2@"))
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "right-one")
    workspace.add_issue(1)
    for done in (workspace.doit("-n", "3", "lld"), workspace.command(str(BIN / "agentos-jobs"), "keys")):
        assert done.returncode == 3, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and "refused the credentials in its URL" in done.stderr
        assert "Traceback" not in done.stdout + done.stderr and "hunter2" not in done.stdout + done.stderr
    assert not fake.calls


def test_a_read_only_replica_is_said_as_what_it_is(redis_server: RedisServer) -> None:
    redis.Redis.from_url(redis_server.url).replicaof("127.0.0.1", "1")  # a primary that is not there
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        one_key_pool(open_location(redis_server.url, 30, print), []).try_reserve("openai", "LLD-1")
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(f"lease store {redis_server.url} refused the request (You can't write "
                                        "against a read only replica.); ")  # not the transaction's command
    assert str(caught.value).endswith("it is a read-only replica: point lease_store (AGENTOS_LEASE_STORE) at the "
                                      "primary")


def test_a_lease_expiring_impossibly_far_ahead_is_reclaimed_and_a_wait_names_the_holder(
        workspace: Workspace, fake: FakeLLM, redis_server: RedisServer) -> None:
    """A lease whose expiry is years ahead (a clock gone wrong, a hand edit) used to keep its key from every item
    until worker_timeout_seconds, with a wait line that said only "1 in use"."""
    use_redis(workspace, fake, redis_server, keys=1)
    broken = {"item": "LLD-9", "pid": 4242, "lease": "0" * 16, "since": "2026-01-01T00:00:00+00:00",
              "host": "elsewhere", "expires": "2099-01-01T00:00:00+00:00"}
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.set(PREFIX + "key-1", json.dumps({"provider": "openai", "scope": None, "holders": [broken], "granted": 1}))
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"AGENTOS_WORKER_TIMEOUT": "30"})
    assert result.returncode == 0, result.stdout + result.stderr
    said = [line for line in result.stdout.splitlines() if "treated as broken" in line]
    assert len(said) == 1 and "the lease of key 'key-1' held by LLD-9 (pid 4242 on elsewhere, lease until " \
                               "2099-01-01T00:00:00+00:00) expires at 2099-01-01T00:00:00+00:00" in said[0]

    holder, waiter = (one_key_pool(open_location(redis_server.url, 30, print), []) for _ in range(2))
    assert isinstance(holder.try_reserve("openai", "LLD-1"), Credential)
    view = waiter.try_reserve("openai", "LLD-2")
    assert isinstance(view, PoolView)
    assert view.line("openai").startswith(f"no openai key free: 1 in use (only by LLD-1 (pid {os.getpid()} on ")
