"""The chat turn end to end: real WebSocket client -> web -> Celery worker -> scripted LLM -> PostgreSQL."""
import psycopg
import pytest
from psycopg.rows import dict_row

from app.chat import turns
from app.providers import token_count
from tests.conftest import ALICE, BOB


def types(events):
    return [e["type"] for e in events]


def content(events):
    return "".join(e["delta"] for e in events if e["type"] == "content")


def test_text_only_turn(chat, llm):
    client = chat()
    started = client.start_chat("shop", namespace="tests")
    assert started["type"] == "chat_started" and started["resumed"] is False and started["chatbot"] == "shop"
    conversation = started["conversation_id"]
    llm.reply_text("Hello Alice, how can I help?", chunks=4, usage=(120, 9))
    events = client.ask(conversation, "Hi there")
    assert types(events)[0] == "progress" and events[0]["step"] == "thinking"
    assert content(events) == "Hello Alice, how can I help?"
    assert all(e["delta"] for e in events if e["type"] == "content")
    done = events[-1]
    assert done["type"] == "done"
    assert done["usage"] == {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}
    seqs = [e["seq"] for e in events]
    # Increasing; not always gap-free: deltas queued behind a slow reader are sent merged, under the
    # last one's seq (docs/chat.md), so the merged ones' numbers are skipped.
    assert seqs == sorted(set(seqs)) and seqs[0] > started["seq"]
    assert len({e["message_id"] for e in events}) == 1
    system = llm.last_request().messages[0]
    assert system["role"] == "system"
    assert f"for user {ALICE}" in system["content"]
    assert "Current date (UTC):" in system["content"]
    assert "orders(id integer, user_id uuid" in system["content"]
    assert "Answer in the language of the user's latest message." in system["content"]
    assert llm.last_request().body["stream_options"] == {"include_usage": True}


def test_one_tool_round_the_client_gets_rows_and_the_model_a_summary(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    sql = "SELECT id, status, total FROM orders ORDER BY id"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "list my orders"}}],
                         usage=(200, 20))
    llm.reply_text("You have 5 orders.", usage=(300, 6))
    events = client.ask(conversation, "List my orders")
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps[:3] == ["thinking", "querying", "executing"]
    assert any(e["type"] == "progress" and e["message"] == "Executing: list my orders" for e in events)
    result = next(e for e in events if e["type"] == "query_result")
    assert result["query"] == sql and result["row_count"] == 5 and result["truncated"] is False
    assert len(result["data"]) == 5 and "error" not in result
    assert result["summary"].startswith("Returned 5 rows")
    assert events[-1]["usage"] == {"prompt_tokens": 500, "completion_tokens": 26, "total_tokens": 526}
    second = llm.chat_requests()[-1].messages
    tool_message = next(m for m in second if m["role"] == "tool")
    assert tool_message["content"].startswith("Returned 5 rows")
    # Five rows fit the model's sample (MODEL_SAMPLE_ROWS, 5): it sees each of them once.
    assert "Sample rows (5 of 5):" in tool_message["content"] and tool_message["content"].count('"status"') == 5
    assistant = next(m for m in second if m["role"] == "assistant")
    assert assistant["tool_calls"][0]["function"]["name"] == "execute_sql"
    audit = owner_conn.execute("select verdict, row_count, user_id::text from ai.sql_audit where sql = %s "
                               "order by id desc limit 1", (sql,)).fetchone()
    assert audit == ("executed", 5, ALICE)


def test_model_sees_at_most_five_sample_rows(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    sql = "SELECT g AS n FROM generate_series(1, 40) g"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "numbers"}}])
    llm.reply_text("Forty numbers.")
    events = client.ask(conversation, "count to forty")
    result = next(e for e in events if e["type"] == "query_result")
    assert result["row_count"] == 40 and len(result["data"]) == 40
    tool_text = next(m for m in llm.chat_requests()[-1].messages if m["role"] == "tool")["content"]
    assert '{"n":6}' not in tool_text.replace(" ", "") and '{"n":5}' in tool_text.replace(" ", "")
    assert "35" in tool_text  # says how many rows were left out


def test_two_tool_rounds_and_history_in_the_next_turn(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT count(*) AS n FROM orders",
                                                                 "description": "count"}}])
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT sum(total) AS s FROM orders",
                                                                 "description": "sum"}}])
    llm.reply_text("5 orders worth 185.20.")
    events = client.ask(conversation, "How many orders and how much?")
    assert len([e for e in events if e["type"] == "query_result"]) == 2
    assert events[-1]["type"] == "done"
    llm.reply_text("You asked about your orders.")
    client.ask(conversation, "What did I ask before?")
    history = llm.last_request().messages
    roles = [m["role"] for m in history]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "user"]
    assert history[-2]["content"] == "5 orders worth 185.20."


def test_parallel_tool_calls(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([
        {"name": "execute_sql", "arguments": {"sql": "SELECT count(*) AS orders FROM orders", "description": "a"}},
        {"name": "execute_sql", "arguments": {"sql": "SELECT count(*) AS products FROM products", "description": "b"}},
    ])
    llm.reply_text("Both counted.")
    events = client.ask(conversation, "Count orders and products")
    results = [e for e in events if e["type"] == "query_result"]
    # Both ran, each as Alice: her 5 orders, and the 8 products anyone may read.
    assert sorted((r["data"] for r in results), key=lambda data: list(data[0])) == [[{"orders": 5}], [{"products": 8}]]
    tool_messages = [m for m in llm.last_request().messages if m["role"] == "tool"]
    calls = [m for m in llm.last_request().messages if m["role"] == "assistant"][0]["tool_calls"]
    assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in calls]


def test_rls_two_users_same_query_see_only_their_own_rows(chat, llm):
    seen = {}
    for user, expected in ((ALICE, 5), (BOB, 3)):
        client = chat(user)
        conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
        llm.reply_tool_calls([{"name": "execute_sql",
                               "arguments": {"sql": "SELECT * FROM orders", "description": "all orders"}}])
        llm.reply_text("Here they are.")
        result = next(e for e in client.ask(conversation, "Show all orders") if e["type"] == "query_result")
        assert result["row_count"] == expected
        seen[user] = {row["user_id"] for row in result["data"]}
    assert seen == {ALICE: {ALICE}, BOB: {BOB}}


@pytest.mark.parametrize("sql,reason", [
    ("DELETE FROM orders", "Operation not allowed: DELETE"),
    ("SELECT * FROM auth.users", "Table not allowed: auth.users"),
    ("SELECT set_config('request.jwt.claims', '{}', true)", "Function not allowed: set_config"),
    ("SELECT * FROM locations", "Table not allowed: locations"),
])
def test_refusals_go_to_the_model_and_the_client(chat, llm, owner_conn, sql, reason):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "try"}}])
    llm.reply_text("I cannot do that.")
    events = client.ask(conversation, "do it")
    result = next(e for e in events if e["type"] == "query_result")
    assert result["error"] == reason
    assert events[-1]["type"] == "done"
    tool_text = next(m for m in llm.last_request().messages if m["role"] == "tool")["content"]
    assert reason in tool_text
    verdict = owner_conn.execute("select verdict, reason from ai.sql_audit where sql = %s order by id desc limit 1",
                                 (sql,)).fetchone()
    assert verdict == ("refused", reason)


def test_fixed_language_instruction(chat, llm):
    client = chat()
    conversation = client.start_chat("shop-german", namespace="tests")["conversation_id"]
    llm.reply_text("Hallo!")
    client.ask(conversation, "Hello")
    assert "Always answer in German" in llm.last_request().messages[0]["content"]


def test_messages_and_usage_are_persisted(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT 1 AS one", "description": "one"}}],
                         usage=(10, 2))
    llm.reply_text("One.", usage=(20, 1))
    events = client.ask(conversation, "Give me one")
    rows = owner_conn.execute(
        "select id::text, role, content, tool_calls, tool_call_id, prompt_tokens, completion_tokens "
        "from ai.messages where conversation_id = %s order by ordinal", (conversation,)).fetchall()
    assert [r[1] for r in rows] == ["user", "assistant", "tool", "assistant"]
    assert rows[1][3][0]["name"] == "execute_sql" and rows[2][4] == rows[1][3][0]["id"]
    assert rows[3][0] == events[-1]["message_id"] and rows[3][2] == "One." and rows[3][5:] == (30, 3)
    title = owner_conn.execute("select title from ai.conversations where id = %s", (conversation,)).fetchone()[0]
    assert title == "Give me one"


def test_usage_an_ollama_server_reports_is_the_turns(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    with llm.using_dialect("ollama"):
        llm.reply_text("Hello from a local model.", usage=(31, 5))
        events = client.ask(conversation, "Hi")
    assert content(events) == "Hello from a local model."
    assert events[-1]["usage"] == {"prompt_tokens": 31, "completion_tokens": 5, "total_tokens": 36}
    turn = owner_conn.execute("select prompt_tokens, completion_tokens, usage_estimated from ai.turns "
                              "where conversation_id = %s", (conversation,)).fetchone()
    assert turn == (31, 5, False)


def test_usage_is_counted_and_marked_estimated_when_the_provider_reports_none(chat, llm, owner_conn, database):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT 1 AS one", "description": "one"}}],
                         usage=(200, 20))
    llm.reply_text("One, counted by nobody.", report_usage=False)
    events = client.ask(conversation, "Give me one")
    second = llm.chat_requests()[-1].body
    model = second["model"]
    prompt = token_count.count_prompt(model, second["messages"], second["tools"])
    completion = token_count.count_text(model, "One, counted by nobody.")
    # The first round's reported counts plus the second's estimated ones: the sum is an estimate.
    usage = {"prompt_tokens": 200 + prompt, "completion_tokens": 20 + completion,
             "total_tokens": 220 + prompt + completion, "estimated": True}
    assert events[-1]["type"] == "done" and events[-1]["usage"] == usage
    turn = owner_conn.execute("select prompt_tokens, completion_tokens, usage_estimated from ai.turns "
                              "where conversation_id = %s", (conversation,)).fetchone()
    assert turn == (200 + prompt, 20 + completion, True)
    answer = owner_conn.execute("select prompt_tokens, completion_tokens, usage_estimated from ai.messages "
                                "where id = %s", (events[-1]["message_id"],)).fetchone()
    assert answer == (200 + prompt, 20 + completion, True)
    # The ending rebuilt from storage (a resume after a loss) says the same.
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        assert turns.stored_ending(conn, events[-1]["message_id"])["usage"] == usage
