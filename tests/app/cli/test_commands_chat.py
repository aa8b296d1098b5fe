"""`fluxbase chat` in a pseudo-terminal against the live server and the scripted LLM, as a person
would use it: typed lines, Ctrl-C, and what the screen shows."""
from __future__ import annotations

import re
import sys

import pexpect
import pytest

from tests.support.processes import ROOT, free_port

ID = re.compile(r"conversation ([0-9a-f-]{36})")
PROMPT = "you> "


@pytest.fixture
def fluxbase_chat(web, test_chatbots, base_env):
    children = []

    def spawn(*args: str, env: dict | None = None):
        child = pexpect.spawn(sys.executable, ["-m", "app.cli", "chat", *args], cwd=str(ROOT),
                              env={**base_env, "TERM": "xterm", **(env or {})}, encoding="utf-8", timeout=30,
                              dimensions=(50, 200))
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def started(child) -> str:
    child.expect(ID)
    conversation = child.match.group(1)
    child.expect_exact(PROMPT)
    return conversation


def test_a_chat_session_streams_shows_tables_history_new_cancel_and_quits(fluxbase_chat, web, llm):
    child = fluxbase_chat("shop", "--namespace", "tests", "--url", web)
    first = started(child)

    llm.reply_text("Hello there, Alice.", chunks=4)
    child.sendline("hi")
    child.expect_exact("Hello there, Alice.")
    child.expect(r"\(\d+ tokens\)")
    child.expect_exact(PROMPT)

    sql = "select id, total from orders order by id limit 3"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "my orders"}}])
    llm.reply_text("Those are your first three orders.")
    child.sendline("show my orders")
    child.expect("SELECT")          # the statement pretty-printed: keywords upper-cased, clauses on lines
    child.expect("FROM")
    child.expect(r"ORDER\S* \S*BY")  # (syntax colours sit between the words)
    child.expect("total")           # the table's header
    child.expect("58.8")            # and a row (alice's first order)
    child.expect_exact("Those are your first three orders.")
    child.expect_exact(PROMPT)

    child.sendline("/history")
    child.expect(r"you\S*: hi")
    child.expect(r"shop\S*: Hello there, Alice\.")
    child.expect(r"you\S*: show my orders")
    child.expect_exact(PROMPT)

    child.sendline("/new")
    second = started(child)
    assert second != first
    child.sendline("/history")
    child.expect_exact("(no messages yet)")
    child.expect_exact(PROMPT)

    gate = llm.reply_held("Counting to a hundred, slowly, one number at a time", after_chunks=2, chunks=8)
    child.sendline("count")
    child.expect_exact("Co")      # the first streamed piece; the rest is held
    assert llm.wait_for_held(1)
    child.sendintr()                # Ctrl-C: the answer is cancelled, the chat goes on
    child.expect_exact("cancelling")
    child.expect_exact("cancelled")
    child.expect_exact(PROMPT)
    gate.open()

    llm.reply_text("Still here.")
    child.sendline("are you there?")
    child.expect_exact("Still here.")
    child.expect_exact(PROMPT)

    child.sendline("/nope")
    child.expect_exact("unknown command /nope")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_second_ctrl_c_during_an_answer_quits(fluxbase_chat, web, llm):
    child = fluxbase_chat("shop", "--namespace", "tests", "--url", web, "--user", "bob")
    started(child)
    gate = llm.reply_held("Counting to a hundred, slowly, one number at a time", after_chunks=2, chunks=8)
    child.sendline("count")
    child.expect_exact("Co")      # the first streamed piece; the rest is held
    assert llm.wait_for_held(1)
    child.sendintr()
    child.expect_exact("cancelling")
    # Quits whether the cancel has already ended the turn (Ctrl-C at the prompt: 0) or not yet (130).
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus in (0, 130)
    gate.open()


def test_the_chat_finds_the_namespace_by_name_and_resumes_a_conversation(fluxbase_chat, web, llm):
    child = fluxbase_chat("shop", "--url", web)
    conversation = started(child)
    llm.reply_text("Remembered.")
    child.sendline("remember me")
    child.expect_exact("Remembered.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    again = fluxbase_chat("shop", "--url", web, "--conversation", conversation)
    again.expect_exact("resumed shop")
    assert started(again) == conversation
    again.sendline("/history")
    again.expect(r"you\S*: remember me")
    again.sendline("/quit")
    again.expect(pexpect.EOF)


@pytest.mark.parametrize("args, message", [
    (["no-such-bot", "--namespace", "tests"], "chatbot 'no-such-bot' in namespace tests not found or disabled"),
    (["Bad Name!"], "not a chatbot name"),
    (["shop", "--user", "nobody"], "--user must be a user id (UUID) or one of alice, bob"),
    (["shop", "--token", "not-a-jwt"], "the server refused the sign-in"),
    (["shop", "--conversation", "00000000-0000-4000-8000-000000000000", "--namespace", "tests"],
     "no conversation 00000000-0000-4000-8000-000000000000 of yours"),
])
def test_mistakes_get_a_clear_message_and_a_non_zero_exit(fluxbase_chat, web, args, message):
    child = fluxbase_chat(*args, "--url", web)
    child.expect_exact(message)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_a_server_that_is_not_running_is_said_so(fluxbase_chat):
    child = fluxbase_chat("shop", "--url", f"http://127.0.0.1:{free_port()}")
    child.expect_exact("cannot reach the server")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_production_needs_a_real_token(fluxbase_chat, web):
    child = fluxbase_chat("shop", "--url", web, env={"FLUXBASE_ENV": "production"})
    child.expect_exact("sign in with --token JWT or FLUXBASE_TOKEN")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
