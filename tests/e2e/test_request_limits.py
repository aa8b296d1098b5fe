"""@fluxbase:rate-limit over real sockets: exact under concurrency, refused before anything is stored."""
import uuid

from tests.conftest import ALICE, token_for
from tests.support.chat_client import ChatClient
from tests.support.llm_script import text_reply


def test_61_concurrent_messages_against_rate_limit_60_start_exactly_60_turns(web, test_chatbots, llm, database,
                                                                          owner_conn):
    from app.chatbots.sync_service import sync_payload

    namespace = f"rl-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Limited\n * @fluxbase:description Sixty a minute\n * @fluxbase:rate-limit 60\n"
            " * @fluxbase:token-budget 10000000\n */\n"
            "export default `Be brief.`;\n")
    assert not sync_payload(database, namespace=namespace, chatbots=[{"name": "limited", "code": code}],
                            delete_missing=False, dry_run=False).errors
    clients = [ChatClient(web, token_for(ALICE)) for _ in range(4)]
    try:
        owned = {}
        for index in range(61):
            client = clients[index % 4]
            owned[client.start_chat("limited", namespace=namespace)["conversation_id"]] = client
        with llm.answering_every_request(text_reply("ok", chunks=1)):
            for conversation, client in owned.items():
                client.send({"type": "message", "conversation_id": conversation, "content": "hi"})
            endings = {}
            for client in clients:
                mine = {c for c, owner in owned.items() if owner is client}
                while not mine <= set(endings):
                    event = client.recv(60)
                    if event["type"] in ("done", "error"):
                        endings[event["conversation_id"]] = event
        refused = [e for e in endings.values() if e["type"] == "error"]
        assert sum(e["type"] == "done" for e in endings.values()) == 60 and len(refused) == 1
        assert refused[0]["code"] == "RATE_LIMIT_EXCEEDED" and refused[0]["error"] == "Rate limit exceeded"
        assert 1 <= refused[0]["retry_after"] <= 60
        # Nothing of the refused message was stored, and no model was asked for it.
        stored = owner_conn.execute("select count(*) from ai.messages where conversation_id = %s",
                                    (refused[0]["conversation_id"],)).fetchone()[0]
        assert stored == 0 and len(llm.chat_requests()) == 60
    finally:
        for client in clients:
            client.close()


def test_a_flooding_socket_and_a_caller_opening_conversations_without_end_are_refused(base_env, workdir, llm):
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "abuse-limits",
                        env={"WS_FRAMES_PER_SECOND": "5", "CONVERSATIONS_PER_MINUTE": "3"}) as running:
        client = ChatClient(running.web, token_for(ALICE))
        try:
            started = [client.start_chat("shop", namespace="tests") for _ in range(4)]
            assert [s["type"] for s in started[:3]] == ["chat_started"] * 3
            assert (started[3]["code"], started[3]["limit"]) == ("RATE_LIMIT_EXCEEDED", "conversations")
            for _ in range(30):
                client.send({"type": "cancel", "conversation_id": str(uuid.uuid4())})
            answers = [client.recv(10) for _ in range(30)]
            flooded = [a for a in answers if a.get("limit") == "frames"]
            assert flooded and all(a["code"] == "RATE_LIMIT_EXCEEDED" and a["retry_after"] >= 1 for a in flooded)
            assert len(flooded) >= 30 - 10  # at most the burst went through
        finally:
            client.close()
