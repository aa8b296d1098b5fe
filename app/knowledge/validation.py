"""Checking what a client sends for a knowledge base, a document or a search, shared by the REST API
(app/web/knowledge_admin.py) and the `fluxbase kb` command line. Every refusal names its field."""
from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from app.knowledge.records import (
    CHUNKING_STRATEGIES,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNKING,
    LOCAL_DIMENSIONS,
    LOCAL_EMBEDDER,
    LOCAL_MODEL,
    MAX_CHUNK_SIZE,
)

# The same shape as a chatbot's @fluxbase:knowledge-base name (app/chatbots/values.py KB_NAME).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEFAULT_NAMESPACE = "default"
MAX_DESCRIPTION = 2000
MAX_TITLE = 500
MAX_TAGS = 50
MAX_METADATA_CHARS = 65_536
MAX_SEARCH_CHUNKS = 50
MAX_QUERY_CHARS = 4000
# Provider models whose vector size is known, so `embedding_dimensions` may be left out.
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536,
                    "nomic-embed-text": 768, "mxbai-embed-large": 1024}


class InvalidField(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidField(field, "must be 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return value


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value or not _encodable(value):
        raise InvalidField(field, f"must be text of at most {limit} characters")
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(field, f"must be a whole number from {low} to {high}")
    return value


def _float(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidField(field, f"must be a number from {low} to {high}")
    return float(value)


def new_kb(body: Mapping[str, Any]) -> dict[str, Any]:
    """create_kb's keyword arguments from a request body (SDK field names, plus `embedder`)."""
    embedder = body.get("embedder") or LOCAL_EMBEDDER
    if not isinstance(embedder, str) or not NAME.match(embedder):
        raise InvalidField("embedder", "must be 'local', 'auto' or a provider's name")
    model, dimensions = body.get("embedding_model"), body.get("embedding_dimensions")
    if embedder == LOCAL_EMBEDDER:
        if model not in (None, "", LOCAL_MODEL):
            raise InvalidField("embedding_model", f"the local embedder runs {LOCAL_MODEL} only")
        if dimensions not in (None, LOCAL_DIMENSIONS):
            raise InvalidField("embedding_dimensions", f"{LOCAL_MODEL} vectors have {LOCAL_DIMENSIONS} dimensions")
        model, dimensions = LOCAL_MODEL, LOCAL_DIMENSIONS
    else:
        if not isinstance(model, str) or not model.strip() or len(model) > 200 or "\x00" in model:
            raise InvalidField("embedding_model", "a provider embedder needs the model's name (at most 200 characters)")
        if dimensions is None:
            dimensions = KNOWN_DIMENSIONS.get(model)
            if dimensions is None:
                raise InvalidField("embedding_dimensions", f"the size of {model}'s vectors is not known: give it")
        dimensions = _int(dimensions, "embedding_dimensions", 1, 16000)
    chunk_size = _int(body.get("chunk_size", DEFAULT_CHUNK_SIZE), "chunk_size", 16, MAX_CHUNK_SIZE)
    overlap = _int(body.get("chunk_overlap", min(DEFAULT_CHUNK_OVERLAP, chunk_size // 4)), "chunk_overlap", 0,
                   chunk_size - 1)
    chunking = body.get("chunk_strategy", DEFAULT_CHUNKING)
    if chunking not in CHUNKING_STRATEGIES:
        raise InvalidField("chunk_strategy", f"must be one of {', '.join(CHUNKING_STRATEGIES)}")
    namespace = body.get("namespace") or DEFAULT_NAMESPACE
    return {"namespace": name(namespace, "namespace"), "name": name(body.get("name")),
            "description": _text(body.get("description"), "description", MAX_DESCRIPTION), "embedder": embedder,
            "model": model, "dimensions": dimensions, "chunk_size": chunk_size, "chunk_overlap": overlap,
            "chunking": chunking}


def kb_changes(body: Mapping[str, Any], current) -> dict[str, Any]:
    """update_kb's keyword arguments: only the fields sent (the embedding ones are refused by update_kb
    once the base has chunks)."""
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = name(body["name"])
    if "description" in body:
        changes["description"] = _text(body["description"], "description", MAX_DESCRIPTION)
    if "chunk_size" in body:
        changes["chunk_size"] = _int(body["chunk_size"], "chunk_size", 16, MAX_CHUNK_SIZE)
    size = changes.get("chunk_size", current.chunk_size)
    if "chunk_overlap" in body:
        changes["chunk_overlap"] = _int(body["chunk_overlap"], "chunk_overlap", 0, size - 1)
    elif current.chunk_overlap >= size:
        raise InvalidField("chunk_overlap", f"the current overlap ({current.chunk_overlap}) must be below chunk_size")
    if "chunk_strategy" in body:
        if body["chunk_strategy"] not in CHUNKING_STRATEGIES:
            raise InvalidField("chunk_strategy", f"must be one of {', '.join(CHUNKING_STRATEGIES)}")
        changes["chunking"] = body["chunk_strategy"]
    if "embedding_model" in body:
        changes["model"] = _text(body["embedding_model"], "embedding_model", 200) or current.model
    if "embedding_dimensions" in body:
        changes["dimensions"] = _int(body["embedding_dimensions"], "embedding_dimensions", 1, 16000)
    # The local embedder runs one model: another name or size would only make every document fail.
    if current.embedder == LOCAL_EMBEDDER:
        if changes.get("model", LOCAL_MODEL) != LOCAL_MODEL:
            raise InvalidField("embedding_model", f"the local embedder runs {LOCAL_MODEL} only")
        if changes.get("dimensions", LOCAL_DIMENSIONS) != LOCAL_DIMENSIONS:
            raise InvalidField("embedding_dimensions", f"{LOCAL_MODEL} vectors have {LOCAL_DIMENSIONS} dimensions")
    return changes


def document_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """add_document's keyword arguments except the content: title, metadata, owner, tags."""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidField("metadata", "must be a JSON object")
    encoded = json.dumps(metadata)
    # PostgreSQL's jsonb refuses \u0000 and unpaired surrogates (a 500 if they got that far).
    if "\\u0000" in encoded or len(encoded) > MAX_METADATA_CHARS or not _encodable(metadata):
        raise InvalidField("metadata", f"must be at most {MAX_METADATA_CHARS} characters of JSON, without NUL "
                                       "characters or unpaired surrogates")
    owner = user_id(body.get("owner", body.get("owner_id")), "owner")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS or not all(isinstance(t, str) and 0 < len(t) <= 100
                                                                     and "\x00" not in t for t in tags):
        raise InvalidField("tags", f"must be a list of at most {MAX_TAGS} short strings")
    return {"title": _text(body.get("title"), "title", MAX_TITLE).strip(), "metadata": metadata,
            "owner_id": owner, "tags": tags}


def user_id(value: Any, field: str) -> str | None:
    """A user id (a UUID) or None; anything else sent is refused, never read as "no user"."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(value if isinstance(value, str) else ""))
    except ValueError:
        raise InvalidField(field, "must be a user id (a UUID)") from None


def search_request(body: Mapping[str, Any]) -> tuple[str, int, float]:
    query = body.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_CHARS or not _encodable(query):
        raise InvalidField("query", f"must be non-empty text of at most {MAX_QUERY_CHARS} characters")
    max_chunks = _int(body.get("max_chunks", 5), "max_chunks", 1, MAX_SEARCH_CHUNKS)
    threshold = _float(body.get("threshold", 0.0), "threshold", -1.0, 1.0)
    return query, max_chunks, threshold
