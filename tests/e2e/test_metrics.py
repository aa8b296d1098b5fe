"""/metrics and JSON logs end to end: a real turn through web (gunicorn) and worker (Celery) processes, read back
from the web's /metrics, which adds up what both kinds of process wrote under METRICS_DIR."""
from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for
from tests.support.chat_client import ChatClient
from tests.support.processes import free_port, http_ok, start_web, wait_until
from tests.support.stack import isolated_stack

METRICS_TOKEN = "metrics-token-0123456789-abcdefghijklmnopq"


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(web: str, token: str = TEST_SERVICE_KEY) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics as {(name, labels): value}."""
    status, body = _get(f"{web}/metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name: str, **labels) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= series)


def test_a_turn_with_a_query_shows_in_metrics_from_web_and_worker(web, chat, llm):
    before = scrape(web)
    client, *others = [chat() for _ in range(3)]
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    # Sockets of earlier tests may still be closing: this test's three are at least counted, and go again.
    opened = wait_until(lambda: (s := scrape(web)) and value(s, "fluxbase_sockets_open") >= 3 and s, 10,
                        "the open sockets to be counted")
    sockets = value(opened, "fluxbase_sockets_open")

    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT id FROM orders",
                                                                "description": "my orders"}}], usage=(200, 20))
    llm.reply_tool_calls([{"name": "no_such_tool", "arguments": {}}], usage=(10, 2))
    llm.reply_text("You have 5 orders.", usage=(300, 6))
    events = client.ask(conversation, "How many orders do I have?")
    assert events[-1]["type"] == "done"

    def finished():
        now = scrape(web)
        relayed = total(now, "fluxbase_relay_lag_seconds_count") - total(before, "fluxbase_relay_lag_seconds_count")
        return value(now, "fluxbase_turns_finished_total", outcome="done", code="") > \
            value(before, "fluxbase_turns_finished_total", outcome="done", code="") and relayed >= len(events) and now
    # The worker counts after it published the ending; the web after each send: neither before the client saw it.
    after = wait_until(finished, 10, "the worker and the web to count the turn")

    def grew(name: str, **labels) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("fluxbase_turns_started_total") >= 1                                     # web
    assert grew("fluxbase_tool_calls_total", tool="execute_sql", verdict="ok") >= 1       # worker
    assert grew("fluxbase_tool_calls_total", tool="unknown", verdict="refused") >= 1      # not the model's name
    assert not any(n == "fluxbase_tool_calls_total" and ("tool", "no_such_tool") in series for n, series in after)
    assert grew("fluxbase_tokens_total", namespace="tests", chatbot="shop", kind="prompt") >= 510
    assert grew("fluxbase_tokens_total", namespace="tests", chatbot="shop", kind="completion") >= 28
    assert grew("fluxbase_turn_duration_seconds_count", outcome="done") >= 1
    assert grew("fluxbase_time_to_first_delta_seconds_count") >= 1                       # web, per socket
    assert total(after, "fluxbase_relay_lag_seconds_bucket", le="+Inf") == total(after, "fluxbase_relay_lag_seconds_count")
    assert value(after, "fluxbase_queue_up") == 1
    assert ("fluxbase_queue_depth", frozenset({("queue", "fluxbase")})) in after
    assert ("fluxbase_queue_depth", frozenset({("queue", "embeddings")})) in after
    assert ("fluxbase_queue_unacked", frozenset()) in after

    for each in (client, *others):
        each.close()
    wait_until(lambda: value(scrape(web), "fluxbase_sockets_open") <= sockets - 3, 10, "the closed sockets to count")


def test_a_limit_refusal_is_counted_by_limit(web, chat, llm):
    before = scrape(web)
    client = chat()
    conversation = client.start_chat("shop-short", namespace="tests")["conversation_id"]
    llm.reply_text("One answer only.")
    assert client.ask(conversation, "first")[-1]["type"] == "done"
    refused = client.ask(conversation, "second")[-1]
    assert (refused["type"], refused["code"]) == ("error", "TURN_LIMIT")
    after = scrape(web)
    assert value(after, "fluxbase_limit_refusals_total", limit="turns") == \
        value(before, "fluxbase_limit_refusals_total", limit="turns") + 1


def test_metrics_need_the_token_or_the_service_key(web):
    status, body = _get(f"{web}/metrics")
    assert status == 401 and json.loads(body)["code"] == "AUTH_REQUIRED"
    status, body = _get(f"{web}/metrics", {"Authorization": "Bearer not-the-token"})
    assert status == 401 and json.loads(body)["code"] == "AUTH_INVALID"
    # A user's JWT opens nothing here either.
    status, body = _get(f"{web}/metrics", {"Authorization": f"Bearer {token_for(ALICE)}"})
    assert status == 401 and json.loads(body)["code"] == "AUTH_INVALID"
    status, body = _get(f"{web}/metrics", {"X-Service-Key": TEST_SERVICE_KEY})
    assert status == 200 and "# TYPE fluxbase_queue_depth gauge" in body


@pytest.fixture(scope="module")
def json_stack(base_env, database, workdir):
    """Web and worker logging JSON lines, with a METRICS_TOKEN of their own."""
    with isolated_stack(base_env, workdir, "json-logs", env={"LOG_FORMAT": "json", "METRICS_TOKEN": METRICS_TOKEN}) \
            as stack:
        yield stack


def test_json_logs_carry_the_turn_and_conversation_on_each_line_and_no_secret(json_stack, llm, owner_conn):
    stack = json_stack
    assert scrape(stack.web, METRICS_TOKEN)  # its own token opens /metrics
    client = ChatClient(stack.web, token_for(ALICE))
    try:
        conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
        llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT id FROM orders",
                                                                    "description": "my orders"}}])
        llm.reply_text("Five orders.")
        assert client.ask(conversation, "How many orders?")[-1]["type"] == "done"
    finally:
        client.close()
    turn_id = str(owner_conn.execute("select id from ai.turns where conversation_id = %s",
                                     (conversation,)).fetchone()[0])

    def turn_lines() -> list[dict]:
        lines = [json.loads(line) for line in stack.worker.log_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("turn_id") == turn_id]
    lines = wait_until(lambda: any("turn finished" in line["message"] for line in turn_lines()) and turn_lines(),
                       10, "the worker's log line of the finished turn")
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= line.keys(), line
        assert line["conversation_id"] == conversation and line["chatbot"] == "tests/shop", line
    # Also what the provider's HTTP client logged, from the thread the request is sent on.
    assert len([line for line in lines if line["logger"].startswith("httpx")]) == 2
    finished = next(line for line in lines if "turn finished" in line["message"])
    assert finished["level"] == "INFO" and finished["logger"] == "workers.turn" and "done" in finished["message"]

    # Every line our own loggers wrote is JSON (Celery's start-up banner is printed, not logged).
    worker_lines = stack.worker.log_text().splitlines()
    assert all(json.loads(line) for line in worker_lines if line.startswith("{"))
    assert not [line for line in worker_lines if " INFO workers." in line or " WARNING workers." in line]
    logs = stack.worker.log_text() + (stack.root / "web.log").read_text(errors="replace")
    for name in ("JWT_SECRET", "ENCRYPTION_KEY", "SERVICE_KEY", "AUTHENTICATOR_PASSWORD", "OPENAI_API_KEY",
                 "METRICS_TOKEN"):
        assert stack.env[name] not in logs, f"{name} reached a log"


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_a_killed_web_worker_process_takes_its_sockets_out_of_the_gauge(base_env, database, worker, tmp_path):
    """config/gunicorn.py's child_exit hook: the dead process's live gauge is dropped, though it never closed
    its sockets itself."""
    env = {**base_env, "METRICS_DIR": str(tmp_path / "metrics")}
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    proc = start_web(env, tmp_path, port)
    try:
        wait_until(lambda: not proc.alive() or http_ok(f"{web}/health"), 60, "the web process")
        assert proc.alive(), proc.log_text()
        [first] = _children(proc.pid)
        client = ChatClient(web, token_for(ALICE))
        wait_until(lambda: value(scrape(web), "fluxbase_sockets_open") == 1, 10, "the socket to be counted")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: _children(proc.pid) - {first} and http_ok(f"{web}/health"), 30, "a new worker process")
        assert value(scrape(web), "fluxbase_sockets_open") == 0
        client.close()
    finally:
        proc.stop()
