"""Tools a chatbot can offer the model. `catalog` holds their names and default definitions."""

from app.tools.catalog import BUILTIN_TOOLS, TOOL_NAMES, TOOL_SCOPES, builtin_definition, is_builtin

__all__ = ["BUILTIN_TOOLS", "TOOL_NAMES", "TOOL_SCOPES", "builtin_definition", "is_builtin"]
