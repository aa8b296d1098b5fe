"""Execution tools' server side: the admin's allow-lists (exposed RPC functions, HTTP functions) and jobs."""
