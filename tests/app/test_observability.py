"""The parts of /metrics and the JSON logs that need no server: the JSON formatter with secret scrubbing, the log
context, the first-delta clock, the relay-lag hook of the outbox, the queue-depth collector (real Redis)."""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
import uuid

import redis

from app import log_context
from app.chat.first_delta import FirstDeltaClock
from app.chat.outbox import Outbox
from app.log_json import ContextFilter, JsonFormatter
from app.metrics import Metrics, clear_metrics_dir, refused_limit
from app.protocol import Code, ProtocolError
from app.secrets import scrub
from app.streaming.bus import WireEvent
from app.web.metrics import QueueDepthCollector
from config import SETTINGS
from tests.support.processes import ROOT, ManagedProcess, wait_until

PLANTED = f"planted-secret-{uuid.uuid4().hex}"


def _json_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"tests.json.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_context_and_never_a_held_secret():
    scrub.install_log_scrubbing()  # as configure_logging does: the record factory scrubs held values
    logger, stream = _json_logger()
    logger.info("before any turn")
    with scrub.held(scrub.Scrubber({"api_key": [PLANTED]})), \
            log_context.scope(turn_id="turn-1", conversation_id="conv-1"):
        log_context.add(chatbot="tests/shop")
        logger.warning("calling with %s\nand a second line\u2028", PLANTED)
        try:
            raise ValueError(f"the server said {PLANTED}")
        except ValueError:
            logger.exception("the call failed")
    logger.info("after the turn")
    first, warned, failed, after = _lines(stream)  # one object per line, newlines in messages escaped
    assert PLANTED not in stream.getvalue()
    assert {"ts", "level", "logger", "message", "pid"} <= first.keys() and "turn_id" not in first
    assert first["ts"].endswith("+00:00") and first["level"] == "INFO"
    assert warned["message"] == "calling with {{secret:api_key}}\nand a second line\u2028"
    assert (warned["turn_id"], warned["conversation_id"], warned["chatbot"]) == ("turn-1", "conv-1", "tests/shop")
    assert failed["exc_type"] == "ValueError" and "the server said {{secret:api_key}}" in failed["exc"]
    assert "Traceback" in failed["exc"] and failed["turn_id"] == "turn-1"
    assert "turn_id" not in after and "chatbot" not in after


def test_the_log_context_follows_copied_contexts_and_ends_with_its_scope():
    import contextvars

    seen = []
    with log_context.scope(turn_id="t"):
        log_context.add(conversation_id="c", chatbot=None)
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(lambda: seen.append(dict(log_context.current())),))
        worker.start()
        worker.join()
        with log_context.scope(socket="s"):
            assert log_context.current() == {"turn_id": "t", "conversation_id": "c", "socket": "s"}
        assert log_context.current() == {"turn_id": "t", "conversation_id": "c"}
    assert seen == [{"turn_id": "t", "conversation_id": "c"}]
    log_context.add(turn_id="leaked")  # outside any scope: nothing to add to
    assert log_context.current() == {}


def test_the_first_delta_clock_times_only_its_own_turn():
    delivered, observed = [], []
    clock = FirstDeltaClock(delivered.append, observed.append)
    clock({"type": "content", "message_id": "m0", "delta": "x"})  # nothing started: not timed
    clock.start("m1")
    clock({"type": "content", "message_id": "m0", "delta": "late"})  # the turn before's
    clock({"type": "progress", "message_id": "m1"})
    clock({"type": "content", "message_id": "m1", "delta": "a"})
    clock({"type": "content", "message_id": "m1", "delta": "b"})
    assert len(observed) == 1 and 0 <= observed[0] < 5
    clock.start("m2")
    clock({"type": "error", "message_id": "m2", "code": "PROVIDER_ERROR"})
    clock({"type": "content", "message_id": "m2", "delta": "?"})
    assert len(observed) == 1 and len(delivered) == 7  # every event goes on, timed or not


def test_the_outbox_reports_the_lag_of_live_events_only():
    sent, lags = [], []
    outbox = Outbox(sent.append, lambda: None, maxsize=10, on_lag=lags.append)
    try:
        live = WireEvent(json.dumps({"type": "content", "delta": "hi", "conversation_id": "c"}), time.time() - 0.25)
        outbox.put(live)
        outbox.put({"type": "chat_started", "conversation_id": "c"})  # made here, not published: no lag
        wait_until(lambda: len(sent) == 2, 5, "both events sent")
    finally:
        outbox.close()
    assert len(lags) == 1 and 0.25 <= lags[0] < 5


def test_limit_refusals_are_named_by_their_limit():
    assert refused_limit(ProtocolError(Code.RATE_LIMIT_EXCEEDED)) == "rate"
    assert refused_limit(ProtocolError(Code.RATE_LIMIT_EXCEEDED, limit="frames")) == "frames"
    assert refused_limit(ProtocolError(Code.DAILY_LIMIT_EXCEEDED)) == "daily"
    assert refused_limit(ProtocolError(Code.TOKEN_BUDGET_EXCEEDED)) == "token_budget"
    assert refused_limit(ProtocolError(Code.TURN_LIMIT)) == "turns"
    assert refused_limit(ProtocolError(Code.PROVIDER_ERROR)) is None


def test_queue_depth_adds_up_every_priority_list_of_a_queue(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    queue = f"q-{uuid.uuid4().hex}"
    try:
        client.rpush(queue, "a", "b")
        client.rpush(f"{queue}\x06\x166", "c")  # kombu's list for priority step 6
        families = {f.name: f for f in QueueDepthCollector(client, (queue, "empty-" + queue)).collect()}
        depth = {s.labels["queue"]: s.value for s in families["fluxbase_queue_depth"].samples}
        assert depth == {queue: 3, "empty-" + queue: 0}
        assert families["fluxbase_queue_up"].samples[0].value == 1
        assert "fluxbase_queue_unacked" in families
    finally:
        client.delete(queue, f"{queue}\x06\x166")
        client.close()


def test_queue_depth_says_when_redis_cannot_be_read():
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    families = {f.name: f for f in QueueDepthCollector(client).collect()}
    assert list(families) == ["fluxbase_queue_up"] and families["fluxbase_queue_up"].samples[0].value == 0


def test_clearing_the_metrics_dir_drops_the_values_of_gone_processes(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"x")
    (folder / "gauge_livesum_4242.db").write_bytes(b"x")
    (folder / "README").write_text("kept")
    clear_metrics_dir(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["README"]
    clear_metrics_dir(tmp_path / "new")  # a folder that does not exist yet is made
    assert (tmp_path / "new").is_dir()



def test_fluxbase_run_starts_with_an_empty_metrics_dir(tmp_path):
    """Values of an earlier run's processes would be added to the new run's: `fluxbase run` drops them."""
    data = tmp_path / "data"
    (data / "metrics").mkdir(parents=True)
    stale = data / "metrics" / "counter_99999.db"
    stale.write_bytes(b"x")
    procfile = tmp_path / "Procfile"
    procfile.write_text("idle: sleep 60\n")
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    run = ManagedProcess("fluxbase-run", [sys.executable, "-m", "app.cli", "run", "--procfile", str(procfile)],
                         {**env, "DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}, tmp_path)
    try:
        wait_until(lambda: not run.alive() or "spawned: 'idle'" in run.log_text(), 30, "the supervised process")
        assert run.alive(), run.log_text()
        assert not stale.exists() and (data / "metrics").is_dir()
    finally:
        run.stop()


class _Recorder(Metrics):
    """Counts as the worker would, into a list."""

    def __init__(self):
        super().__init__(None)
        self.on = True
        self.calls: list[tuple[str, str]] = []

    def tool_call(self, tool: str, verdict: str) -> None:
        self.calls.append((tool, verdict))


def test_the_loop_counts_each_tool_call_with_its_verdict():
    from app.providers.base import CompletionOptions, TextDelta, ToolCall
    from app.tools.base import Tool, ToolError
    from app.tools.registry import ToolRegistry
    from tests.support.tools import echo, make_context
    from tests.workers.test_loop import FakeProvider
    from workers.cancellation import TurnCancellation
    from workers.loop import LoopConfig, ToolLoop

    def fail(_ctx, _args):
        raise ToolError("no such row")

    def tool(name, run, scope=None):
        return Tool(name=name, description=name, parameters={"type": "object"}, scope=scope, run=run)

    registry = ToolRegistry([echo(), tool("fails", fail), tool("writes", lambda c, a: "wrote", "write:tables"),
                             tool("hidden", lambda c, a: "secret")])
    calls = [ToolCall("1", "echo", '{"x": 1}'), ToolCall("2", "fails", "{}"), ToolCall("3", "writes", "{}"),
             ToolCall("4", "hidden", "{}"), ToolCall("5", "made_up_by_the_model", "{}"),
             ToolCall("6", "echo", "not json")]
    provider = FakeProvider(calls, [TextDelta("done")])
    recorder = _Recorder()
    cancellation = TurnCancellation()
    loop = ToolLoop(provider, registry, emit=lambda e: None, cancellation=cancellation,
                    config=LoopConfig(3, CompletionOptions()), metrics=recorder)
    offered = [{"name": n, "description": n, "parameters": {"type": "object"}} for n in ("echo", "fails", "writes")]
    loop.run([{"role": "user", "content": "go"}], offered,
             make_context(lambda e: None, cancellation.token, config={"allowed_operations": ["SELECT"]}))
    assert sorted(recorder.calls) == sorted([("echo", "ok"), ("fails", "error"), ("writes", "refused"),
                                             ("hidden", "refused"), ("unknown", "refused"), ("echo", "error")])
