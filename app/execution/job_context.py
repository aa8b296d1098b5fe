"""What a job's entry point receives (app/jobs_registry.py), and how it says it failed."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psycopg.sql import Composable

    from app.sql.executor import SqlExecutor
    from app.sql.results import QueryResult

__all__ = ["JobContext", "JobFailed"]


class JobFailed(Exception):
    """Raised by a job to fail with a message the submitting user reads (keep secrets out of it)."""


@dataclass(frozen=True)
class JobContext:
    job_id: str
    job_name: str
    namespace: str
    user_id: str
    role: str
    claims: dict
    payload: dict
    _sql: SqlExecutor

    def query(self, statement: str | Composable, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
              write: bool = False) -> QueryResult:
        """Run one statement as the submitting user (their role and claims: row-level security applies).

        Values go in `params` (`%s` placeholders), never into the text. Read-only unless `write`; the
        SQL executor's timeout and row and byte caps apply. Raises app.sql.executor.QueryFailed.
        """
        return self._sql.run(statement, role=self.role, claims=self.claims, allow_writes=write, params=params)
