"""Tools a chatbot can offer the model.

    base       Tool, ToolContext, ToolServices, ToolError: what a tool is
    registry   ToolRegistry and default_registry(): the tools this server runs
    catalog    the tool names a chatbot file may use (names only)
    sql_tool   EXECUTE_SQL
"""
