"""The scripted LLM's HTTP control (llm_control.py), driven as the JavaScript SDK's tests drive it."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.support.llm_server import ScriptedLLM

API_KEY = "sk-test-control"
MESSAGES: list[Any] = [{"role": "user", "content": "How many orders?"}]


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(llm: ScriptedLLM) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llm.base_url, api_key=API_KEY, max_retries=0, timeout=5.0) as c:
        yield c


def control(llm: ScriptedLLM, method: str, action: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{llm.azure_endpoint}/__script__/{action}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stream_text(client: openai.OpenAI) -> str:
    chunks = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_replies_queued_over_http_answer_in_order_and_complete_the_script(llm, client) -> None:
    status, body = control(llm, "POST", "reply", {"replies": [
        {"tool_calls": [{"name": "execute_sql", "arguments": {"sql": "SELECT 1"}}]},
        {"text": "One row.", "chunks": 2, "usage": [11, 3]},
    ]})
    assert (status, body) == (201, {"queued": 2})
    assert control(llm, "GET", "status")[1]["pending"] == ["tool calls execute_sql", "text 'One row.'"]

    first = client.chat.completions.create(model="m", messages=MESSAGES)
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("execute_sql", {"sql": "SELECT 1"})
    second = client.chat.completions.create(model="m", messages=MESSAGES)
    assert second.choices[0].message.content == "One row."
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (11, 3)

    assert control(llm, "GET", "status")[1] == {"pending": [], "unexpected": []}
    requests = control(llm, "GET", "requests")[1]["requests"]
    assert [r["messages"] for r in requests] == [MESSAGES, MESSAGES]
    assert all(r["finished"] and r["status"] == 200 for r in requests)
    # Control requests are not LLM requests: nothing recorded, nothing unexpected.
    assert len(llm.requests) == 2
    llm.assert_complete()


def test_an_unused_reply_queued_over_http_fails_the_completeness_check(llm) -> None:
    control(llm, "POST", "reply", {"text": "never asked for"})
    with pytest.raises(AssertionError, match="unconsumed reply: text 'never asked for'"):
        llm.assert_complete()
    assert control(llm, "POST", "reset")[0] == 200
    llm.assert_complete()


def test_a_held_reply_waits_for_its_named_gate(llm, client) -> None:
    control(llm, "POST", "reply", {"text": "one two three four five", "chunks": 5,
                                   "hold": {"gate": "g1", "after_chunks": 2}})
    result: dict[str, str] = {}
    reader = threading.Thread(target=lambda: result.update(text=stream_text(client)))
    reader.start()
    status, body = control(llm, "POST", "wait", {"held": 1, "timeout": 10})
    assert (status, body["ok"]) == (200, True)
    assert reader.is_alive() and "text" not in result
    assert control(llm, "POST", "gates/g1/open")[0] == 200
    reader.join(10)
    assert result["text"] == "one two three four five"
    assert control(llm, "POST", "wait", {"finished": 1})[1]["ok"] is True
    llm.assert_complete()


def test_an_error_reply_reaches_the_client_with_its_status(llm, client) -> None:
    control(llm, "POST", "reply", {"error": {"status": 429, "message": "slow down", "retry_after": 7}})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "7" and "slow down" in str(info.value)


@pytest.mark.parametrize("body, message", [
    ({}, "a reply needs text, tool_calls or error"),
    ({"text": "x", "colour": "red"}, "unknown reply key(s): colour"),
    ({"tool_calls": []}, "tool_calls must be a non-empty list"),
    ({"text": "x", "chunks": 0}, "chunks must be a positive integer"),
    ({"text": "x", "hold": {}}, "hold needs"),
    ({"replies": []}, "send a reply object"),
])
def test_a_malformed_reply_is_refused_and_nothing_is_queued(llm, body, message) -> None:
    status, answer = control(llm, "POST", "reply", body)
    assert status == 400 and message in answer["error"]
    assert llm.pending_replies() == []


def test_waits_end_at_their_deadline_and_unknown_requests_are_404(llm) -> None:
    status, body = control(llm, "POST", "wait", {"requests": 1, "timeout": 0.2})
    assert (status, body) == (408, {"ok": False, "counts": {"requests": 0}})
    assert control(llm, "POST", "wait", {"timeout": 1})[0] == 400
    assert control(llm, "GET", "nothing")[0] == 404
    assert llm.requests == []
