"""The tool loop without Celery, Redis or a database: a fake provider and fake tools."""
import threading

import pytest

from app.providers.base import (
    CompletionOptions,
    ProviderError,
    TextDelta,
    ToolCall,
    Usage,
)
from app.tools.registry import ToolRegistry
from tests.support.tools import echo, make_context
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



def test_a_stream_that_raises_because_the_cancel_closed_it_ends_as_cancelled():
    cancellation = TurnCancellation()

    class Closed(Exception):
        """What an HTTP client raises when its response is closed under a blocked reader."""

    class ClosedUnderTheReader(FakeStream):
        def __iter__(self):
            yield TextDelta("one ")
            cancellation.cancel()  # the cancel arrives while the reader waits for the next chunk ...
            raise Closed("stream closed")  # ... and the closed response raises there

    class Provider(FakeProvider):
        def stream(self, messages, tools, options):
            stream = ClosedUnderTheReader([])
            self.streams.append(stream)
            return stream

    loop, events, ctx = make_loop(Provider(), cancellation=cancellation)
    outcome = TurnOutcome()
    with pytest.raises(TurnCancelled):
        loop.run(USER, DEFS, ctx, outcome)
    assert outcome.text == "one "


def test_provider_errors_propagate_and_keep_the_partial_outcome():
    provider = FakeProvider([ToolCall("c1", "echo", '{"x": 2}'), Usage(3, 1)], [TextDelta("x"), ProviderError("boom")])
    loop, _, ctx = make_loop(provider)
    outcome = TurnOutcome()
    with pytest.raises(ProviderError):
        loop.run(USER, DEFS, ctx, outcome)
    assert provider.streams[1].closed
    # The broken second call reported nothing, but wrote "x": it is counted as the server's estimate.
    assert outcome.text == "x" and outcome.usage.estimated
    assert outcome.usage.prompt_tokens > 3 and outcome.usage.completion_tokens == 1 + 1
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


def test_a_burst_of_deltas_is_sent_as_few_events_and_the_text_is_whole():
    pieces = [TextDelta("x") for _ in range(20_000)] + [Usage(1, 1)]
    provider = FakeProvider(pieces)
    loop, events, ctx = make_loop(provider)
    outcome = loop.run(USER, DEFS, ctx)
    deltas = [e["delta"] for e in events if e["type"] == "content"]
    assert "".join(deltas) == "x" * 20_000 == outcome.text
    assert deltas[0] == "x"  # the first delta is never held back
    assert len(deltas) < 2_000


def test_deltas_held_back_are_sent_once_the_window_passes_without_a_next_delta():
    import threading

    from workers.loop import DeltaBatcher

    sent = []
    arrived = threading.Event()

    def emit(event):
        sent.append(event["delta"])
        if len(sent) == 2:
            arrived.set()

    batcher = DeltaBatcher(emit, window=0.05)
    batcher.add("first")
    batcher.add("second")  # within the window: held, with a timer
    assert sent == ["first"]
    assert arrived.wait(5)  # the timer sends it without another delta arriving
    assert sent == ["first", "second"]


def test_a_provider_that_ignores_max_tokens_is_cut_off():
    provider = FakeProvider([TextDelta("y" * 1000) for _ in range(100)])
    events = []
    registry = ToolRegistry()
    cancellation = TurnCancellation()
    loop = ToolLoop(provider, registry, emit=events.append, cancellation=cancellation,
                    config=LoopConfig(5, CompletionOptions(max_tokens=100)))
    outcome = TurnOutcome()
    with pytest.raises(ProviderError, match="longer than max_tokens"):
        loop.run(USER, [], make_context(events.append, cancellation.token), outcome)
    assert provider.streams[0].closed and 65_536 < len(outcome.text) < 70_000


def test_a_provider_still_answering_when_the_turns_time_is_up_is_a_provider_error_that_keeps_and_counts_its_text():
    loop = None

    def time_runs_out(piece):
        if piece == TextDelta(" never seen"):  # called before it is handed over: the first was read
            loop._config = LoopConfig(5, CompletionOptions(), deadline=0.0)

    provider = FakeProvider([TextDelta("first part"), TextDelta(" never seen"), Usage(9, 9)], on_piece=time_runs_out)
    loop, events, ctx = make_loop(provider)
    outcome = TurnOutcome()
    with pytest.raises(ProviderError, match="TURN_TIMEOUT_SECONDS"):
        loop.run(USER, DEFS, ctx, outcome)
    assert outcome.text == "first part" and provider.streams[0].closed
    assert outcome.usage.estimated and outcome.usage.prompt_tokens > 0 and outcome.usage.completion_tokens == 2
