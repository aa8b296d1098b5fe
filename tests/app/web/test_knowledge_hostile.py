"""The knowledge-base API against a hostile or clumsy admin client: inputs that used to reach the
database and come back as 500s, and updates that left a base unable to index anything."""
from __future__ import annotations

import io
import uuid

from tests.app.web.test_knowledge_api import ADMIN, BASES, _create


def _refused(response, field=None, status=400):
    body = response.get_json()
    assert response.status_code == status, body
    assert body["code"] != "INTERNAL_ERROR", body
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_unpaired_surrogates_are_refused_not_500s(client):
    kb = _create(client)
    documents = f"{BASES}/{kb['id']}/documents"
    for body in [{"content": "refunds \ud800 within 30 days"},
                 {"content": "refunds within 30 days", "title": "\udfff"},
                 {"content": "refunds within 31 days", "metadata": {"note": "\ud800"}},
                 {"content": "refunds within 32 days", "metadata": {"\ud800": 1}},
                 {"content": "refunds within 33 days", "tags": ["\ud800"]}]:
        _refused(client.post(documents, json=body, headers=ADMIN))
    _refused(client.post(BASES, json={"name": "sur", "namespace": kb["namespace"], "description": "\ud800"},
                         headers=ADMIN))
    _refused(client.post(f"{BASES}/{kb['id']}/search", json={"query": "refund \ud800"}, headers=ADMIN))
    # A multipart upload's metadata is JSON too.
    upload = client.post(documents, headers=ADMIN, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(b"refunds within 34 days"), "r.txt", "text/plain"),
                               "metadata": '{"note": "\\ud800"}'})
    _refused(upload, "metadata")
    assert client.get(documents, headers=ADMIN).get_json()["total"] == 0


def test_a_provider_model_name_with_nul_is_a_400(client):
    body = {"name": "nul-model", "namespace": f"kbh-{uuid.uuid4().hex[:8]}", "embedder": "auto",
            "embedding_model": "text\x00embed", "embedding_dimensions": 8}
    _refused(client.post(BASES, json=body, headers=ADMIN), "embedding_model")


def test_a_local_base_keeps_its_model_and_dimensions(client):
    # A local base changed to 7 dimensions could index nothing (every chunk refused by the database)
    # and every search of it was a 500.
    kb = _create(client)
    _refused(client.put(f"{BASES}/{kb['id']}", json={"embedding_dimensions": 7}, headers=ADMIN),
             "embedding_dimensions")
    _refused(client.put(f"{BASES}/{kb['id']}", json={"embedding_model": "text-embedding-3-small"}, headers=ADMIN),
             "embedding_model")
    unchanged = client.put(f"{BASES}/{kb['id']}", json={"embedding_dimensions": 384,
                                                         "embedding_model": "all-MiniLM-L6-v2"}, headers=ADMIN)
    assert unchanged.status_code == 200, unchanged.get_json()
    current = client.get(f"{BASES}/{kb['id']}", headers=ADMIN).get_json()
    assert (current["embedding_model"], current["embedding_dimensions"]) == ("all-MiniLM-L6-v2", 384)


def test_a_search_user_id_that_is_not_a_uuid_is_refused_by_its_name(client):
    # 0, "" or false used to be read as "no user" (shared documents only) without a word.
    kb = _create(client)
    for user_id in ("alice", 0, "", False, ["x"]):
        _refused(client.post(f"{BASES}/{kb['id']}/search", json={"query": "refund", "user_id": user_id},
                             headers=ADMIN), "user_id")
