"""What the MCP process builds once and every request shares: pools, the tool registry, the schema cache."""
from __future__ import annotations

from functools import cached_property

from app.mcp_schema import SchemaResources
from app.runtime import Runtime
from app.sql.executor import SqlExecutor
from app.tools.base import ToolServices
from app.tools.registry import ToolRegistry, default_registry
from config import Settings

# As the web's: a request must not wait without end behind a lock on the server's tables.
MCP_DB_SESSION = "-c lock_timeout=5s -c statement_timeout=30s"


class McpServices:
    def __init__(self, settings: Settings, runtime: Runtime | None = None):
        self.settings = settings
        self.runtime = runtime or Runtime(settings, client_name="fluxbase-mcp", db_session_options=MCP_DB_SESSION)

    @cached_property
    def registry(self) -> ToolRegistry:
        return default_registry()

    @cached_property
    def tool_services(self) -> ToolServices:
        # Built as the worker builds it (workers/services.py): tools run the same here and in a turn.
        executor = SqlExecutor(self.runtime.user_db, statement_timeout_ms=self.settings.sql_statement_timeout_ms,
                               max_rows=self.settings.sql_max_rows, max_bytes=self.settings.sql_max_bytes,
                               acquire_timeout_s=self.runtime.db_wait_seconds)
        return ToolServices(settings=self.settings, sql=executor, db=self.runtime.db, celery=self.runtime.celery)

    @cached_property
    def schema(self) -> SchemaResources:
        return SchemaResources(self.runtime.redis, self.settings.mcp_schema_check_seconds)

    def close(self) -> None:
        self.runtime.close()
