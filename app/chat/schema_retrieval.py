"""Which tables to describe when a chatbot may read too many to describe them all.

Each table's description (name, comment, columns, foreign keys: app/chat/schema_catalog.py
`embedding_text`) is embedded once (app/chat/table_embeddings.py). For a turn, the user's message and
the conversation's last exchange are embedded, and every table gets

    score = cosine(query, table) + NAME_WEIGHT * name_match + COLUMN_WEIGHT * column_match

where `name_match` (0..1) is the share of the table name's words found in the query and
`column_match` (0..1) the share of the query's words found among the table's column names; each word
counts by its inverse document frequency over the catalog's tables, so a word every table has (`id`,
a domain prefix shared by 30 tables) counts for little and a distinctive one (`invoice`) for much.
Words are lower-cased and reduced to a singular form, and a word matches one it begins or that begins it
(`pay`, `payment`). The weights were tuned on bench/schema_retrieval.py (docs/schema_retrieval.md).
Without the embedder (it failed), the lexical terms alone rank the tables.

The described set, in this order and capped at `max_tables`: the tables the conversation already used
(most recent first), the `top_k` best scored, up to `neighbours_per_table` foreign-key neighbours of each
of those (1 hop: the tables it references first, then those referencing it, each best scored first),
then the next best scored. The catalog is already filtered to what
the end user may read, so nothing outside it can be chosen.
"""
from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import psycopg

from app.chat.schema_catalog import TableInfo, embedding_text, neighbours
from app.chat.table_embeddings import TableEmbeddings
from app.sql.guard import AccessPolicy

log = logging.getLogger(__name__)

NAME_WEIGHT = 0.35
COLUMN_WEIGHT = 0.15

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("""a an and are as at be by for from has have how i in is it its many me much my of on or our per
show that the their them there these this to was we were what when where which who whose why will with you your
all any each every list give find get tell do does did not no than then top most more less last first
""".split())


def singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return [singular(w) for w in _WORD.findall(text.lower().replace("_", " ")) if w not in _STOP]


@dataclass(frozen=True)
class SchemaCandidates:
    """What a turn's plan read for retrieval: every table the end user may read through the chatbot."""

    catalog: dict[tuple[str, str], TableInfo] = field(hash=False)
    policy: AccessPolicy


@dataclass(frozen=True)
class RetrievalLimits:
    max_tables: int = 15
    top_k: int = 8
    neighbours_per_table: int = 2


@dataclass(frozen=True)
class SchemaSelection:
    tables: tuple[tuple[str, str], ...]          # in the order they are described
    total: int                                   # tables the user may read
    why: dict[tuple[str, str], str] = field(default_factory=dict)   # "used", "ranked", "neighbour", "filled"
    seconds: float = 0.0


@dataclass
class _Index:
    keys: list[tuple[str, str]]
    vectors: np.ndarray | None      # None: the embedder failed; names alone rank the tables
    name_words: list[set[str]]
    column_words: list[set[str]]
    name_idf: dict[str, float]
    column_idf: dict[str, float]


def _idf(sets: Sequence[set[str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for found in sets:
        for word in found:
            counts[word] = counts.get(word, 0) + 1
    total = len(sets)
    return {word: math.log(1 + total / count) for word, count in counts.items()}


def _matching(asked: set[str], vocabulary: Iterable[str]) -> set[str]:
    """The asked words, and the catalog's words one of them begins or that begin one of them (`pay` and
    `payment`, `ship` and `shipment`); words under 3 letters only as they are."""
    found = set(asked)
    for word in vocabulary:
        if len(word) >= 3 and any(len(a) >= 3 and (word.startswith(a) or a.startswith(word)) for a in asked):
            found.add(word)
    return found


def lexical_scores(query: str, index: _Index) -> tuple[np.ndarray, np.ndarray]:
    """(name_match, column_match) per table, each 0..1 (see the module's docstring)."""
    asked = _matching(set(words(query)), index.name_idf.keys() | index.column_idf.keys())
    names = np.zeros(len(index.keys), dtype=np.float32)
    columns = np.zeros(len(index.keys), dtype=np.float32)
    if not asked:
        return names, columns
    for i, (name, cols) in enumerate(zip(index.name_words, index.column_words)):
        total = sum(index.name_idf[w] for w in name)
        if total:
            names[i] = sum(index.name_idf[w] for w in name if w in asked) / total
        matched = asked & cols
        if matched:
            weight = sum(index.column_idf.get(w, 0.0) for w in asked if w in index.column_idf)
            columns[i] = sum(index.column_idf[w] for w in matched) / weight if weight else 0.0
    return names, columns


def select(catalog: dict[tuple[str, str], TableInfo], scores: dict[tuple[str, str], float],
           used: Iterable[tuple[str, str]], limits: RetrievalLimits) -> SchemaSelection:
    """The described set from per-table scores (see the module's docstring); pure, for tests."""
    chosen: dict[tuple[str, str], str] = {}

    def add(key: tuple[str, str], why: str) -> None:
        if key in catalog and key not in chosen and len(chosen) < limits.max_tables:
            chosen[key] = why

    for key in used:
        add(key, "used")
    ranked = sorted(catalog, key=lambda key: (-scores.get(key, 0.0), key))
    seeds = ranked[:limits.top_k]
    for key in seeds:
        add(key, "ranked")
    near = neighbours(catalog)
    for key in seeds:
        # What a seed references first (the lookups a join needs: its customer, its owner), then what
        # references it; each best scored first.
        refers = {fk.ref for fk in catalog[key].foreign_keys}
        options = sorted(near.get(key, ()) - set(chosen),
                         key=lambda k: (k not in refers, -scores.get(k, 0.0), k))
        for other in options[:limits.neighbours_per_table]:
            add(other, "neighbour")
    for key in ranked:
        add(key, "filled")
    return SchemaSelection(tuple(chosen), len(catalog), chosen)


class SchemaRetriever:
    """One per process: the embeddings store and, per catalog, its word index and vectors."""

    def __init__(self, embeddings: TableEmbeddings, max_indexes: int = 64, *, name_weight: float = NAME_WEIGHT,
                 column_weight: float = COLUMN_WEIGHT):
        self._embeddings = embeddings
        self.name_weight = name_weight
        self.column_weight = column_weight
        self._indexes: OrderedDict[str, _Index] = OrderedDict()
        self._max = max_indexes
        self._lock = threading.Lock()

    def index(self, catalog: dict[tuple[str, str], TableInfo]) -> _Index:
        keys = list(catalog)
        texts = [embedding_text(catalog[key]) for key in keys]
        digest = hashlib.sha256("\0".join(f"{k[0]}.{k[1]}\n{t}" for k, t in zip(keys, texts)).encode()).hexdigest()
        with self._lock:
            found = self._indexes.get(digest)
            if found is not None:
                self._indexes.move_to_end(digest)
                return found
        name_words = [set(words(catalog[key].name)) for key in keys]
        column_words = [{w for column in catalog[key].columns for w in words(column.name)} for key in keys]
        try:
            vectors = self._embeddings.vectors(texts)
        except psycopg.OperationalError:
            raise   # the database is gone: the turn's own handling (a retry) applies
        except Exception as exc:  # noqa: BLE001 - without the model, the names still rank the tables
            log.warning("table descriptions could not be embedded; ranking by names only: %s", exc)
            return _Index(keys, None, name_words, column_words, _idf(name_words), _idf(column_words))
        built = _Index(keys, vectors, name_words, column_words, _idf(name_words), _idf(column_words))
        with self._lock:
            self._indexes[digest] = built
            while len(self._indexes) > self._max:
                self._indexes.popitem(last=False)
        return built

    def scores(self, catalog: dict[tuple[str, str], TableInfo], query: str) -> dict[tuple[str, str], float]:
        index = self.index(catalog)
        if not index.keys:
            return {}
        semantic = np.zeros(len(index.keys), dtype=np.float32)
        if index.vectors is not None:
            try:
                semantic = index.vectors @ self._embeddings.query(query)
            except psycopg.OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - as above: the lexical score alone
                log.warning("the query could not be embedded; ranking tables by names only: %s", exc)
        names, columns = lexical_scores(query, index)
        combined = semantic + self.name_weight * names + self.column_weight * columns
        return {key: float(score) for key, score in zip(index.keys, combined)}

    def retrieve(self, catalog: dict[tuple[str, str], TableInfo], query: str, used: Iterable[tuple[str, str]],
                 limits: RetrievalLimits) -> SchemaSelection:
        began = time.perf_counter()
        selection = select(catalog, self.scores(catalog, query), used, limits)
        return SchemaSelection(selection.tables, selection.total, selection.why, time.perf_counter() - began)
