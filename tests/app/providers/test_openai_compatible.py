"""The OpenAI-compatible provider: what a provider sends of the wrong shape is its fault
(PROVIDER_ERROR), never a crash of ours, and token counts stay countable; failures before the answer
began are retried within a time budget, never after; usage is the provider's, or counted and marked."""
import json
import threading
import time
from types import SimpleNamespace as NS

import pytest

from app.providers import token_count
from app.providers.base import (
    CompletionOptions,
    ProviderAuthError,
    ProviderError,
    TextDelta,
    ToolCall,
    Usage,
)
from app.providers.openai_compatible import OpenAICompatibleProvider, _OpenAIStream
from app.providers.registry import ClientLimits
from tests.support.llm_script import error_reply, split_text
from tests.support.processes import free_port


class Raw:
    def __init__(self, chunks):
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)

    def close(self):
        pass


def chunk(content=None, finish=None, usage=None, choices=None):
    if choices is None:
        choices = [NS(delta=NS(content=content, tool_calls=None), finish_reason=finish)]
    return NS(choices=choices, usage=usage)


REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def read(chunks):
    return list(_OpenAIStream(lambda stop: Raw(chunks), REQUEST))


@pytest.mark.parametrize("bad", [
    NS(choices=[None], usage=None),
    NS(choices=[5], usage=None),
    chunk(content=42),
    chunk(content=["a", "b"]),
    NS(choices=[NS(delta="hello", finish_reason=None)], usage=None),
    NS(choices=[NS(delta=NS(content=None, tool_calls="x"), finish_reason=None)], usage=None),
])
def test_a_chunk_of_the_wrong_shape_is_a_provider_error(bad):
    with pytest.raises(ProviderError, match="malformed"):
        read([chunk("fine "), bad])


def test_a_stream_with_no_answer_at_all_is_a_provider_error():
    with pytest.raises(ProviderError, match="without an answer"):
        read([])
    with pytest.raises(ProviderError, match="without an answer"):
        read([NS(choices=[], usage=None)])


@pytest.mark.parametrize("counts,expected", [
    ((2**40, 5), Usage(2**31 - 1, 5)),
    ((-1000, 3.7), Usage(0, 3)),
    (("lots", None), Usage(0, 0)),
    ((float("nan"), True), Usage(0, 0)),
])
def test_token_counts_are_kept_countable(counts, expected):
    usage = NS(prompt_tokens=counts[0], completion_tokens=counts[1])
    pieces = read([chunk("hi", finish="stop"), NS(choices=[], usage=usage)])
    assert pieces == [TextDelta("hi"), expected]


# -- against the scripted server: retries, broken streams, usage -------------------------

MESSAGES = [{"role": "user", "content": "How many orders are there?"}]
SQL_TOOL = {"name": "execute_sql", "description": "Run a read-only query",
            "parameters": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]}}


def provider(llm, *, retries=3, retry_seconds=5.0, timeout=3.0, model="gpt-4o-mini"):
    return OpenAICompatibleProvider.from_config({"api_key": "test-llm-key", "base_url": llm.base_url, "model": model},
                                                ClientLimits(timeout, retries, retry_seconds))


def text_of(pieces):
    return "".join(p.text for p in pieces if isinstance(p, TextDelta))


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_never_retried(llm, status):
    llm.reply_error(status)
    with pytest.raises(ProviderAuthError):
        list(provider(llm).stream(MESSAGES, None, CompletionOptions()))
    assert len(llm.chat_requests()) == 1


def test_a_429_is_tried_again_after_the_wait_it_asks_for(llm):
    llm.reply_error(429, retry_after_ms=400)
    llm.reply_text("Second time lucky.", usage=(12, 4))
    pieces = list(provider(llm).stream(MESSAGES, None, CompletionOptions()))
    assert text_of(pieces) == "Second time lucky." and pieces[-1] == Usage(12, 4)
    first, second = llm.chat_requests()
    assert second.received_at - first.received_at >= 0.4
    assert first.body == second.body


def test_5xx_is_retried_until_the_time_budget_is_spent(llm):
    # Backoff 0.5 s then 1 s (less up to a quarter): tries at 0, ~0.5 and ~1.3 s; the next wait
    # (1.5-2 s) would end past the 2 s budget, so it is not made, though retries remain.
    with llm.answering_every_request(error_reply(503)):
        started = time.monotonic()
        with pytest.raises(ProviderError) as info:
            list(provider(llm, retries=10, retry_seconds=2).stream(MESSAGES, None, CompletionOptions()))
        elapsed = time.monotonic() - started
    tries = llm.chat_requests()
    assert len(tries) == 3 and elapsed < 2
    assert type(info.value) is ProviderError and info.value.detail == "the provider answered HTTP 503"


def test_a_wait_longer_than_the_budget_left_is_not_made_and_is_passed_on(llm):
    llm.reply_error(429, retry_after=30)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        list(provider(llm, retry_seconds=5).stream(MESSAGES, None, CompletionOptions()))
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 30 and len(llm.chat_requests()) == 1


def test_a_5xx_that_says_when_to_come_back_carries_it_when_given_up_on(llm):
    llm.reply_error(503, retry_after=1)
    llm.reply_error(503, retry_after=1)
    with pytest.raises(ProviderError) as info:
        list(provider(llm, retries=1).stream(MESSAGES, None, CompletionOptions()))
    assert info.value.retry_after == 1 and len(llm.chat_requests()) == 2


def test_a_refused_connection_is_retried_then_provider_error():
    unused = f"http://127.0.0.1:{free_port()}/v1"
    unreachable = OpenAICompatibleProvider.from_config({"api_key": "k", "base_url": unused, "model": "m"},
                                                       ClientLimits(3, 2, 10))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="connection to the provider failed"):
        list(unreachable.stream(MESSAGES, None, CompletionOptions()))
    assert time.monotonic() - started >= 0.75 * (0.5 + 1.0)  # two backoff waits


def test_a_cancel_ends_a_wait_between_tries_at_once(llm):
    llm.reply_error(503, retry_after=10)
    stream = provider(llm, retry_seconds=20).stream(MESSAGES, None, CompletionOptions())
    read: list = []
    reader = threading.Thread(target=lambda: read.append(list(stream)))
    reader.start()
    llm.wait_for_requests(1, endpoint="chat")
    stream.close()
    reader.join(2.0)
    assert not reader.is_alive() and read == [[]]  # nothing, and no error: the reader cancelled
    assert len(llm.chat_requests()) == 1


@pytest.mark.parametrize("failure", ["cut", "stall"])
def test_a_stream_broken_after_it_began_is_not_retried_and_keeps_what_came(llm, failure):
    text = "an answer that breaks off halfway through"
    (llm.reply_cut if failure == "cut" else llm.reply_stall)(after_chunks=3, text=text)
    pieces: list = []
    with pytest.raises(ProviderError, match="timed out" if failure == "stall" else "connection"):
        for piece in provider(llm, timeout=1.0).stream(MESSAGES, None, CompletionOptions()):
            pieces.append(piece)
    assert text_of(pieces) == "".join(split_text(text, 5)[:2])  # the role chunk, then two pieces
    # The provider read the prompt and wrote some of the answer, and reported nothing of it.
    assert isinstance(pieces[-1], Usage) and pieces[-1].estimated and pieces[-1].prompt_tokens > 0
    assert len(llm.chat_requests()) == 1


@pytest.mark.parametrize("dialect", ["openai", "ollama"])
def test_usage_is_what_the_provider_reported(llm, dialect):
    with llm.using_dialect(dialect):
        llm.reply_text("Counted by the server.", usage=(42, 7))
        pieces = list(provider(llm, model="llama3.2:latest").stream(MESSAGES, None, CompletionOptions()))
    assert text_of(pieces) == "Counted by the server."
    assert [p for p in pieces if isinstance(p, Usage)] == [Usage(42, 7)]
    assert llm.last_request().body["stream_options"] == {"include_usage": True}


def test_ollama_tool_calls_arrive_whole(llm):
    calls = [{"name": "execute_sql", "arguments": {"sql": "SELECT count(*) FROM orders"}},
             {"name": "execute_sql", "arguments": {"sql": "SELECT count(*) FROM customers"}}]
    with llm.using_dialect("ollama"):
        scripted = llm.reply_tool_calls(calls, usage=(30, 12))
        pieces = list(provider(llm, model="llama3.2:latest").stream(MESSAGES, [SQL_TOOL], CompletionOptions()))
    made = [p for p in pieces if isinstance(p, ToolCall)]
    assert [(c.id, c.name, json.loads(c.arguments)) for c in made] == \
        [(s.id, s.name, c["arguments"]) for s, c in zip(scripted.tool_calls, calls)]
    assert pieces[-1] == Usage(30, 12)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "llama3.2:latest"])
def test_usage_is_counted_and_marked_estimated_when_the_provider_reports_none(llm, model):
    llm.reply_text("Nobody counted this answer.", report_usage=False)
    pieces = list(provider(llm, model=model).stream(MESSAGES, [SQL_TOOL], CompletionOptions()))
    sent = llm.last_request().body
    assert sent["stream_options"] == {"include_usage": True}  # asked for, and not given
    assert pieces[-1] == Usage(token_count.count_prompt(model, sent["messages"], sent["tools"]),
                               token_count.count_text(model, "Nobody counted this answer."), estimated=True)
    assert 10 < pieces[-1].prompt_tokens < 200


def test_tool_calls_are_counted_when_the_provider_reports_none(llm):
    scripted = llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT 1"}}], report_usage=False)
    pieces = list(provider(llm).stream(MESSAGES, [SQL_TOOL], CompletionOptions()))
    call = scripted.tool_calls[0]
    assert pieces[-1].estimated
    assert pieces[-1].completion_tokens == (token_count.count_text("gpt-4o-mini", "execute_sql")
                                            + token_count.count_text("gpt-4o-mini", call.arguments_json))


def test_a_reasoning_model_refusing_max_tokens_and_temperature_is_asked_again_in_its_form(llm):
    llm.reply_error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                         "Use 'max_completion_tokens' instead.", code="unsupported_parameter", param="max_tokens")
    llm.reply_error(400, "Unsupported value: 'temperature' does not support 0.2 with this model.",
                    code="unsupported_value", param="temperature")
    llm.reply_text("reasoned")
    stream = provider(llm, retries=0, model="o3-mini").stream(
        [{"role": "user", "content": "hi"}], None, CompletionOptions(max_tokens=300, temperature=0.2))
    assert text_of(list(stream)) == "reasoned"
    first, second, third = (r.body for r in llm.chat_requests())
    assert (first["max_tokens"], first["temperature"]) == (300, 0.2)
    assert "max_tokens" not in second and second["max_completion_tokens"] == 300 and second["temperature"] == 0.2
    assert "temperature" not in third and third["max_completion_tokens"] == 300


def test_any_other_bad_request_is_a_provider_error_at_once(llm):
    llm.reply_error(400, "Invalid 'messages': too long.", param="messages")
    stream = provider(llm).stream([{"role": "user", "content": "hi"}], None, CompletionOptions(max_tokens=300))
    with pytest.raises(ProviderError, match="HTTP 400"):
        list(stream)
    assert len(llm.chat_requests()) == 1


def test_a_cancel_while_the_provider_has_not_begun_to_answer_ends_the_stream_at_once():
    import socket

    accepted = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def black_hole():  # accepts, reads, never answers
        conn, _ = listener.accept()
        held.append(conn)
        accepted.set()

    threading.Thread(target=black_hole, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        slow = OpenAICompatibleProvider.from_config({"api_key": "k", "base_url": base_url, "model": "m"},
                                                    ClientLimits(30, 0, 5))
        stream = slow.stream([{"role": "user", "content": "hi"}], None, CompletionOptions())
        finished = threading.Event()
        pieces = []
        threading.Thread(target=lambda: (pieces.extend(stream), finished.set()), daemon=True).start()
        assert accepted.wait(10)
        started = time.monotonic()
        stream.close()
        assert finished.wait(5), "the stream kept waiting for the provider after close()"
        assert time.monotonic() - started < 2 and pieces == []
    finally:
        for conn in held:
            conn.close()
        listener.close()
