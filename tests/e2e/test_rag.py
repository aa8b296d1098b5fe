"""Retrieval in a chat turn, end to end: documents indexed by the real embeddings worker with the local
model, a chatbot linked to the base, and the chunks that reached the model's prompt read back from
the scripted LLM server's recorded request."""
from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from app.jobs import make_celery
from app.knowledge import repository as repo
from app.knowledge.ingest import enqueue_document
from app.knowledge.records import LOCAL_DIMENSIONS, LOCAL_EMBEDDER, LOCAL_MODEL
from tests.conftest import ALICE, BOB
from tests.support.processes import wait_until

DOCUMENTS = {
    "Returns policy": "You can send a lamp back within 30 days of delivery for a full refund. "
                      "Returned items must be unused and in their original box.",
    "Shipping times": "Orders leave our warehouse within two business days. Delivery inside the EU takes "
                      "three to five days; express delivery arrives the next day.",
    "Care instructions": "Clean the brass desk lamp with a dry cloth. Never use water or solvents on the shade.",
}
# Bob's own document, on the same subject: Alice must never see it.
BOBS_DOCUMENT = ("Bob's returns note", "Bob may send lamps back within 90 days: secret code BOB-RETURNS-7731.")


def _code(bases: list[str], *, max_chunks: int = 2, threshold: float = 0.3) -> str:
    lines = "".join(f" * @fluxbase:knowledge-base {name}\n" for name in bases)
    return ("/**\n * Lamp help\n * @fluxbase:description Lamp shop help\n" + lines +
            f" * @fluxbase:rag-max-chunks {max_chunks}\n * @fluxbase:rag-similarity-threshold {threshold}\n"
            " * @fluxbase:rate-limit 600\n */\nexport default `You help customers of a lamp shop.`;\n")


def _sync(database, namespace: str, code: str):
    from app.chatbots.sync_service import sync_payload

    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "lamps", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return report


@pytest.fixture(scope="module")
def lamp_base(database, embeddings_worker):
    namespace = f"rag-{uuid.uuid4().hex[:8]}"
    celery = make_celery(database)
    with psycopg.connect(database.database_url) as conn:
        kb = repo.create_kb(conn, namespace=namespace, name="lamp-docs", description="Lamp shop documents",
                            embedder=LOCAL_EMBEDDER, model=LOCAL_MODEL, dimensions=LOCAL_DIMENSIONS, chunk_size=200,
                            chunk_overlap=30, chunking="recursive")
        docs = [repo.add_document(conn, kb.id, title=title, content=content, metadata={}, owner_id=None, tags=(),
                                  source="text")[0] for title, content in DOCUMENTS.items()]
        docs.append(repo.add_document(conn, kb.id, title=BOBS_DOCUMENT[0], content=BOBS_DOCUMENT[1], metadata={},
                                      owner_id=BOB, tags=(), source="text")[0])
        conn.commit()
        for doc in docs:
            enqueue_document(celery, doc.id)

        def indexed():
            rows = conn.execute("SELECT status FROM ai.documents WHERE kb_id = %s", (kb.id,)).fetchall()
            conn.commit()
            return all(status in ("indexed", "failed") for (status,) in rows)

        wait_until(indexed, 120, "the lamp documents indexed")
        statuses = conn.execute("SELECT status, error FROM ai.documents WHERE kb_id = %s", (kb.id,)).fetchall()
        assert all(s == "indexed" for s, _ in statuses), statuses
    celery.close()
    return namespace


def _passages(system: str) -> list[tuple[str, str]]:
    marker = re.search(r"<<<PASSAGE (\w+) \[1\]", system).group(1)
    found = re.findall(rf"<<<PASSAGE {marker} \[\d+\] source: (.+?) \(lamp-docs\)\n(.*?)\nPASSAGE {marker}>>>",
                       system, re.S)
    assert system.count(f"<<<PASSAGE {marker} [") == len(found)
    return found


def test_the_chunks_that_match_reach_the_prompt_delimited_and_not_another_users(chat, llm, database, lamp_base):
    _sync(database, lamp_base, _code(["lamp-docs"]))
    client = chat(ALICE)
    conversation = client.start_chat("lamps", namespace=lamp_base)["conversation_id"]
    llm.reply_text("You have 30 days.")
    events = client.ask(conversation, "How long do I have to return a lamp I bought?", timeout=60)
    assert events[-1]["type"] == "done", events[-1]
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert "searching_knowledge" in steps
    system = llm.chat_requests()[-1].messages[0]["content"]
    passages = _passages(system)
    assert passages[0] == ("Returns policy", DOCUMENTS["Returns policy"])
    assert len(passages) <= 2
    assert "BOB-RETURNS" not in system and "untrusted" in system


def test_the_owner_sees_their_own_document(chat, llm, database, lamp_base):
    _sync(database, lamp_base, _code(["lamp-docs"], max_chunks=3))
    client = chat(BOB)
    conversation = client.start_chat("lamps", namespace=lamp_base)["conversation_id"]
    llm.reply_text("90 days for you.")
    events = client.ask(conversation, "How long do I have to return a lamp I bought?", timeout=60)
    assert events[-1]["type"] == "done", events[-1]
    titles = [title for title, _ in _passages(llm.chat_requests()[-1].messages[0]["content"])]
    assert "Bob's returns note" in titles and "Returns policy" in titles


def test_a_follow_up_question_finds_passages_through_the_last_exchange(chat, llm, database, lamp_base):
    _sync(database, lamp_base, _code(["lamp-docs"], max_chunks=1))
    client = chat(ALICE)
    conversation = client.start_chat("lamps", namespace=lamp_base)["conversation_id"]
    llm.reply_text("Clean it with a dry cloth.")
    llm.reply_text("No.")
    assert client.ask(conversation, "How should I clean my brass desk lamp?", timeout=60)[-1]["type"] == "done"
    assert client.ask(conversation, "And may I use water on it?", timeout=60)[-1]["type"] == "done"
    titles = [title for title, _ in _passages(llm.chat_requests()[-1].messages[0]["content"])]
    assert titles == ["Care instructions"]


def test_an_unknown_base_is_a_sync_warning_and_the_turn_goes_on_without_it(chat, llm, database, lamp_base):
    report = _sync(database, lamp_base, _code(["lamp-docs", "no-such-base"], max_chunks=1))
    assert [w["warning"] for w in report.warnings] == [
        "no-such-base: unknown knowledge base (create it with `fluxbase kb create no-such-base`); it is not searched"]
    client = chat(ALICE)
    conversation = client.start_chat("lamps", namespace=lamp_base)["conversation_id"]
    llm.reply_text("Two business days.")
    events = client.ask(conversation, "When will my order be shipped?", timeout=60)
    assert events[-1]["type"] == "done", events[-1]
    system = llm.chat_requests()[-1].messages[0]["content"]
    assert [title for title, _ in _passages(system)] == ["Shipping times"]
    assert "could not be searched for this message (no-such-base)" in system


def test_a_chatbot_without_bases_has_no_search_step(chat, llm):
    client = chat(ALICE)
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_text("Hello.")
    events = client.ask(conversation, "Hi")
    assert events[-1]["type"] == "done"
    assert "searching_knowledge" not in [e.get("step") for e in events if e["type"] == "progress"]
    assert "PASSAGE" not in llm.chat_requests()[-1].messages[0]["content"]
