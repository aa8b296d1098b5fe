"""The MCP server for outside clients (the Procfile's `mcp` process; docs/mcp.md).

An asyncio process of its own (uvicorn), built on the official MCP SDK's `MCPServer`: Flask and the
workers run under gevent, which does not mix with asyncio in one process. Every request is
authenticated like the web's and scoped to one chatbot; the tools it lists and runs are that chatbot's,
run through the same registry as a chat turn, as the same end user (access.py, calls.py).
"""
