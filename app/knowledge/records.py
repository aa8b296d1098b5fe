"""Rows of the knowledge tables as frozen dataclasses (app/knowledge/repository.py reads them)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LOCAL_EMBEDDER = "local"
LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384

CHUNKING_STRATEGIES = ("recursive", "paragraph", "sentence", "fixed")
DEFAULT_CHUNKING = "recursive"
# In tokens of the MiniLM word-piece tokenizer (app/knowledge/chunking.py). The local model reads at
# most 256 tokens, so the default keeps a chunk whole for it.
DEFAULT_CHUNK_SIZE = 200
DEFAULT_CHUNK_OVERLAP = 30
MAX_CHUNK_SIZE = 8000

# Document statuses, in the order a document goes through them.
PENDING = "pending"
PROCESSING = "processing"
INDEXED = "indexed"
FAILED = "failed"
STATUSES = (PENDING, PROCESSING, INDEXED, FAILED)


@dataclass(frozen=True)
class KnowledgeBase:
    id: str
    namespace: str
    name: str
    description: str
    embedder: str          # "local" or a provider's name
    model: str
    dimensions: int
    chunk_size: int
    chunk_overlap: int
    chunking: str
    created_at: datetime
    updated_at: datetime
    document_count: int = 0
    chunk_count: int = 0


@dataclass(frozen=True)
class Document:
    id: str
    kb_id: str
    title: str
    status: str
    error: str | None
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    owner_id: str | None = None
    tags: tuple[str, ...] = ()
    chunk_count: int = 0
    size_bytes: int = 0
    source: str = "text"
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ChunkHit:
    document_id: str
    title: str
    content: str
    similarity: float
    position: int
    metadata: dict[str, Any] = field(default_factory=dict)
