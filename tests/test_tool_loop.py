"""The tool loop and the tool registry without Celery, Redis or a database: a fake provider and fake tools."""
import contextlib
import threading
from types import SimpleNamespace

import pytest

from app import protocol
from app.providers.base import CompletionOptions, ProviderError, TextDelta, ToolCall, Usage
from app.sql.results import QueryResult
from app.tools.base import ToolServices
from app.tools.registry import DuplicateTool, Tool, ToolContext, ToolRegistry, default_registry
from app.tools.sql_tool import EXECUTE_SQL
from workers.cancellation import TurnCancellation
from workers.loop import LoopConfig, ToolLoop, TurnCancelled, TurnOutcome, TurnTimedOut


class FakeStream:
    def __init__(self, pieces, on_piece=None):
        self._pieces = pieces
        self._on_piece = on_piece
        self.closed = False

    def __iter__(self):
        for piece in self._pieces:
            if self.closed:
                return
            if isinstance(piece, Exception):
                raise piece
            if self._on_piece:
                self._on_piece(piece)
            yield piece

    def close(self):
        self.closed = True


class FakeProvider:
    name = "fake"
    model = "fake-model"

    def __init__(self, *rounds, on_piece=None):
        self._rounds = list(rounds)
        self.calls = []
        self.streams = []
        self._on_piece = on_piece

    def stream(self, messages, tools, options):
        self.calls.append({"messages": [dict(m) for m in messages], "tools": tools})
        stream = FakeStream(self._rounds.pop(0), self._on_piece)
        self.streams.append(stream)
        return stream


def echo(run=lambda ctx, args: f"echo {args.get('x')}") -> Tool:
    return Tool(name="echo", description="echo", parameters={"type": "object"}, scope=None, run=run)


# The loop's tools never reach for these; a tool that did would fail loudly on None.
NO_SERVICES = ToolServices(settings=None, sql=None, db=None)


def make_context(emit, cancel, *, config=None, services=NO_SERVICES) -> ToolContext:
    return ToolContext(conversation_id="c", turn_id="t", message_id="m", chatbot_id="b", chatbot_config=config or {},
                       user_id=None, role="anon", claims={}, emit=emit, cancel=cancel, services=services)


def make_loop(provider, *, max_rounds=5, tool=None, cancellation=None):
    events = []
    registry = ToolRegistry()
    registry.register(tool or echo())
    cancellation = cancellation or TurnCancellation()
    loop = ToolLoop(provider, registry, emit=events.append, cancellation=cancellation,
                    config=LoopConfig(max_rounds, CompletionOptions()))
    return loop, events, make_context(events.append, cancellation.token)


DEFS = [{"name": "echo", "description": "echo", "parameters": {"type": "object"}}]
USER = [{"role": "user", "content": "hi"}]


def test_text_only_round_forwards_deltas_and_sums_usage():
    provider = FakeProvider([TextDelta("Hel"), TextDelta("lo"), Usage(5, 2)])
    loop, events, ctx = make_loop(provider)
    outcome = loop.run(USER, DEFS, ctx)
    assert outcome.text == "Hello" and outcome.usage == Usage(5, 2) and outcome.rounds == 1
    assert [e["delta"] for e in events if e["type"] == "content"] == ["Hel", "lo"]
    assert provider.calls[0]["tools"][0]["name"] == "echo"


def test_tool_round_then_answer_and_transcript():
    provider = FakeProvider([ToolCall("c1", "echo", '{"x": 1}'), Usage(3, 1)], [TextDelta("done"), Usage(4, 1)])
    loop, _, ctx = make_loop(provider)
    outcome = loop.run(USER, DEFS, ctx)
    assert outcome.text == "done" and outcome.usage == Usage(7, 2)
    second = provider.calls[1]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "c1", "content": "echo 1"}
    assert [m["role"] for m in outcome.transcript] == ["assistant", "tool"]


@pytest.mark.parametrize("call,expected", [
    (ToolCall("c1", "unknown", "{}"), "Error: tool 'unknown' is not available to this chatbot"),
    (ToolCall("c1", "echo", "{not json"), "Error: the arguments were not valid JSON"),
    (ToolCall("c1", "echo", "[1]"), "Error: the arguments must be a JSON object"),
])
def test_bad_tool_calls_become_errors_the_model_reads(call, expected):
    provider = FakeProvider([call], [TextDelta("ok")])
    loop, _, ctx = make_loop(provider)
    loop.run(USER, DEFS, ctx)
    assert provider.calls[1]["messages"][-1]["content"].startswith(expected)


def test_tool_exception_is_reported_to_the_model_not_raised():
    def boom(ctx, args):
        raise RuntimeError("secret internals")

    provider = FakeProvider([ToolCall("c1", "echo", "{}")], [TextDelta("ok")])
    loop, _, ctx = make_loop(provider, tool=echo(boom))
    loop.run(USER, DEFS, ctx)
    result = provider.calls[1]["messages"][-1]["content"]
    assert result == "Error: the tool echo failed unexpectedly" and "secret" not in result


def test_rounds_are_bounded_and_the_last_round_offers_no_tools():
    rounds = [[ToolCall(f"c{i}", "echo", "{}")] for i in range(2)] + [[TextDelta("final")]]
    provider = FakeProvider(*rounds)
    loop, _, ctx = make_loop(provider, max_rounds=2)
    outcome = loop.run(USER, DEFS, ctx)
    assert outcome.text == "final" and len(provider.calls) == 3
    assert provider.calls[2]["tools"] is None


def test_parallel_tool_calls_run_concurrently_and_keep_order():
    barrier = threading.Barrier(3, timeout=5)

    def wait_for_all(ctx, args):
        barrier.wait()  # only passes when all three calls run at the same time
        return f"r{args['i']}"

    calls = [ToolCall(f"c{i}", "echo", f'{{"i": {i}}}') for i in range(3)]
    provider = FakeProvider(calls, [TextDelta("ok")])
    loop, _, ctx = make_loop(provider, tool=echo(wait_for_all))
    loop.run(USER, DEFS, ctx)
    results = [m for m in provider.calls[1]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in results] == [("c0", "r0"), ("c1", "r1"), ("c2", "r2")]


def test_cancel_mid_stream_closes_the_stream_and_keeps_partial_text():
    cancellation = TurnCancellation()

    def cancel_after_second(piece):
        if piece == TextDelta("two "):
            cancellation.cancel()

    provider = FakeProvider([TextDelta("one "), TextDelta("two "), TextDelta("three")], on_piece=cancel_after_second)
    loop, events, ctx = make_loop(provider, cancellation=cancellation)
    outcome = TurnOutcome()
    with pytest.raises(TurnCancelled):
        loop.run(USER, DEFS, ctx, outcome)
    assert outcome.text == "one " and provider.streams[0].closed
    assert [e["delta"] for e in events if e["type"] == "content"] == ["one "]


def test_provider_errors_propagate_and_keep_the_partial_outcome():
    provider = FakeProvider([ToolCall("c1", "echo", '{"x": 2}'), Usage(3, 1)], [TextDelta("x"), ProviderError("boom")])
    loop, _, ctx = make_loop(provider)
    outcome = TurnOutcome()
    with pytest.raises(ProviderError):
        loop.run(USER, DEFS, ctx, outcome)
    assert provider.streams[1].closed
    assert outcome.text == "x" and outcome.usage == Usage(3, 1)
    assert [m["role"] for m in outcome.transcript] == ["assistant", "tool"]


def test_tool_calls_in_the_final_round_are_not_run():
    provider = FakeProvider([ToolCall("c1", "echo", "{}")], [TextDelta("answer"), ToolCall("c2", "echo", "{}")])
    ran = []
    loop, _, ctx = make_loop(provider, max_rounds=1, tool=echo(lambda c, a: ran.append(1) or "ok"))
    outcome = loop.run(USER, DEFS, ctx)
    assert ran == [1] and outcome.text == "answer" and provider.calls[1]["tools"] is None


def test_deadline_stops_the_turn():
    provider = FakeProvider([TextDelta("slow")])
    loop, _, ctx = make_loop(provider)
    loop._config = LoopConfig(5, CompletionOptions(), deadline=0.0)
    with pytest.raises(TurnTimedOut):
        loop.run(USER, DEFS, ctx)


def test_a_stored_definition_of_a_tool_the_server_cannot_run_is_not_offered():
    provider = FakeProvider([TextDelta("ok")])
    loop, _, ctx = make_loop(provider)
    loop.run(USER, DEFS + [{"name": "query_table", "description": "stale", "parameters": {"type": "object"}}], ctx)
    assert [tool["name"] for tool in provider.calls[0]["tools"]] == ["echo"]


# -- the registry ----------------------------------------------------------------------------------


def test_the_built_in_tools_are_registered_in_one_place():
    assert default_registry().names() == ("execute_sql",)
    assert default_registry().get("execute_sql") is EXECUTE_SQL


def test_default_registry_is_fresh_each_time():
    mine = default_registry()
    mine.register(echo())
    assert "echo" in mine and "echo" not in default_registry()


def test_registering_a_duplicate_fails():
    registry = default_registry()
    with pytest.raises(DuplicateTool, match="execute_sql"):
        registry.register(EXECUTE_SQL)
    with pytest.raises(DuplicateTool):
        ToolRegistry([echo(), echo()])
    assert registry.names() == ("execute_sql",)


def test_definition_is_a_fresh_copy_of_the_model_facing_fields():
    registry = default_registry()
    definition = registry.definition("execute_sql")
    assert set(definition) == {"name", "description", "parameters"}
    assert definition["parameters"]["required"] == ["sql", "description"]
    definition["parameters"]["properties"]["sql"]["description"] = "changed"
    assert registry.definition("execute_sql")["parameters"]["properties"]["sql"]["description"] != "changed"
    with pytest.raises(KeyError):
        registry.definition("query_table")


@pytest.mark.parametrize("name", ["Echo", "echo-tool", "", "x" * 65])
def test_tool_names_must_suit_every_provider(name):
    with pytest.raises(ValueError):
        Tool(name=name, description="d", parameters={"type": "object"}, scope=None, run=lambda ctx, args: "")


def test_invoke_refuses_a_registered_tool_that_was_not_offered():
    registry = ToolRegistry([echo()])
    ctx = make_context(lambda event: None, None)
    assert registry.invoke("echo", '{"x": 1}', ctx, {"echo"}) == "echo 1"
    assert registry.invoke("echo", '{"x": 1}', ctx, set()) == "Error: tool 'echo' is not available to this chatbot"
    assert registry.invoke("echo", "[" * 100_000, ctx, {"echo"}).startswith("Error: ")


# -- execute_sql through the registry, with fake services ---------------------------------------------


class FakeExecutor:
    def __init__(self, result):
        self.result = result
        self.calls = []

    def run(self, sql, **kwargs):
        self.calls.append((sql, kwargs))
        return self.result


class FakeAuditPool:
    def __init__(self):
        self.entries = []

    @contextlib.contextmanager
    def connection(self):
        yield SimpleNamespace(execute=lambda query, params: self.entries.append(params))


SHOP = {"allowed_operations": ["SELECT"], "allowed_tables": ["orders"], "allowed_schemas": ["public"]}


def run_execute_sql(arguments: str, result=None):
    executor, audit, events = FakeExecutor(result), FakeAuditPool(), []
    services = ToolServices(settings=SimpleNamespace(model_sample_rows=1), sql=executor, db=audit)
    cancellation = TurnCancellation()
    ctx = make_context(events.append, cancellation.token, config=SHOP, services=services)
    text = default_registry().invoke("execute_sql", arguments, ctx, {"execute_sql"})
    return text, events, executor.calls, audit.entries, cancellation.token


def test_execute_sql_runs_as_the_end_user_audits_and_shows_the_model_a_sample():
    rows = [{"id": 1}, {"id": 2}]
    result = QueryResult(columns=["id"], rows=rows, row_count=2, truncated=False, duration_ms=1.5, command="SELECT")
    text, events, calls, audit, token = run_execute_sql('{"sql": "SELECT id FROM orders", "description": "ids"}',
                                                        result)
    assert text == 'Returned 2 rows (columns: id)\nSample rows (1 of 2; 1 omitted):\n{"id":1}'
    assert calls == [("SELECT id FROM orders", {"role": "anon", "claims": {}, "search_path_schema": "public",
                                               "allow_writes": False, "cancel": token})]
    assert events == [protocol.progress(protocol.Step.QUERYING, "Querying database..."),
                      protocol.progress(protocol.Step.EXECUTING, "Executing: ids"),
                      protocol.query_result("SELECT id FROM orders", summary="Returned 2 rows (columns: id)",
                                            row_count=2, data=rows, truncated=False)]
    assert [entry[6] for entry in audit] == ["executed"]  # the verdict column


def test_execute_sql_refusal_is_audited_shown_to_the_client_and_read_by_the_model():
    text, events, calls, audit, _ = run_execute_sql('{"sql": "DELETE FROM orders", "description": "x"}')
    assert text == "Error: Operation not allowed: DELETE" and calls == []
    assert events[-1] == protocol.query_result("DELETE FROM orders", error="Operation not allowed: DELETE")
    assert [(entry[5], entry[6]) for entry in audit] == [("DELETE FROM orders", "refused")]
