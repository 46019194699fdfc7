"""Scenario 150 and the rest of issue 4: one trace per run, OTLP export, progress, gh sync, past reports."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from agentos_jobs.procs.prefixer import tinted_prefix

from conftest import BIN, Workspace
from fake_llm import SNAPSHOT, FakeLLM, use_provider

STEPS = ("draft-1", "gate-1", "review-1", "finalize")  # an item approved in its first round

OUTER_TRACE, OUTER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def spans(ws: Workspace) -> list[dict[str, Any]]:
    run_dir = ws.base / "runs" / ws.summary()["run_id"] / "spans"
    return [json.loads(line) for path in sorted(run_dir.glob("*.jsonl")) for line in path.read_text().splitlines()]


def test_150_every_span_of_a_parallel_run_shares_its_trace_with_correct_parents(workspace: Workspace) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    result = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_OFFLINE_LATENCY": "0.3"})
    assert result.returncode == 0, result.stdout + result.stderr
    found = spans(workspace)
    by_id = {s["span_id"]: s for s in found}
    trace_id = workspace.summary()["trace_id"]
    assert {s["trace_id"] for s in found} == {trace_id}
    roots = [s for s in found if s["parent_span_id"] is None]
    assert [r["name"] for r in roots] == [f"run {workspace.summary()['run_id']}"]

    def parent(span: dict[str, Any]) -> str:
        return str(by_id[span["parent_span_id"]]["name"])

    items = [s for s in found if s["name"].startswith("item ")]
    steps = [s for s in found if s["name"].startswith("step ")]
    calls = [s for s in found if s["attributes"].get("gen_ai.operation.name") == "chat"]
    assert len(items) == 4 and all(parent(s) == roots[0]["name"] for s in items)
    assert sorted(s["name"] for s in steps) == sorted(f"step {name}" for name in STEPS * 4)
    assert all(parent(s).startswith("item LLD-") for s in steps)
    assert len(calls) == 8 and all(parent(s) in ("step draft-1", "step review-1") for s in calls)
    assert {s["attributes"]["gen_ai.provider.name"] for s in calls} == {"offline"}
    workflow_pids = {s["resource"]["process.pid"] for s in steps}
    assert len(workflow_pids) == 4  # one workflow process per item ...
    resources = {s["resource"]["process.pid"]: s["resource"] for s in found}
    assert len({r["service.instance.id"] for r in resources.values()}) == len(resources)  # each process its own
    assert all(r["service.name"] == "agentos-jobs" and r["telemetry.sdk.name"] == "opentelemetry"
               for r in resources.values())
    starts = sorted(s["start_ns"] for s in steps if s["name"] == "step draft-1")
    ends = sorted(s["end_ns"] for s in steps if s["name"] == "step finalize")
    assert starts[2] < ends[0]  # ... and three of them were at work at once: the third began before any ended
    for s in found:  # the parent is always in this run's trace: no span hangs loose
        assert s["parent_span_id"] is None or s["parent_span_id"] in by_id
    for number in (1, 2, 3, 4):
        log = next((workspace.base / "logs/parallel").glob(f"*/LLD-{number}.log")).read_text()
        assert log.splitlines()[0].startswith(f"# trace {trace_id} ")


def test_a_run_under_an_outer_traceparent_joins_it(workspace: Workspace) -> None:
    """And the resource the user sets is every span's (the warm parent detects it once for all its forks)."""
    workspace.add_issue(1)
    result = workspace.doit("lld", extra_env={"TRACEPARENT": f"00-{OUTER_TRACE}-{OUTER_SPAN}-01",
                                              "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=ci-7,team=docs"})
    assert result.returncode == 0, result.stdout
    found = spans(workspace)
    assert {s["trace_id"] for s in found} == {OUTER_TRACE}
    run = next(s for s in found if s["name"].startswith("run "))
    assert run["parent_span_id"] == OUTER_SPAN
    assert {(s["resource"]["service.instance.id"], s["resource"]["team"]) for s in found} == {("ci-7", "docs")}
    assert {s["resource"]["agentos.process"] for s in found} >= {"wrapper", "workflow"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_otlp_endpoint_changes_nothing_but_a_warning(workspace: Workspace) -> None:
    for number in (1, 2, 3):
        workspace.add_issue(number)
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = workspace.doit("-n", "3", "lld", extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"agentos-jobs: warning: OTLP export to {endpoint} failed; the run goes on and its spans stay in its "
        "spans/ directory"]
    assert time.monotonic() - started < 15
    assert workspace.statuses() == {"LLD-1": "done", "LLD-2": "done", "LLD-3": "done"}
    assert len(spans(workspace)) == 1 + 3 * (1 + len(STEPS) + 2)


def test_a_reachable_otlp_endpoint_receives_the_whole_trace(workspace: Workspace) -> None:
    received: list[ExportTraceServiceRequest] = []

    def collect(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(request.get_data())
        received.append(message)
        return Response(b"", status=200, content_type="application/x-protobuf")

    collector = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    collector.expect_request("/v1/traces", method="POST").respond_with_handler(collect)
    collector.start()
    try:
        workspace.add_issue(1)
        workspace.add_issue(2)
        result = workspace.doit("lld", extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url_for("/").rstrip("/")})
    finally:
        collector.stop()
    assert result.returncode == 0 and result.stderr == "", result.stderr
    exported = [span for message in received for resource in message.resource_spans
                for scope in resource.scope_spans for span in scope.spans]
    assert len(exported) == len(spans(workspace)) == 1 + 2 * (1 + len(STEPS) + 2)
    assert {span.trace_id.hex() for span in exported} == {workspace.summary()["trace_id"]}


def test_llm_call_spans_name_the_key_and_never_hold_it(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    workspace.add_issue(1)
    assert workspace.doit("lld").returncode == 0
    calls = [s for s in spans(workspace) if s["name"] == "chat gpt-test"]  # the GenAI conventions' span name
    assert len(calls) == 2
    assert all(s["kind"] == "CLIENT" and s["attributes"]["gen_ai.operation.name"] == "chat" for s in calls)
    assert {(s["attributes"]["gen_ai.provider.name"], s["attributes"]["gen_ai.system"]) for s in calls} == {
        ("openai", "openai")}
    assert {s["attributes"]["agentos.key_name"] for s in calls} == {"key-1"}
    assert all(s["attributes"]["gen_ai.usage.input_tokens"] == 100 and s["attributes"]["agentos.outcome"] == "ok"
               for s in calls)
    assert {(s["attributes"]["gen_ai.request.model"], s["attributes"]["gen_ai.response.model"]) for s in calls} == {
        ("gpt-test", "gpt-test" + SNAPSHOT)}  # asked for, and the dated model that answered
    text = "".join(p.read_text() for p in (workspace.base / "runs").rglob("*.jsonl"))
    assert "SECRET" not in text


def test_plain_progress_lines_when_output_is_not_a_terminal(workspace: Workspace, fake: FakeLLM) -> None:
    use_provider(workspace, fake, "openai", keys=1)
    fake.delay = 0.6
    for number in (1, 2, 3):
        workspace.add_issue(number)
    result = workspace.doit("-n", "3", "lld", extra_env={"AGENTOS_PROGRESS_INTERVAL": "0.3"})
    assert result.returncode == 0, result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 3
    assert any("waiting for a key" in line for line in lines)
    assert any("/3 done" in line and "running" in line and "ETA" in line for line in lines)
    assert "\x1b[K" not in result.stdout


def test_progress_line_is_redrawn_in_place_on_a_terminal(workspace: Workspace) -> None:
    for number in (1, 2, 3, 4):
        workspace.add_issue(number)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([str(BIN / "doit"), "-n", "2", "lld"], cwd=workspace.root, stdin=subprocess.DEVNULL,
                            stdout=secondary, stderr=secondary, env={**workspace.env, "AGENTOS_OFFLINE_LATENCY": "0.5"})
    os.close(secondary)
    screen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    proc.wait(30)
    os.close(primary)
    text = screen.decode()
    assert proc.returncode == 0, text
    assert "\r\x1b[Kprogress: " in text
    assert f"\r\x1b[K{tinted_prefix('LLD-1')} started" in text  # item lines replace the status line
    redraws = text.count("\r\x1b[Kprogress: ")
    assert redraws >= 3 and "\nprogress: " not in text


FAKE_GH = """#!{python}
import json, os, sys
mode = os.environ.get("FAKE_GH_MODE", "ok")
if mode == "unauthenticated":
    sys.stderr.write("To get started with GitHub CLI, please run:  gh auth login\\n")
    sys.exit(4)
assert sys.argv[1:3] == ["issue", "list"] and "--json" in sys.argv, sys.argv
with open(os.environ["FAKE_GH_ISSUES"]) as handle:
    print(handle.read())
"""


def _fake_gh(ws: Workspace, issues: list[dict[str, Any]]) -> Path:
    bindir = ws.home / "bin"
    bindir.mkdir(exist_ok=True)
    gh = bindir / "gh"
    gh.write_text(FAKE_GH.format(python=sys.executable))
    gh.chmod(0o755)
    data = ws.home / "gh-issues.json"
    data.write_text(json.dumps(issues))
    ws.env.update({"PATH": f"{bindir}{os.pathsep}{ws.env['PATH']}", "FAKE_GH_ISSUES": str(data)})
    return data


def _gh_issue(number: int, title: str) -> dict[str, Any]:
    return {"number": number, "title": title, "labels": [{"name": "enhancement", "color": "a2eeef"}],
            "body": f"About {title}.\n\n- [ ] {title} works\n- [ ] a test shows it"}


def test_sync_writes_only_what_changed_and_lld_picks_it_up(workspace: Workspace) -> None:
    data = _fake_gh(workspace, [_gh_issue(7, "Seven"), _gh_issue(8, "Eight")])
    first = workspace.doit("sync_issues")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "synced 2 open issue(s) into docs/issues: 2 new" in first.stdout
    seven = workspace.root / "docs/issues/7.json"
    stamp = seven.stat().st_mtime_ns
    assert workspace.doit("lld").returncode == 0
    assert workspace.statuses() == {"LLD-7": "done", "LLD-8": "done"}

    data.write_text(json.dumps([_gh_issue(7, "Seven"), _gh_issue(8, "Eight, edited"), _gh_issue(9, "Nine")]))
    second = workspace.command(str(BIN / "agentos-jobs"), "sync")
    assert second.returncode == 0
    assert "1 new, 1 updated, 1 unchanged" in second.stdout and "new: #9" in second.stdout
    assert seven.stat().st_mtime_ns == stamp
    assert workspace.doit("lld").returncode == 0
    assert workspace.statuses() == {"LLD-7": "up-to-date", "LLD-8": "done", "LLD-9": "done"}


def test_sync_says_clearly_when_gh_is_missing_or_logged_out(workspace: Workspace) -> None:
    workspace.env["PATH"] = str(BIN)  # no gh here
    missing = workspace.command(str(BIN / "agentos-jobs"), "sync")
    assert missing.returncode == 1
    assert missing.stderr == ("agentos-jobs: error: gh (the GitHub CLI) is not on PATH; install it from "
                              "https://cli.github.com and run: gh auth login\n")
    _fake_gh(workspace, [])
    workspace.env["FAKE_GH_MODE"] = "unauthenticated"
    logged_out = workspace.doit("sync_issues")
    assert logged_out.returncode == 1
    assert "gh is not logged in to GitHub; run: gh auth login" in logged_out.stderr
    assert "TaskFailed" not in logged_out.stdout + logged_out.stderr
    assert not (workspace.root / "docs/issues").exists() or not list((workspace.root / "docs/issues").iterdir())


def test_report_reprints_a_past_run(workspace: Workspace) -> None:
    workspace.add_issue(1)
    workspace.write("docs/issues/2.md", "no title\n")
    run = workspace.doit("lld")
    assert run.returncode == 1
    table = run.stdout[run.stdout.index("agentos-jobs run "):]
    again = workspace.command(str(BIN / "agentos-jobs"), "report")
    assert again.returncode == 0 and again.stdout == table
    run_id = workspace.summary()["run_id"]
    as_json = workspace.command(str(BIN / "agentos-jobs"), "report", run_id[:18], "--json")
    assert json.loads(as_json.stdout) == workspace.summary()
    unknown = workspace.command(str(BIN / "agentos-jobs"), "report", "1999")
    assert unknown.returncode == 1 and "'1999' is not a run; recent runs: " in unknown.stderr
    summary = workspace.runs()[-1]
    summary.write_text(json.dumps({"run_id": run_id, "items": []}))  # no totals: edited, or another version's
    damaged = workspace.command(str(BIN / "agentos-jobs"), "report")
    assert damaged.returncode == 1 and damaged.stderr.splitlines() == [
        f"agentos-jobs: error: {summary}: not a summary this version can print (KeyError: 'totals'); "
        "'agentos-jobs report --json' shows it as it is"]
