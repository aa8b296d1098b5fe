"""Retrieval for a chat turn: the chunks of a chatbot's knowledge bases closest to what the user asked.

The query is the user's message followed by the conversation's last exchange, so a follow-up
("and how much is it?") still finds the passages about what it refers to; the message comes first
because the local model truncates at 256 tokens. Each linked base (named in the chatbot's
namespace) is searched with the chatbot's threshold and max chunks, only among documents the user
may see; the hits are merged by similarity and capped to `rag_max_chunks`.

A failure (a base missing, an embedder that cannot answer, the database refusing) never fails the
turn: `retrieve` returns what it found and says which bases it could not search.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ContextManager

import numpy as np
import psycopg

from app.knowledge import repository
from app.knowledge.embedders import embedder_for
from app.knowledge.records import KnowledgeBase

log = logging.getLogger(__name__)

# The previous answer is context for a follow-up, not the query itself: a long one would crowd
# the user's own words out of the 256 tokens the local model reads.
PREVIOUS_ANSWER_CHARS = 600
PREVIOUS_QUESTION_CHARS = 400


@dataclass(frozen=True)
class Passage:
    knowledge_base: str
    title: str
    content: str
    similarity: float
    document_id: str
    position: int


@dataclass(frozen=True)
class Retrieval:
    passages: tuple[Passage, ...] = ()
    failed: tuple[str, ...] = field(default=())   # names of bases that could not be searched


def linked_bases(config: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(config.get("knowledge_bases") or ()))


def query_text(message: str, last_question: str | None = None, last_answer: str | None = None) -> str:
    parts = [message.strip()]
    if last_question:
        parts.append(last_question.strip()[:PREVIOUS_QUESTION_CHARS])
    if last_answer:
        parts.append(last_answer.strip()[:PREVIOUS_ANSWER_CHARS])
    return "\n\n".join(part for part in parts if part)


def off_hub(function: Callable[[], Any]) -> Any:
    """Run CPU-bound work (the local model) in a native thread when gevent has patched the process,
    so the other greenlets (every running turn) keep going meanwhile."""
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return function()
    if not monkey.is_module_patched("threading"):
        return function()
    return get_hub().threadpool.apply(function)


def retrieve(connect: Callable[[], ContextManager[psycopg.Connection]], settings, *, namespace: str,
             names: Sequence[str], query: str, user_id: str | None, max_chunks: int, threshold: float) -> Retrieval:
    """`connect` lends a connection (a pool's `connection`); it is held to find the bases and again
    to search them, not while the query is embedded: the local model takes ~30 ms of CPU and a
    provider an HTTP round trip, and a pool connection held meanwhile is one fewer for every other
    turn."""
    failed: list[str] = []
    with connect() as conn:
        found = _find_bases(conn, settings, namespace, names, failed)
    vectors: dict[tuple[str, str, int], np.ndarray] = {}   # one embedding per embedder, not per base
    searchable: list[KnowledgeBase] = []
    for kb, embedder in found:
        key = (kb.embedder, kb.model, kb.dimensions)
        try:
            if key not in vectors:
                vectors[key] = off_hub(lambda e=embedder: e.embed([query]))[0]
        except Exception as exc:  # noqa: BLE001 - an embedder failure only drops the bases it serves
            log.warning("knowledge base %s/%s could not be searched: %s", namespace, kb.name, exc)
            failed.append(kb.name)
            continue
        searchable.append(kb)
    passages: list[Passage] = []
    if searchable:
        with connect() as conn:
            for kb in searchable:
                try:
                    hits = repository.search(conn, kb, vectors[(kb.embedder, kb.model, kb.dimensions)],
                                             user_id=user_id, limit=max_chunks, threshold=threshold)
                except psycopg.OperationalError:
                    raise   # the database is gone: the turn's own handling (retry) applies
                except Exception as exc:  # noqa: BLE001 - a failed search only drops this base
                    log.warning("knowledge base %s/%s could not be searched: %s", namespace, kb.name, exc)
                    _rollback_quietly(conn)
                    failed.append(kb.name)
                    continue
                passages.extend(_passages(kb, hits))
    passages.sort(key=lambda p: p.similarity, reverse=True)
    return Retrieval(passages=tuple(passages[:max_chunks]), failed=tuple(failed))


def _find_bases(conn: psycopg.Connection, settings, namespace: str, names: Sequence[str],
                failed: list[str]) -> list[tuple[KnowledgeBase, Any]]:
    found = []
    for name in names:
        try:
            kb = repository.find_kb(conn, namespace, name)
            if kb is None:
                log.warning("knowledge base %s/%s does not exist; searched without it", namespace, name)
                failed.append(name)
                continue
            found.append((kb, embedder_for(conn, settings, kb)))
        except psycopg.OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - a base whose embedder cannot be built is left out
            log.warning("knowledge base %s/%s could not be searched: %s", namespace, name, exc)
            _rollback_quietly(conn)
            failed.append(name)
    return found


def _passages(kb: KnowledgeBase, hits) -> list[Passage]:
    return [Passage(knowledge_base=kb.name, title=hit.title, content=hit.content, similarity=hit.similarity,
                    document_id=hit.document_id, position=hit.position) for hit in hits]


def _rollback_quietly(conn: psycopg.Connection) -> None:
    # A failed statement leaves the transaction aborted; the next base and the turn need it usable.
    try:
        conn.rollback()
    except psycopg.Error:
        pass
