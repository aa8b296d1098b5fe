"""Checking model-written SQL before it runs."""
from app.sql.guard import AccessPolicy, CheckedStatement, SqlRefused, check_sql

__all__ = ["AccessPolicy", "CheckedStatement", "SqlRefused", "check_sql"]
