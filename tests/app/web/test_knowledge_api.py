"""The admin knowledge-base API through the Flask test client on a real database, with documents
indexed by the real embeddings worker: CRUD, documents by JSON and upload, status and chunk counts,
search with scores, and every client mistake a 4xx naming its field (never a 500)."""
from __future__ import annotations

import io
import uuid

import psycopg
import pytest

from tests.conftest import ALICE, TEST_SERVICE_KEY
from tests.support.processes import wait_until

BASES = "/api/v1/admin/ai/knowledge-bases"
ADMIN = {"X-Service-Key": TEST_SERVICE_KEY}


def _namespace() -> str:
    return f"kbapi-{uuid.uuid4().hex[:8]}"


def _create(client, **body):
    body.setdefault("namespace", _namespace())
    body.setdefault("name", "docs")
    response = client.post(BASES, json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _upload(client, kb_id, filename, data, content_type="text/plain", **form):
    return client.post(f"{BASES}/{kb_id}/documents", headers=ADMIN, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename, content_type), **form})


def test_bases_are_created_listed_read_updated_and_deleted(client):
    kb = _create(client, description="Shop docs", chunk_size=120, chunk_overlap=20, chunk_strategy="paragraph")
    assert kb["embedder"] == "local" and kb["embedding_model"] == "all-MiniLM-L6-v2"
    assert (kb["embedding_dimensions"], kb["chunk_size"], kb["chunk_overlap"], kb["chunk_strategy"]) == \
        (384, 120, 20, "paragraph")
    assert kb["document_count"] == 0 and kb["total_chunks"] == 0
    listed = client.get(BASES, headers=ADMIN, query_string={"namespace": kb["namespace"]}).get_json()
    assert listed["count"] == 1 and listed["knowledge_bases"][0]["id"] == kb["id"]
    assert client.get(f"{BASES}/{kb['id']}", headers=ADMIN).get_json()["name"] == "docs"
    by_name = client.get(f"{BASES}/docs", headers=ADMIN, query_string={"namespace": kb["namespace"]})
    assert by_name.status_code == 200 and by_name.get_json()["id"] == kb["id"]
    updated = client.put(f"{BASES}/{kb['id']}", json={"description": "New", "chunk_size": 150}, headers=ADMIN)
    assert updated.status_code == 200 and updated.get_json()["description"] == "New"
    assert updated.get_json()["chunk_size"] == 150
    assert client.delete(f"{BASES}/{kb['id']}", headers=ADMIN).get_json() == {"deleted": True, "id": kb["id"]}
    gone = client.get(f"{BASES}/{kb['id']}", headers=ADMIN)
    assert gone.status_code == 404 and gone.get_json()["code"] == "KNOWLEDGE_BASE_NOT_FOUND"


def test_bad_bodies_are_400s_naming_the_field_and_duplicates_409(client):
    namespace = _namespace()
    _create(client, namespace=namespace, name="faq")
    duplicate = client.post(BASES, json={"namespace": namespace, "name": "faq"}, headers=ADMIN)
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "KNOWLEDGE_BASE_EXISTS"
    for body, field in [({"name": "bad name!"}, "name"), ({"name": "x", "chunk_size": "big"}, "chunk_size"),
                        ({"name": "x", "chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap"),
                        ({"name": "x", "chunk_strategy": "words"}, "chunk_strategy"),
                        ({"name": "x", "embedding_dimensions": 1536}, "embedding_dimensions"),
                        ({"name": "x", "embedder": "nope", "embedding_model": "text-embedding-3-small"}, "embedder"),
                        ({"name": "x", "colour": "red"}, "colour")]:
        response = client.post(BASES, json={"namespace": namespace, **body}, headers=ADMIN)
        assert response.status_code == 400, (body, response.get_json())
        assert response.get_json()["field"] == field, (body, response.get_json())
    assert client.post(BASES, data="[", headers=ADMIN, content_type="application/json").status_code == 400
    assert client.get(f"{BASES}/{uuid.uuid4()}", headers=ADMIN).status_code == 404
    assert client.get(BASES).status_code == 401


def test_upload_errors_are_readable_4xx(client):
    kb = _create(client)
    cases = [
        (_upload(client, kb["id"], "empty.txt", b""), 400, "INVALID_DOCUMENT", "empty"),
        (_upload(client, kb["id"], "sheet.xlsx", b"PK\x03\x04", "application/vnd.ms-excel"), 400,
         "INVALID_DOCUMENT", "unsupported file type"),
        (_upload(client, kb["id"], "broken.pdf", b"%PDF-1.4 this is not a pdf", "application/pdf"), 400,
         "INVALID_DOCUMENT", ""),
        (_upload(client, kb["id"], "huge.txt", b"word " * 420_000), 413, "DOCUMENT_TOO_LARGE", "characters"),
        (_upload(client, kb["id"], "enormous.txt", b"x" * (9 * 1024 * 1024)), 413, "MESSAGE_TOO_LARGE", ""),
        (client.post(f"{BASES}/{kb['id']}/documents", json={"title": "t", "content": "  "}, headers=ADMIN), 400,
         "INVALID_DOCUMENT", "no text"),
        (client.post(f"{BASES}/{kb['id']}/documents", json={"title": "t", "content": "x", "owner": "bob"},
                     headers=ADMIN), 400, "INVALID_REQUEST", "owner"),
        (client.post(f"{BASES}/{kb['id']}/documents", headers=ADMIN, content_type="multipart/form-data",
                     data={"title": "no file"}), 400, "INVALID_REQUEST", "file"),
    ]
    for response, status, code, text in cases:
        body = response.get_json()
        assert (response.status_code, body["code"]) == (status, code), body
        assert text in body["error"], body
    assert client.get(f"{BASES}/{kb['id']}/documents", headers=ADMIN).get_json()["total"] == 0


@pytest.fixture
def indexed_base(client, database, embeddings_worker):
    kb = _create(client)
    added = [
        client.post(f"{BASES}/{kb['id']}/documents", headers=ADMIN, json={
            "title": "Returns", "content": "Lamps can be returned within 30 days for a full refund.",
            "metadata": {"section": "policy"}, "tags": ["policy"]}),
        _upload(client, kb["id"], "shipping.md", b"# Shipping\n\nOrders ship within two business days.",
                "text/markdown"),
        client.post(f"{BASES}/{kb['id']}/documents", headers=ADMIN, json={
            "title": "Alice's note", "content": "Alice may return lamps within 90 days.", "owner": ALICE}),
    ]
    assert [r.status_code for r in added] == [202, 202, 202], [r.get_json() for r in added]
    ids = [r.get_json()["document_id"] for r in added]
    with psycopg.connect(database.database_url) as conn:
        def done():
            rows = conn.execute("SELECT status FROM ai.documents WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()
            conn.commit()
            return all(status in ("indexed", "failed") for (status,) in rows)

        wait_until(done, 120, "the documents indexed")
    return kb, ids


def test_documents_show_status_and_chunk_counts_and_search_returns_scores(client, indexed_base):
    kb, ids = indexed_base
    listed = client.get(f"{BASES}/{kb['id']}/documents", headers=ADMIN).get_json()
    assert listed["total"] == 3 and not listed["has_more"]
    assert {d["status"] for d in listed["documents"]} == {"indexed"}
    assert all(d["chunk_count"] >= 1 for d in listed["documents"])
    one = client.get(f"{BASES}/{kb['id']}/documents/{ids[0]}", headers=ADMIN).get_json()
    assert one["title"] == "Returns" and one["metadata"] == {"section": "policy"} and one["tags"] == ["policy"]
    assert client.get(f"{BASES}/{kb['id']}", headers=ADMIN).get_json()["document_count"] == 3
    again = client.post(f"{BASES}/{kb['id']}/documents", headers=ADMIN, json={
        "title": "Returns", "content": "Lamps can be returned within 30 days for a full refund."})
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["document_id"] == ids[0]

    found = client.post(f"{BASES}/{kb['id']}/search", headers=ADMIN,
                        json={"query": "how long can I send a lamp back?", "max_chunks": 2, "threshold": 0.2})
    assert found.status_code == 200, found.get_json()
    results = found.get_json()["results"]
    assert results[0]["document_title"] == "Returns" and 0.2 <= results[0]["similarity"] <= 1
    assert "Alice's note" not in [r["document_title"] for r in results]  # no user: shared documents only
    as_alice = client.post(f"{BASES}/{kb['id']}/search", headers=ADMIN,
                           json={"query": "how long can I send a lamp back?", "user_id": ALICE, "threshold": 0.2})
    assert "Alice's note" in [r["document_title"] for r in as_alice.get_json()["results"]]
    for body, field in [({}, "query"), ({"query": "x", "max_chunks": 0}, "max_chunks"),
                        ({"query": "x", "threshold": 2}, "threshold")]:
        bad = client.post(f"{BASES}/{kb['id']}/search", headers=ADMIN, json=body)
        assert bad.status_code == 400 and bad.get_json()["field"] == field

    assert client.delete(f"{BASES}/{kb['id']}/documents/{ids[1]}", headers=ADMIN).status_code == 200
    missing = client.get(f"{BASES}/{kb['id']}/documents/{ids[1]}", headers=ADMIN)
    assert missing.status_code == 404 and missing.get_json()["code"] == "DOCUMENT_NOT_FOUND"
    assert client.delete(f"{BASES}/{kb['id']}/documents/not-an-id", headers=ADMIN).status_code == 404


def test_an_unknown_base_is_a_chatbot_warning_until_it_exists(client, database):
    from app.chatbots.sync_service import sync_payload

    namespace = _namespace()
    code = ("/**\n * Helper\n * @fluxbase:description Help\n * @fluxbase:knowledge-base manuals\n */\n"
            "export default `Help.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "helper", "code": code}],
                          delete_missing=False, dry_run=False)
    assert [w["warning"] for w in report.warnings] == [
        "manuals: unknown knowledge base (create it with `fluxbase kb create manuals`); it is not searched"]

    def warnings():
        listed = client.get("/api/v1/admin/ai/chatbots", headers=ADMIN, query_string={"namespace": namespace})
        return listed.get_json()["chatbots"][0]["warnings"]

    assert warnings() == [report.warnings[0]["warning"]]
    _create(client, namespace=namespace, name="manuals")
    assert warnings() == []


def test_hostile_document_and_search_bodies_are_400s_not_500s(client):
    kb = _create(client)
    other = _create(client, namespace=kb["namespace"], name="other")
    documents = f"{BASES}/{kb['id']}/documents"
    for body in [{"title": "t", "content": 5}, {"title": 5, "content": "x"}, {"content": "x", "metadata": [1]},
                 {"content": "x", "tags": "a,b"}, {"content": "x", "tags": [1]}, {"content": "x", "title": "a\x00b"},
                 {"content": "x", "metadata": {"k": "a\x00b"}}, {"content": "x", "metadata": {"a\x00": 1}},
                 [1, 2], "text"]:
        response = client.post(documents, json=body, headers=ADMIN)
        assert response.status_code == 400, (body, response.get_json())
    for body in [{"query": 5}, {"query": "x" * 5000}, {"query": "x", "max_chunks": True}, {"query": "x", "user_id": 5}]:
        response = client.post(f"{BASES}/{kb['id']}/search", json=body, headers=ADMIN)
        assert response.status_code == 400, (body, response.get_json())
    renamed = client.put(f"{BASES}/{other['id']}", json={"name": "docs"}, headers=ADMIN)
    assert renamed.status_code == 409 and renamed.get_json()["code"] == "KNOWLEDGE_BASE_EXISTS"
    assert client.put(f"{BASES}/{kb['id']}", json={"chunk_overlap": 5000}, headers=ADMIN).status_code == 400
    assert client.put(f"{BASES}/{kb['id']}", json={"embedder": "x"}, headers=ADMIN).status_code == 400
    assert client.get(f"{BASES}/..%2f..%2fetc", headers=ADMIN).status_code == 404
    assert client.get(f"{BASES}/{kb['id']}/documents", headers=ADMIN, query_string={"limit": "x"}).status_code == 400
