"""Admin knowledge-base endpoints (PROTOCOL.md section 5); every route needs an admin caller.

    GET    /api/v1/admin/ai/knowledge-bases?namespace=          {knowledge_bases: [kb], count}
    POST   /api/v1/admin/ai/knowledge-bases                     {name, namespace?, description?, embedder?,
                                                                 embedding_model?, embedding_dimensions?, chunk_size?,
                                                                 chunk_overlap?, chunk_strategy?} -> 201 kb
    GET | PUT | DELETE .../<kb>                                 kb | kb | {deleted: true, id}
    POST   .../<kb>/documents     JSON {title, content, metadata?, owner?, tags?} or multipart `file`
                                  (+ form fields title, owner, tags) -> 202 {document_id, status, created, message, document}
    GET    .../<kb>/documents?limit=&offset=                    {documents: [document], total, has_more, limit, offset}
    GET | DELETE .../<kb>/documents/<id>                        document | {deleted: true, id}
    POST   .../<kb>/search {query, max_chunks?, threshold?}     {results: [chunk], count, query}

`<kb>` is the base's id, or its name with `?namespace=` (default "default"). Field names follow
Fluxbase's SDK (`KnowledgeBase`, `KnowledgeBaseDocument`, `KnowledgeBaseSearchResult`). A search
here sees only documents without an owner unless `user_id` is given (what that user would see).
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, request

from app.knowledge import documents as extraction
from app.knowledge import repository as repo
from app.knowledge import validation
from app.knowledge.embedders import EmbeddingError, embedder_for
from app.knowledge.ingest import enqueue_document
from app.knowledge.records import Document, KnowledgeBase
from app.knowledge.retrieval import off_hub
from app.protocol import Code, ProtocolError
from app.providers.base import NoProviderConfigured, ProviderError
from app.web.auth import require_admin
from app.web.context import web_context
from app.web.errors import refusal_response
from app.web.query_params import QueryParams

bp = Blueprint("knowledge_admin", __name__, url_prefix="/api/v1/admin/ai/knowledge-bases")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_CREATE_KEYS = ("name", "namespace", "description", "embedder", "embedding_model", "embedding_dimensions",
                "chunk_size", "chunk_overlap", "chunk_strategy")
_UPDATE_KEYS = ("name", "description", "embedding_model", "embedding_dimensions", "chunk_size", "chunk_overlap",
                "chunk_strategy")
_DOCUMENT_KEYS = ("title", "content", "metadata", "owner", "owner_id", "tags")
_SEARCH_KEYS = ("query", "max_chunks", "threshold", "user_id")


@bp.before_request
def _admins_only() -> None:
    require_admin()




@bp.errorhandler(validation.InvalidField)
def _invalid(exc: validation.InvalidField):
    return refusal_response(Code.INVALID_REQUEST, str(exc), field=exc.field)


@bp.errorhandler(repo.KnowledgeBaseExists)
def _exists(exc):
    return refusal_response(Code.KNOWLEDGE_BASE_EXISTS, str(exc), field="name")


@bp.errorhandler(extraction.DocumentTooLarge)
def _too_large(exc):
    return refusal_response(Code.DOCUMENT_TOO_LARGE, str(exc))


@bp.errorhandler(extraction.DocumentError)
def _unreadable(exc):
    return refusal_response(Code.INVALID_DOCUMENT, str(exc))


@bp.errorhandler(ProviderError)
def _provider_failed(exc):
    return refusal_response(Code.PROVIDER_ERROR, f"the knowledge base's embedder failed: {exc}"[:500])


@bp.errorhandler(NoProviderConfigured)
def _no_provider(exc):
    return refusal_response(Code.NO_PROVIDER, str(exc)[:500])


@bp.errorhandler(EmbeddingError)
def _bad_vectors(exc):
    return refusal_response(Code.PROVIDER_ERROR, str(exc)[:500])


def kb_object(kb: KnowledgeBase) -> dict[str, Any]:
    return {"id": kb.id, "name": kb.name, "namespace": kb.namespace, "description": kb.description,
            "enabled": True, "document_count": kb.document_count, "total_chunks": kb.chunk_count,
            "embedder": kb.embedder, "embedding_model": kb.model, "embedding_dimensions": kb.dimensions,
            "chunk_size": kb.chunk_size, "chunk_overlap": kb.chunk_overlap, "chunk_strategy": kb.chunking,
            "source": "api", "created_at": _iso(kb.created_at), "updated_at": _iso(kb.updated_at)}


def document_object(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "knowledge_base_id": doc.kb_id, "title": doc.title, "status": doc.status,
            "error_message": doc.error, "content_hash": doc.content_hash, "chunk_count": doc.chunk_count,
            "source_type": doc.source, "size_bytes": doc.size_bytes, "metadata": doc.metadata,
            "owner_id": doc.owner_id, "tags": list(doc.tags), "created_at": _iso(doc.created_at),
            "updated_at": _iso(doc.updated_at)}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _db():
    return web_context().runtime.db


def _body(allowed: tuple[str, ...]) -> dict[str, Any]:
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise ProtocolError(Code.INVALID_REQUEST, "the request body must be a JSON object")
    try:
        # JSON may spell a lone surrogate (\ud800), which no UTF-8 column or tokenizer takes.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(Code.INVALID_REQUEST, "the request body contains invalid Unicode "
                                                  "(an unpaired surrogate)") from None
    unknown = sorted(str(key)[:40] for key in body if key not in allowed)
    if unknown:
        raise ProtocolError(Code.INVALID_REQUEST, f"unknown key(s): {', '.join(unknown[:5])} "
                                                  f"(allowed: {', '.join(allowed)})", field=unknown[0])
    return body


def _namespace() -> str:
    namespace = request.args.get("namespace")
    return validation.name(namespace, "namespace") if namespace else validation.DEFAULT_NAMESPACE


def _kb(conn, ref: str) -> KnowledgeBase:
    """By id, else by name in ?namespace= (Fluxbase's SDK addresses bases by id; the CLI by name)."""
    kb = repo.get_kb(conn, ref) if _is_uuid(ref) else None
    if kb is None and validation.NAME.match(ref):
        kb = repo.find_kb(conn, _namespace(), ref)
    if kb is None:
        raise ProtocolError(Code.KNOWLEDGE_BASE_NOT_FOUND)
    return kb


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@bp.get("")
def list_bases():
    namespace = QueryParams(request.args, ("namespace",)).text("namespace")
    with _db().connection() as conn:
        rows = repo.list_kbs(conn, validation.name(namespace, "namespace") if namespace else None)
    return {"knowledge_bases": [kb_object(kb) for kb in rows], "count": len(rows)}


@bp.post("")
def create():
    values = validation.new_kb(_body(_CREATE_KEYS))
    with _db().connection() as conn:
        _check_embedder(conn, values["embedder"])
        kb = repo.create_kb(conn, **values)
    return kb_object(kb), 201


def _check_embedder(conn, embedder: str) -> None:
    if embedder in ("local", "auto"):
        return
    from app.providers import admin

    try:
        admin.get_provider(conn, web_context().settings, embedder)
    except admin.ProviderNotFound:
        raise validation.InvalidField("embedder", f"no provider named {embedder}") from None


@bp.get("/<ref>")
def get_one(ref: str):
    with _db().connection() as conn:
        return kb_object(_kb(conn, ref))


@bp.put("/<ref>")
def update(ref: str):
    body = _body(_UPDATE_KEYS)
    with _db().connection() as conn:
        kb = _kb(conn, ref)
        changes = validation.kb_changes(body, kb)
        try:
            updated = repo.update_kb(conn, kb.id, **changes)
        except ValueError as exc:  # an embedding field of a base that has chunks
            raise ProtocolError(Code.INVALID_REQUEST, str(exc)) from None
        if updated is None:
            raise ProtocolError(Code.KNOWLEDGE_BASE_NOT_FOUND)
    return kb_object(updated)


@bp.delete("/<ref>")
def delete(ref: str):
    with _db().connection() as conn:
        kb = _kb(conn, ref)
        repo.delete_kb(conn, kb.id)
    return {"deleted": True, "id": kb.id}


@bp.post("/<ref>/documents")
def add_document(ref: str):
    if request.mimetype == "multipart/form-data":
        fields, text, source, filename = _upload()
    else:
        body = _body(_DOCUMENT_KEYS)
        content = body.get("content")
        if not isinstance(content, str):
            raise validation.InvalidField("content", "must be the document's text")
        fields, text, source, filename = validation.document_fields(body), extraction.check_text(content), "text", None
    if not fields["title"]:
        fields["title"] = (filename or text.strip().splitlines()[0]).replace("\x00", "")[:validation.MAX_TITLE]
    with _db().connection() as conn:
        kb = _kb(conn, ref)
        doc, created = repo.add_document(conn, kb.id, content=text, source=source, **fields)
        conn.commit()
    if created:
        enqueue_document(web_context().runtime.celery, doc.id)
    message = "queued for indexing" if created else f"the same content is already document {doc.id}; nothing added"
    answer = {"document_id": doc.id, "status": doc.status, "created": created, "message": message,
              "extracted_length": len(text), "document": document_object(doc)}
    if filename is not None:
        answer["filename"] = filename
    return answer, 202 if created else 200


def _upload() -> tuple[dict[str, Any], str, str, str]:
    upload = request.files.get("file")
    if upload is None:
        raise validation.InvalidField("file", "a multipart upload needs a `file` part")
    unknown = sorted(k for k in request.form if k not in ("title", "owner", "owner_id", "tags", "metadata"))
    if unknown:
        raise validation.InvalidField(unknown[0], "unknown form field")
    form: dict[str, Any] = {key: request.form[key] for key in ("title", "owner", "owner_id") if key in request.form}
    if "tags" in request.form:
        form["tags"] = [t.strip() for t in request.form["tags"].split(",") if t.strip()]
    if "metadata" in request.form:
        try:
            form["metadata"] = json.loads(request.form["metadata"])
        except ValueError:
            raise validation.InvalidField("metadata", "must be a JSON object") from None
    fields = validation.document_fields(form)
    filename = (upload.filename or "upload").replace("\x00", "")[:validation.MAX_TITLE] or "upload"
    data, mimetype = upload.read(), upload.mimetype
    # Parsing a PDF or converting HTML takes seconds of CPU for a large file: off the hub, so the
    # other requests and chat sockets of this web process keep going meanwhile.
    text, source = off_hub(lambda: extraction.extract_text(filename, mimetype, data))
    return fields, text, source, filename


@bp.get("/<ref>/documents")
def list_documents(ref: str):
    params = QueryParams(request.args, ("limit", "offset", "namespace"))
    limit = params.integer("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    offset = params.integer("offset", 0, low=0, high=1_000_000_000)
    with _db().connection() as conn:
        kb = _kb(conn, ref)
        docs, total = repo.list_documents(conn, kb.id, limit, offset)
    return {"documents": [document_object(d) for d in docs], "total": total,
            "has_more": offset + len(docs) < total, "limit": limit, "offset": offset}


@bp.get("/<ref>/documents/<doc_id>")
def get_document(ref: str, doc_id: str):
    with _db().connection() as conn:
        doc = repo.get_document(conn, _kb(conn, ref).id, doc_id)
    if doc is None:
        raise ProtocolError(Code.DOCUMENT_NOT_FOUND)
    return document_object(doc)


@bp.delete("/<ref>/documents/<doc_id>")
def delete_document(ref: str, doc_id: str):
    with _db().connection() as conn:
        if not repo.delete_document(conn, _kb(conn, ref).id, doc_id):
            raise ProtocolError(Code.DOCUMENT_NOT_FOUND)
    return {"deleted": True, "id": doc_id}


@bp.post("/<ref>/search")
def search(ref: str):
    body = _body(_SEARCH_KEYS)
    query, max_chunks, threshold = validation.search_request(body)
    user_id = validation.user_id(body.get("user_id"), "user_id")
    settings = web_context().settings
    with _db().connection() as conn:
        kb = _kb(conn, ref)
        embedder = embedder_for(conn, settings, kb)
    # Embedding (a model run or a provider request) happens with no connection held.
    vector = off_hub(lambda: embedder.embed([query]))[0]
    with _db().connection() as conn:
        hits = repo.search(conn, kb, vector, user_id=user_id, limit=max_chunks, threshold=threshold)
    results = [{"document_id": h.document_id, "document_title": h.title, "knowledge_base_name": kb.name,
                "content": h.content, "similarity": round(h.similarity, 6), "position": h.position,
                "metadata": h.metadata} for h in hits]
    return {"results": results, "count": len(results), "query": query}
