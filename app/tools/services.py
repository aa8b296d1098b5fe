"""The ToolServices of a process that runs tools (the turn worker, the MCP server), built one way so a
tool behaves the same whichever process runs it."""
from __future__ import annotations

from app.runtime import Runtime
from app.sql.executor import SqlExecutor
from app.tools.base import ToolServices


def tool_services_for(runtime: Runtime) -> ToolServices:
    settings = runtime.settings
    executor = SqlExecutor(runtime.user_db, statement_timeout_ms=settings.sql_statement_timeout_ms,
                           max_rows=settings.sql_max_rows, max_bytes=settings.sql_max_bytes,
                           acquire_timeout_s=runtime.db_wait_seconds)
    return ToolServices(settings=settings, sql=executor, db=runtime.db, celery=runtime.celery)
