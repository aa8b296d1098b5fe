"""A provider failing before its answer began, through the whole system: retried within
LLM_RETRY_SECONDS when a retry can help, never for refused credentials or once text has gone out.

On a stack of its own whose worker retries (the session's runs with LLM_MAX_RETRIES=0, so that a
scripted failure there is one request)."""
import time

import pytest

from tests.conftest import ALICE, token_for
from tests.support.chat_client import ChatClient
from tests.support.llm_script import error_reply

RETRY_SECONDS = 2


@pytest.fixture(scope="module")
def stack(base_env, database, workdir):
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "provider-retries",
                        env={"LLM_MAX_RETRIES": "3", "LLM_RETRY_SECONDS": str(RETRY_SECONDS)}) as running:
        yield running


@pytest.fixture
def client(stack):
    connected = ChatClient(stack.web, token_for(ALICE))
    yield connected
    connected.close()


def start(client) -> str:
    return client.start_chat("shop", namespace="tests")["conversation_id"]


def test_refused_credentials_end_the_turn_after_one_request(client, llm):
    conversation = start(client)
    llm.reply_error(401)
    error = client.ask(conversation, "hello")[-1]
    assert (error["type"], error["code"], error["error"]) == ("error", "PROVIDER_AUTH_FAILED",
                                                              "Provider authentication failed")
    assert len(llm.chat_requests()) == 1


def test_a_rate_limit_is_waited_out_and_the_turn_succeeds(client, llm):
    conversation = start(client)
    llm.reply_error(429, retry_after=1)
    llm.reply_text("Answered after the wait.", usage=(15, 4))
    events = client.ask(conversation, "hello")
    assert events[-1]["type"] == "done", events[-1]
    assert "".join(e["delta"] for e in events if e["type"] == "content") == "Answered after the wait."
    assert events[-1]["usage"] == {"prompt_tokens": 15, "completion_tokens": 4, "total_tokens": 19}
    first, second = llm.chat_requests()
    assert second.received_at - first.received_at >= 1.0


def test_a_provider_failing_past_the_budget_ends_the_turn_with_provider_error(client, llm):
    conversation = start(client)
    with llm.answering_every_request(error_reply(500)):
        sent = time.monotonic()
        error = client.ask(conversation, "hello")[-1]
        took = time.monotonic() - sent
    assert (error["type"], error["code"]) == ("error", "PROVIDER_ERROR")
    assert error["error"] == "AI provider not available: the provider answered HTTP 500"
    assert "retry_after" not in error  # the provider named no wait
    tries = llm.chat_requests()
    # Tries at 0, ~0.5 and ~1.3 s; the next wait (1.5-2 s) would end past the 2 s budget, so it is not
    # made though a retry is left (LLM_MAX_RETRIES=3 would have made four tries with the default 20 s).
    assert len(tries) == 3
    assert tries[-1].received_at - tries[0].received_at < RETRY_SECONDS
    assert took < RETRY_SECONDS + 1


def test_a_rate_limit_asking_for_more_than_the_budget_is_passed_on_at_once(client, llm):
    conversation = start(client)
    llm.reply_error(429, retry_after=30)
    sent = time.monotonic()
    error = client.ask(conversation, "hello")[-1]
    assert (error["code"], error["retry_after"]) == ("PROVIDER_ERROR", 30)
    assert time.monotonic() - sent < 1.5 and len(llm.chat_requests()) == 1


def test_a_stream_cut_after_it_began_is_not_retried(client, llm, owner_conn):
    conversation = start(client)
    llm.reply_cut(after_chunks=3, text="this answer stops short")
    events = client.ask(conversation, "hello")
    assert events[-1]["code"] == "PROVIDER_ERROR"
    partial = "".join(e["delta"] for e in events if e["type"] == "content")
    stored = owner_conn.execute("select content, status from ai.messages where id = %s",
                                (events[-1]["message_id"],)).fetchone()
    assert stored == (partial, "error") and partial
    assert len(llm.chat_requests()) == 1
