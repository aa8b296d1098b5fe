"""What the MCP process builds once and every request shares: pools, the tool registry, the schema cache."""
from __future__ import annotations

from functools import cached_property

from app.mcp_schema import SchemaResources
from app.runtime import Runtime
from app.tools.base import ToolServices
from app.tools.registry import ToolRegistry, default_registry
from app.tools.services import tool_services_for
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
        return tool_services_for(self.runtime)

    @cached_property
    def schema(self) -> SchemaResources:
        return SchemaResources(self.runtime.redis, self.settings.mcp_schema_check_seconds)

    def close(self) -> None:
        self.runtime.close()
