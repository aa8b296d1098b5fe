"""@fluxbase:token-budget over real sockets and a real worker: concurrent turns never spend more than
the budget, max_tokens is capped by what is left, a later round that would exceed it ends the turn
cleanly, and an exhausted budget refuses a message before anything is stored."""
import uuid

import redis

from app.chat.token_budget import TokenBudget
from tests.conftest import ALICE, token_for
from tests.support.chat_client import ChatClient
from tests.support.llm_script import text_reply


def _chatbot(database, budget: int, max_tokens: int) -> tuple[str, str]:
    from app.chatbots.sync_service import sync_payload

    namespace = f"tb-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Budgeted\n * @fluxbase:description A small budget\n * @fluxbase:allowed-tables products\n"
            f" * @fluxbase:token-budget {budget}\n * @fluxbase:max-tokens {max_tokens}\n */\n"
            "export default `Be brief.`;\n")
    assert not sync_payload(database, namespace=namespace, chatbots=[{"name": "budgeted", "code": code}],
                            delete_missing=False, dry_run=False).errors
    return namespace, "budgeted"


def _ledger(database, owner_conn, namespace: str, user_id: str) -> tuple[int, int]:
    chatbot_id = owner_conn.execute("select id from ai.chatbots where namespace = %s", (namespace,)).fetchone()[0]
    client = redis.Redis.from_url(database.redis_url)
    try:
        return TokenBudget(client, hold_seconds=60).used(str(chatbot_id), f"user:{user_id}")
    finally:
        client.close()


def test_ten_concurrent_turns_never_spend_more_than_the_budget(web, llm, database, owner_conn):
    namespace, name = _chatbot(database, budget=6_000, max_tokens=1_000)
    user = str(uuid.uuid4())
    clients = [ChatClient(web, token_for(user)) for _ in range(10)]
    try:
        conversations = [client.start_chat(name, namespace=namespace)["conversation_id"] for client in clients]
        with llm.answering_every_request(text_reply("ok", chunks=1, usage=(400, 600))):
            for client, conversation in zip(clients, conversations):
                client.send({"type": "message", "conversation_id": conversation, "content": "hi"})
            endings = [client.until_type("done", "error", timeout=60)[-1] for client in clients]
        done = [e for e in endings if e["type"] == "done"]
        refused = [e for e in endings if e["type"] == "error"]
        assert done and refused
        assert all(e["code"] == "TOKEN_BUDGET_EXCEEDED" and e["error"] == "Token budget exceeded"
                   and e["retry_after"] >= 1 for e in refused)
        settled, reserved = _ledger(database, owner_conn, namespace, user)
        assert reserved == 0
        assert settled == sum(e["usage"]["total_tokens"] for e in done) <= 6_000
        # Every call asked for no more than the chatbot's max_tokens, and together no more than the budget.
        asked = [r.body.get("max_tokens") or r.body.get("max_completion_tokens") for r in llm.chat_requests()]
        assert len(asked) == len(done) and all(0 < n <= 1_000 for n in asked)
    finally:
        for client in clients:
            client.close()


def test_a_later_round_over_the_budget_ends_the_turn_and_keeps_what_it_produced(web, llm, database, owner_conn):
    namespace, name = _chatbot(database, budget=3_000, max_tokens=1_000)
    user = str(uuid.uuid4())
    client = ChatClient(web, token_for(user))
    try:
        conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
        # The first round spends almost all of the budget; the second is never asked.
        llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT count(*) AS n FROM products",
                                                                     "description": "count"}}],
                             text="Let me count them.", usage=(1_000, 1_990))
        events = client.ask(conversation, "How many products?")
        ending = events[-1]
        assert ending["type"] == "error" and ending["code"] == "TOKEN_BUDGET_EXCEEDED" and ending["retry_after"] >= 1
        assert "".join(e["delta"] for e in events if e["type"] == "content") == "Let me count them."
        assert any(e["type"] == "query_result" for e in events)
        assert len(llm.chat_requests()) == 1
        stored = owner_conn.execute("select role, content from ai.messages where conversation_id = %s order by ordinal",
                                    (conversation,)).fetchall()
        assert [r[0] for r in stored] == ["user", "assistant", "tool"] and stored[1][1] == "Let me count them."
        status = owner_conn.execute("select status, error_code, prompt_tokens + completion_tokens from ai.turns "
                                    "where conversation_id = %s", (conversation,)).fetchone()
        assert status == ("error", "TOKEN_BUDGET_EXCEEDED", 2_990)
        assert _ledger(database, owner_conn, namespace, user) == (2_990, 0)

        # Now the budget is spent: the next message is refused before it is stored or queued.
        other = client.start_chat(name, namespace=namespace)["conversation_id"]
        client.send({"type": "message", "conversation_id": other, "content": "and now?"})
        refused = client.until_type("error")[-1]
        assert refused["code"] == "TOKEN_BUDGET_EXCEEDED" and refused["conversation_id"] == other
        assert owner_conn.execute("select count(*) from ai.messages where conversation_id = %s",
                                  (other,)).fetchone()[0] == 0
        assert len(llm.chat_requests()) == 1
        # Someone else's budget is untouched.
        alice = ChatClient(web, token_for(ALICE))
        try:
            mine = alice.start_chat(name, namespace=namespace)["conversation_id"]
            llm.reply_text("Fine.", usage=(10, 2))
            assert alice.ask(mine, "hello")[-1]["type"] == "done"
        finally:
            alice.close()
    finally:
        client.close()
