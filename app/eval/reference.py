"""Reference queries, run as the case's user through the executor model-written SQL uses
(app/sql/executor.py): role `authenticated` with the user's claims, so row-level security shows the
reference exactly the rows it shows the chatbot; always in a READ ONLY transaction that is rolled back,
with the server's statement timeout and row and byte caps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.eval.compare import is_ordered
from app.sql.executor import ExecutorUnavailable, QueryFailed, SqlExecutor

__all__ = ["ReferenceFailed", "ReferenceResult", "ReferenceRunner"]


class ReferenceFailed(Exception):
    """The reference query is not usable (it does not parse, fails, or its result was cut at a cap)."""


@dataclass(frozen=True)
class ReferenceResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    ordered: bool


class ReferenceRunner:
    def __init__(self, executor: SqlExecutor):
        self._executor = executor

    def run(self, sql: str, *, user_id: str, schema: str) -> ReferenceResult:
        try:
            ordered = is_ordered(sql)
        except Exception as exc:  # pglast's ParseError, or more than one statement
            raise ReferenceFailed(f"the reference query does not parse: {exc}") from None
        claims = {"role": "authenticated", "sub": user_id}
        try:
            result = self._executor.run(sql, role="authenticated", claims=claims, search_path_schema=schema,
                                        allow_writes=False)
        except QueryFailed as exc:
            raise ReferenceFailed(f"the reference query failed: {exc.reason}") from None
        except ExecutorUnavailable:
            raise ReferenceFailed("the database is not available for the reference query") from None
        if result.truncated:
            raise ReferenceFailed(f"the reference query's result was cut at {result.row_count} rows "
                                  f"({result.truncated_by} cap): compare smaller results")
        return ReferenceResult(list(result.columns), list(result.rows), ordered)
