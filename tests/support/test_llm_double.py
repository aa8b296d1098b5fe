"""The scripted LLM double, exercised through the official `openai` client, in both its dialects."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from tests.support.llm_script import (
    OLLAMA_VERSION,
    SYSTEM_FINGERPRINT,
    error_reply,
    text_reply,
)
from tests.support.llm_server import NO_REPLY_MESSAGE, ScriptedLLM
from tests.support.processes import wait_until

API_KEY = "sk-test-double"
AZURE_VERSION = "2024-10-21"
MESSAGES: list[Any] = [{"role": "user", "content": "How many users signed up today?"}]
TOOLS: list[Any] = [{
    "type": "function",
    "function": {"name": "execute_sql", "description": "Run a read-only query",
                 "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                "required": ["query"]}},
}]
TWO_CALLS = [
    {"name": "execute_sql", "arguments": {"query": "SELECT count(*) FROM users WHERE created_at > now() - '1 day'"}},
    {"name": "search_docs", "arguments": {"terms": ["signup", "users"], "limit": 5}},
]


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(llm: ScriptedLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm.base_url, api_key=API_KEY, max_retries=0, timeout=5.0) as c:
        yield c


@pytest.fixture
def azure(llm: ScriptedLLM) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(azure_endpoint=llm.azure_endpoint, api_key=API_KEY, api_version=AZURE_VERSION,
                            azure_deployment="chat-deploy", max_retries=0, timeout=5.0) as c:
        yield c


def stream_chat(client: openai.OpenAI, **kwargs: Any) -> openai.Stream[Any]:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs)


# -- non-streaming ------------------------------------------------------------------

def test_non_streaming_text(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_text("Hello there", usage=(11, 3))

    resp = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Hello there"
    assert resp.choices[0].message.tool_calls is None
    assert resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (11, 3, 14)
    req = llm.last_request()
    assert (req.method, req.path, req.model, req.messages) == ("POST", "/v1/chat/completions", "gpt-4o-mini", MESSAGES)
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.status == 200 and not req.stream
    llm.assert_complete()


def test_non_streaming_tool_calls(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    scripted = llm.reply_tool_calls([{**TWO_CALLS[0], "id": "call_fixed"}, TWO_CALLS[1]])

    resp = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)

    message = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert [c.id for c in message.tool_calls] == ["call_fixed", scripted.tool_calls[1].id]
    assert scripted.tool_calls[1].id.startswith("call_")
    assert [c.function.name for c in message.tool_calls] == ["execute_sql", "search_docs"]
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [c["arguments"] for c in TWO_CALLS]
    assert llm.last_request().tools == TOOLS
    assert resp.usage.total_tokens > 0  # estimated when not scripted


# -- streaming ----------------------------------------------------------------------

def test_streaming_text_arrives_in_pieces(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_text("Hello there, how can I help?", chunks=4)

    chunks = list(stream_chat(client))

    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 4 and "".join(pieces) == "Hello there, how can I help?"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].delta.content is None
    assert all(c.usage is None and c.choices for c in chunks)  # no usage chunk unless asked
    assert {c.id for c in chunks} == {chunks[0].id}
    assert llm.last_request().stream and llm.last_request().status == 200


def test_usage_chunk_only_when_requested(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_text("Counted.", usage=(7, 5))

    chunks = list(stream_chat(client, stream_options={"include_usage": True}))

    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (7, 5, 12)
    assert all(c.usage is None for c in body)
    assert body[-1].choices[0].finish_reason == "stop"


def test_streamed_parallel_tool_calls_reassemble(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    scripted = llm.reply_tool_calls(TWO_CALLS, chunks=3)

    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    finish = None
    for chunk in stream_chat(client, tools=TOOLS):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            if delta.id:
                assert call["id"] is None, "id must only appear on the first chunk of a call"
                call["id"], call["name"] = delta.id, delta.function.name
                assert delta.type == "function" and delta.function.arguments == ""
            elif delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
                fragments[delta.index] = fragments.get(delta.index, 0) + 1

    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert fragments == {0: 3, 1: 3}
    assert [calls[i]["id"] for i in (0, 1)] == [c.id for c in scripted.tool_calls]
    assert [calls[i]["name"] for i in (0, 1)] == ["execute_sql", "search_docs"]
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [c["arguments"] for c in TWO_CALLS]


def test_stream_helper_accumulates_text_and_tool_calls(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_tool_calls(TWO_CALLS[:1], text="Let me check.")

    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls[0].function.name == "execute_sql"
    assert json.loads(message.tool_calls[0].function.arguments) == TWO_CALLS[0]["arguments"]


# -- HTTP errors ----------------------------------------------------------------------

def test_wrong_api_key_is_authentication_error(llm: ScriptedLLM) -> None:
    with openai.OpenAI(base_url=llm.base_url, api_key="sk-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key" and info.value.type == "invalid_request_error"


def test_wrong_azure_api_key_is_authentication_error(llm: ScriptedLLM) -> None:
    with openai.AzureOpenAI(azure_endpoint=llm.azure_endpoint, api_key="nope", api_version=AZURE_VERSION,
                            azure_deployment="chat-deploy", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert llm.last_request().headers["api-key"] == "nope"


def test_rate_limit_exposes_retry_after(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_error(429, "Slow down", retry_after=7)

    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert "Slow down" in info.value.message
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize(("status", "error"), [
    (403, openai.PermissionDeniedError),
    (500, openai.InternalServerError),
    (503, openai.InternalServerError),
])
def test_status_errors(llm: ScriptedLLM, client: openai.OpenAI, status: int, error: type[Exception]) -> None:
    llm.reply_error(status)
    with pytest.raises(error) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == status  # type: ignore[attr-defined]


def test_unexpected_request_fails_clearly_and_is_reported(llm: ScriptedLLM) -> None:
    # Default retries on: the x-should-retry header must stop the client from retrying.
    with openai.OpenAI(base_url=llm.base_url, api_key=API_KEY) as retrying:
        with pytest.raises(openai.InternalServerError, match=NO_REPLY_MESSAGE):
            retrying.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(llm.chat_requests()) == 1
    with pytest.raises(AssertionError, match="unexpected request: POST /v1/chat/completions"):
        llm.assert_complete()
    llm.reset()  # seen and reported: the script is complete again
    llm.assert_complete()


def test_default_reply_used_when_queue_empty(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.default_reply = text_reply("fallback")
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "fallback"
    llm.assert_complete()


def test_assert_complete_reports_unconsumed_replies(llm: ScriptedLLM) -> None:
    llm.reply_text("never asked for")
    with pytest.raises(AssertionError, match="unconsumed reply: text 'never asked for'"):
        llm.assert_complete()
    llm.reset()
    llm.assert_complete()
    assert llm.requests == []


# -- broken streams -------------------------------------------------------------------

def test_cut_stream_raises_connection_error(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_cut(after_chunks=2)

    received = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in stream_chat(client):
            received.append(chunk)

    assert len(received) == 2
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert not isinstance(info.value, openai.APITimeoutError)


def test_stalled_stream_hits_client_read_timeout(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_stall(after_chunks=2)

    received = []
    with pytest.raises(openai.APITimeoutError) as info:
        for chunk in stream_chat(client.with_options(timeout=0.3)):
            received.append(chunk)

    assert len(received) == 2
    assert isinstance(info.value.__cause__, httpx2.ReadTimeout)
    assert llm.wait_for_disconnect(2.0)  # the timed-out client hung up


def test_closing_stream_during_stall_is_detected(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_stall(after_chunks=3)

    stream = stream_chat(client)
    for _ in range(3):
        next(stream)
    assert llm.wait_for_stall(2.0)
    assert not llm.wait_for_disconnect(0.0)
    stream.close()

    assert llm.wait_for_disconnect(2.0)
    assert llm.last_request().client_disconnected


def test_reset_releases_a_stalled_stream_and_frees_what_held_it(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_stall(after_chunks=1)

    stream = stream_chat(client)
    next(stream)  # the role chunk; then the stream stalls
    assert llm.wait_for_stall(2.0)
    llm.reset()

    with pytest.raises(openai.APIConnectionError) as info:
        list(stream)
    assert not isinstance(info.value, openai.APITimeoutError)  # cut short at once, not left hanging
    # The waker the stalled handler held is closed once that handler is done: no socket piles up.
    wait_until(lambda: not llm._retired_wakers, 2.0, "the released handler to finish")
    llm.reset()  # nothing in flight: nothing to release, nothing new opened
    assert llm._retired_wakers == []


def test_closing_slow_stream_is_detected(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_slow("one two three four five six", delay_per_chunk=0.2, chunks=6)

    stream = stream_chat(client)
    next(stream)  # the role chunk, sent after the first delay
    stream.close()

    assert llm.wait_for_disconnect(2.0)


def test_slow_stream_completes(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_slow("one two three", delay_per_chunk=0.02, chunks=3)
    started = time.monotonic()
    text = "".join(c.choices[0].delta.content or "" for c in stream_chat(client))
    assert text == "one two three"
    assert time.monotonic() - started >= 0.02 * 4  # role + 3 pieces, each delayed
    assert not llm.last_request().client_disconnected


def test_stop_releases_stalled_stream() -> None:
    llm = ScriptedLLM().start()
    llm.reply_stall(after_chunks=1)
    outcome: list[BaseException | None] = []
    with openai.OpenAI(base_url=llm.base_url, api_key="any", max_retries=0, timeout=10.0) as c:
        def consume() -> None:
            try:
                list(stream_chat(c))
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread
                outcome.append(exc)

        worker = threading.Thread(target=consume)
        worker.start()
        assert llm.wait_for_stall(2.0)
        started = time.monotonic()
        llm.stop()
        assert time.monotonic() - started < 2.0
        worker.join(2.0)
    assert len(outcome) == 1 and isinstance(outcome[0], openai.APIConnectionError)


# -- Azure ----------------------------------------------------------------------------

def test_azure_chat_is_recorded_with_deployment(llm: ScriptedLLM, azure: openai.AzureOpenAI) -> None:
    llm.reply_text("Hi from Azure")

    resp = azure.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS)

    assert resp.choices[0].message.content == "Hi from Azure"
    req = llm.last_request()
    assert req.path == "/openai/deployments/chat-deploy/chat/completions"
    assert (req.azure, req.deployment, req.api_version) == (True, "chat-deploy", AZURE_VERSION)
    assert req.headers["api-key"] == API_KEY and "authorization" not in req.headers
    assert (req.model, req.messages, req.tools) == ("gpt-4o", MESSAGES, TOOLS)


def test_azure_stream_starts_with_prompt_filter_chunk(llm: ScriptedLLM, azure: openai.AzureOpenAI) -> None:
    llm.reply_text("Filtered but fine", chunks=2)

    chunks = list(azure.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))

    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks[1:]) == "Filtered but fine"


# -- embeddings and models ------------------------------------------------------------

def test_embeddings_are_deterministic_unit_vectors(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    first = client.embeddings.create(model="text-embedding-3-small", input=["signup count", "pricing page"])
    again = client.embeddings.create(model="text-embedding-3-small", input="signup count",
                                     encoding_format="float")

    vectors = [d.embedding for d in first.data]
    assert [d.index for d in first.data] == [0, 1]
    assert len(vectors[0]) == 384
    assert vectors[0] == again.data[0].embedding  # also proves base64 and float encodings agree
    assert vectors[0] != vectors[1]
    assert math.isclose(sum(v * v for v in vectors[0]), 1.0, rel_tol=1e-5)
    assert first.usage.total_tokens > 0
    assert llm.last_request().body["input"] == "signup count"


def test_embeddings_honour_dimensions(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=64)
    assert len(resp.data[0].embedding) == 64


def test_azure_embeddings(llm: ScriptedLLM) -> None:
    with openai.AzureOpenAI(azure_endpoint=llm.azure_endpoint, api_key=API_KEY, api_version=AZURE_VERSION,
                            azure_deployment="embed-deploy", max_retries=0) as az, \
            openai.OpenAI(base_url=llm.base_url, api_key=API_KEY, max_retries=0) as oa:
        via_azure = az.embeddings.create(model="text-embedding-3-small", input="same text")
        via_openai = oa.embeddings.create(model="text-embedding-3-small", input="same text")

    assert via_azure.data[0].embedding == via_openai.data[0].embedding
    azure_req = llm.requests[0]
    assert azure_req.path == "/openai/deployments/embed-deploy/embeddings"
    assert (azure_req.deployment, azure_req.api_version, azure_req.api_key) == ("embed-deploy", AZURE_VERSION, API_KEY)


def test_models_list(client: openai.OpenAI) -> None:
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]


def test_wait_for_requests_has_a_deadline(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_text("one")
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(llm.wait_for_requests(1, timeout=1.0, endpoint="chat")) == 1
    with pytest.raises(TimeoutError):
        llm.wait_for_requests(2, timeout=0.05)


# -- reported usage, retry hints, repeated answers -------------------------------------

def test_a_reply_can_report_no_usage_at_all(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_text("Uncounted.", report_usage=False)
    llm.reply_text("Uncounted too.", report_usage=False)

    chunks = list(stream_chat(client, stream_options={"include_usage": True}))
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert all(c.choices and c.usage is None for c in chunks)  # asked for, and no usage chunk came
    assert whole.usage is None
    with pytest.raises(ValueError):
        text_reply("x", usage=(1, 1), report_usage=False)


def test_retry_after_ms_is_sent(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    llm.reply_error(429, retry_after_ms=250)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.response.headers["retry-after-ms"] == "250"
    assert "retry-after" not in info.value.response.headers


def test_answering_every_request_lasts_for_its_block(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    with llm.answering_every_request(error_reply(503)):
        for _ in range(3):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert llm.default_reply is None
    llm.assert_complete()  # answered, not unexpected


# -- the Ollama dialect ---------------------------------------------------------------

@pytest.fixture
def ollama() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(dialect="ollama", ollama_models=["llama3.2:latest", "mistral:7b"]) as server:
        yield server
        server.assert_complete()


@pytest.fixture
def ollama_client(ollama: ScriptedLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=ollama.base_url, api_key="ollama", max_retries=0, timeout=5.0) as c:
        yield c


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_ollama_streams_its_own_chunk_shapes(ollama: ScriptedLLM, ollama_client: openai.OpenAI) -> None:
    ollama.reply_text("Hello from a local model", chunks=3, usage=(26, 6))

    raw = ollama_client.chat.completions.with_raw_response.create(
        model="llama3.2", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    events = [json.loads(line[len("data: "):]) for line in raw.http_response.iter_lines()
              if line.startswith("data: ") and line != "data: [DONE]"]

    *answer, usage = events
    assert all(e["system_fingerprint"] == "fp_ollama" and "service_tier" not in e for e in events)
    assert all("usage" not in e and e["choices"][0]["delta"]["role"] == "assistant" for e in answer)
    assert all("logprobs" not in e["choices"][0] for e in answer)
    assert "".join(e["choices"][0]["delta"]["content"] for e in answer) == "Hello from a local model"
    assert answer[0]["choices"][0]["delta"]["content"]  # no role-only opening chunk
    assert [e["choices"][0]["finish_reason"] for e in answer] == [None, None, None, "stop"]
    assert usage["choices"] == [] and usage["usage"] == {"prompt_tokens": 26, "completion_tokens": 6,
                                                         "total_tokens": 32}
    assert answer[0]["id"].startswith("chatcmpl-") and answer[0]["id"][len("chatcmpl-"):].isdigit()
    assert answer[0]["model"] == "llama3.2"


def test_ollama_sends_usage_only_when_asked(ollama: ScriptedLLM, ollama_client: openai.OpenAI) -> None:
    ollama.reply_text("No usage asked for", usage=(3, 4))
    chunks = list(ollama_client.chat.completions.create(model="llama3.2", messages=MESSAGES, stream=True))
    assert all(c.usage is None and c.choices for c in chunks)


def test_ollama_tool_calls_come_whole_in_one_chunk(ollama: ScriptedLLM, ollama_client: openai.OpenAI) -> None:
    scripted = ollama.reply_tool_calls(TWO_CALLS)

    chunks = list(ollama_client.chat.completions.create(model="llama3.2", messages=MESSAGES, tools=TOOLS,
                                                        stream=True))

    with_calls = [c for c in chunks if c.choices[0].delta.tool_calls]
    assert len(with_calls) == 1
    calls = with_calls[0].choices[0].delta.tool_calls
    assert [(c.index, c.id, c.function.name) for c in calls] == [(i, s.id, s.name)
                                                                 for i, s in enumerate(scripted.tool_calls)]
    assert [json.loads(c.function.arguments) for c in calls] == [c["arguments"] for c in TWO_CALLS]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_ollama_non_streaming(ollama: ScriptedLLM, ollama_client: openai.OpenAI) -> None:
    ollama.reply_text("Whole answer", usage=(8, 2))
    ollama.reply_text("Uncounted", report_usage=False)

    counted = ollama_client.chat.completions.create(model="llama3.2", messages=MESSAGES)
    uncounted = ollama_client.chat.completions.create(model="llama3.2", messages=MESSAGES)

    assert counted.system_fingerprint == "fp_ollama" and counted.choices[0].message.content == "Whole answer"
    assert (counted.usage.prompt_tokens, counted.usage.completion_tokens) == (8, 2)
    assert uncounted.usage is None


def test_ollama_native_endpoints_list_the_configured_models(ollama: ScriptedLLM,
                                                            ollama_client: openai.OpenAI) -> None:
    tags = get_json(f"{ollama.azure_endpoint}/api/tags")
    assert [(m["name"], m["model"]) for m in tags["models"]] == [("llama3.2:latest", "llama3.2:latest"),
                                                                 ("mistral:7b", "mistral:7b")]
    assert [m["details"]["family"] for m in tags["models"]] == ["llama", "mistral"]
    assert get_json(f"{ollama.azure_endpoint}/api/version") == {"version": OLLAMA_VERSION}
    assert [m.id for m in ollama_client.models.list()] == ["llama3.2:latest", "mistral:7b"]
    assert [r.endpoint for r in ollama.requests] == ["ollama_tags", "ollama_version", "models"]


def test_ollama_embeddings_as_openai(ollama: ScriptedLLM, ollama_client: openai.OpenAI) -> None:
    resp = ollama_client.embeddings.create(model="nomic-embed-text", input="signup count")
    assert len(resp.data[0].embedding) == 384


def test_native_endpoints_are_unexpected_on_an_openai_server(llm: ScriptedLLM) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        get_json(f"{llm.azure_endpoint}/api/tags")
    assert info.value.code == 404
    with pytest.raises(AssertionError, match="unexpected request: GET /api/tags"):
        llm.assert_complete()
    llm.reset()


def test_the_dialect_can_be_switched_for_a_block(llm: ScriptedLLM, client: openai.OpenAI) -> None:
    with llm.using_dialect("ollama"):
        llm.reply_text("as ollama")
        assert client.chat.completions.create(model="m", messages=MESSAGES).system_fingerprint == "fp_ollama"
    llm.reply_text("as openai")
    assert client.chat.completions.create(model="m", messages=MESSAGES).system_fingerprint == SYSTEM_FINGERPRINT
    with pytest.raises(ValueError, match="unknown dialect"):
        ScriptedLLM(dialect="gemini")  # type: ignore[arg-type]
