"""The demo knowledge bases: loaded once, indexed by the real embeddings worker with the local model,
and a customer's question finding the right FAQ and product passages, so support-assistant has its
context out of the box."""
import contextlib

import psycopg

from app.chatbots.kb_warnings import knowledge_base_warnings
from app.chatbots.sync_service import sync_directory
from app.demo.knowledge import BASES, NAMESPACE, demo_documents, load_demo_knowledge
from app.knowledge.retrieval import retrieve
from tests.support.processes import ROOT, wait_until


def test_demo_bases_load_once_index_and_answer_questions(database, embeddings_worker):
    first = load_demo_knowledge(database)
    again = load_demo_knowledge(database)
    total = sum(len(demo_documents(base)) for base in BASES)
    assert again.created_bases == () and again.queued == 0 and again.unchanged == total
    assert first.queued + first.unchanged == total
    with psycopg.connect(database.database_url) as conn:
        def indexed():
            rows = conn.execute("SELECT d.status FROM ai.documents d JOIN ai.knowledge_bases kb ON kb.id = d.kb_id "
                                "WHERE kb.namespace = %s AND kb.name = ANY(%s)", (NAMESPACE, list(BASES))).fetchall()
            conn.commit()
            return len(rows) == total and all(status in ("indexed", "failed") for (status,) in rows)

        wait_until(indexed, 180, "the demo documents indexed")
        assert knowledge_base_warnings(conn, NAMESPACE, {"knowledge_bases": ["product-docs", "faq"]}) == ()
        for question, expected in [("Can I return the coffee I opened?", "Can I return a product?"),
                                   ("How do I clean the hand grinder?", "Hand grinder"),
                                   ("Can I cancel my order?", "You can cancel an order")]:
            found = retrieve(lambda: contextlib.nullcontext(conn), database, namespace=NAMESPACE, names=["product-docs", "faq"], query=question,
                             user_id=None, max_chunks=3, threshold=0.4)
            assert found.failed == () and found.passages, question
            assert expected in found.passages[0].content, (question, found.passages[0])
    report = sync_directory(database, directory=ROOT / "chatbots", namespace=NAMESPACE, dry_run=True)
    assert not [w for w in report.warnings if "support-assistant" in w["name"] and "knowledge" in w["warning"]]
