"""Embedded PostgreSQL and Redis for development and tests (never used when URLs are configured)."""
