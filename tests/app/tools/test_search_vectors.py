"""search_vectors on the real PostgreSQL with the local embedder: the chatbot's linked bases only,
shared documents and the user's own (never another user's), limit, threshold and tags."""
from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from app.db.connect import owner_pool
from app.demo.loader import ALICE, BOB
from app.knowledge import repository as repo
from app.knowledge.embedders import local_embedder
from app.tools.base import ToolContext, ToolServices
from app.tools.registry import default_registry
from app.tools.scopes import missing_scope_text
from workers.cancellation import TurnCancellation

DOCS = [  # (base, title, text, owner, tags)
    ("manual", "Grinder care", "Clean the burr grinder every week with a dry brush.", None, ["care"]),
    ("manual", "Espresso", "Grind espresso beans fine and tamp them firmly.", None, ["brewing"]),
    ("manual", "Alice's note", "My grinder makes a rattling noise when it grinds.", ALICE, ["care"]),
    ("manual", "Bob's note", "Bob's grinder rattles and needs cleaning too.", BOB, ["care"]),
    ("faq", "Returns", "You may return any grinder within thirty days.", None, []),
    ("other", "Unlinked", "Grinder secrets of a base this chatbot does not link.", None, []),
]


@pytest.fixture(scope="module")
def bot(database):
    from app.chatbots.sync_service import sync_payload

    namespace = f"vec-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database.database_url) as conn:
        bases = {}
        for name in ("manual", "faq", "other"):
            bases[name] = repo.create_kb(conn, namespace=namespace, name=name, description=name, embedder="local",
                                         model="all-MiniLM-L6-v2", dimensions=384, chunk_size=200, chunk_overlap=20,
                                         chunking="recursive")
        for base, title, text, owner, tags in DOCS:
            doc, _ = repo.add_document(conn, bases[base].id, title=title, content=text, owner_id=owner, tags=tags)
            repo.copy_chunks(conn, bases[base], doc.id, owner, [(0, text, 12, local_embedder().embed([text])[0])])
        conn.commit()
    code = ("/**\n * KB bot\n * @fluxbase:description Answers from the manual\n"
            " * @fluxbase:knowledge-base manual,faq\n * @fluxbase:mcp-tools search_vectors\n */\n"
            "export default `Answer from the manual.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "kb-bot", "code": code}])
    assert not report.errors, report.errors
    with psycopg.connect(database.database_url) as conn:
        chatbot_id, config = conn.execute("select id::text, config from ai.chatbots where namespace = %s",
                                          (namespace,)).fetchone()
    return chatbot_id, config


@pytest.fixture(scope="module")
def services(database):
    pool = owner_pool(database, "m1-vector-tests")
    yield ToolServices(settings=database, sql=None, db=pool)
    pool.close()


def search(services, bot, arguments, user=ALICE, config=None):
    chatbot_id, stored = bot
    events: list[dict] = []
    ctx = ToolContext(conversation_id=None, turn_id=str(uuid.uuid4()), message_id="m", chatbot_id=chatbot_id,
                      chatbot_config=config if config is not None else stored, user_id=user,
                      role="authenticated" if user else "anon", claims={}, emit=events.append,
                      cancel=TurnCancellation().token, services=services)
    text = default_registry().invoke("search_vectors", json.dumps(arguments), ctx, {"search_vectors"})
    found = [e for e in events if e["type"] == "tool_result"]
    return text, (found[-1]["data"] if found else None)


def titles(data) -> list[str]:
    return [p["title"] for p in data["passages"]]


def test_the_user_finds_shared_passages_and_their_own_never_another_users(services, bot):
    text, data = search(services, bot, {"query": "my grinder rattles", "threshold": 0.1, "limit": 20})
    assert "Alice's note" in titles(data) and "Bob's note" not in titles(data) and "Unlinked" not in titles(data)
    assert {p["knowledge_base"] for p in data["passages"]} <= {"manual", "faq"}
    assert text.startswith(f"Found {len(data['passages'])} passages in manual, faq.")
    assert "untrusted" in text and "My grinder makes a rattling noise" in text
    _text, bobs = search(services, bot, {"query": "my grinder rattles", "threshold": 0.1, "limit": 20}, user=BOB)
    assert "Bob's note" in titles(bobs) and "Alice's note" not in titles(bobs)
    _text, anonymous = search(services, bot, {"query": "my grinder rattles", "threshold": 0.1, "limit": 20}, user=None)
    assert not {"Bob's note", "Alice's note"} & set(titles(anonymous))


def test_limit_threshold_bases_and_tags(services, bot):
    _text, data = search(services, bot, {"query": "grinder", "threshold": 0.0, "limit": 2})
    assert len(data["passages"]) == 2
    sims = [p["similarity"] for p in data["passages"]]
    assert sims == sorted(sims, reverse=True)
    _text, faq = search(services, bot, {"query": "grinder", "threshold": 0.0, "knowledge_bases": ["faq"]})
    assert titles(faq) == ["Returns"]
    _text, tagged = search(services, bot, {"query": "grinder", "threshold": 0.0, "tags": ["care"], "limit": 20})
    assert set(titles(tagged)) == {"Grinder care", "Alice's note"}
    _text, strict = search(services, bot, {"query": "grinder", "threshold": 0.99})
    assert strict["passages"] == []


@pytest.mark.parametrize(("arguments", "error"), [
    ({}, "`query` must be a non-empty string"),
    ({"query": "x" * 2001}, "`query` may be at most 2000 characters"),
    ({"query": "x", "limit": 21}, "`limit` must be a number from 1 to 20"),
    ({"query": "x", "limit": 0}, "`limit` must be a number from 1 to 20"),
    ({"query": "x", "limit": 2.5}, "`limit` must be a whole number"),
    ({"query": "x", "threshold": 1.5}, "`threshold` must be a number from 0 to 1"),
    ({"query": "x", "knowledge_bases": ["other"]}, "knowledge base 'other' is not linked to this chatbot (linked: manual, faq)"),
    ({"query": "x", "knowledge_bases": [1]}, "`knowledge_bases` must be a list of names"),
    # More names than the chatbot links: the unknown one is named, not the count.
    ({"query": "x", "knowledge_bases": ["manual", "faq", "../faq"]},
     "knowledge base '../faq' is not linked to this chatbot (linked: manual, faq)"),
    ({"query": "x", "tags": [""]}, "`tags` must be a list of names"),
])
def test_bad_arguments_are_clear_refusals(services, bot, arguments, error):
    text, data = search(services, bot, arguments)
    assert text == f"Error: {error}" and data is None


def test_it_needs_the_read_vectors_scope_and_a_linked_base(services, bot):
    _chatbot_id, stored = bot
    text, _ = search(services, bot, {"query": "x"}, config={**stored, "allowed_operations": ["INSERT"]})
    assert text == "Error: " + missing_scope_text("search_vectors", "read:vectors")
    text, _ = search(services, bot, {"query": "x"}, config={**stored, "knowledge_bases": []})
    assert text == "Error: this chatbot links no knowledge base (@fluxbase:knowledge-base)"
