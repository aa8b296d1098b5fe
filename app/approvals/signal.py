"""Waking the worker that waits for an approval: a Redis list per approval, pushed by the web
process when the owner answers (or by the worker itself on a cancel), popped with a deadline.

The list is only a doorbell: the decision is in PostgreSQL, which the worker reads after every
wake-up and every few seconds anyway, so a lost push costs latency, never a decision.
"""
from __future__ import annotations

import redis

__all__ = ["KEY_TTL_SECONDS", "key", "ring", "wait"]

KEY_TTL_SECONDS = 3600


def key(approval_id: str) -> str:
    return f"fluxbase:approval:{approval_id}"


def ring(client: redis.Redis, approval_id: str, what: str = "decided") -> None:
    pipe = client.pipeline(transaction=False)
    pipe.rpush(key(approval_id), what)
    pipe.expire(key(approval_id), KEY_TTL_SECONDS)
    pipe.execute()


def wait(client: redis.Redis, approval_id: str, seconds: float) -> str | None:
    """What was pushed, or None when `seconds` passed first (BLPOP takes whole or fractional seconds)."""
    popped = client.blpop([key(approval_id)], timeout=max(0.01, seconds))
    if popped is None:
        return None
    value = popped[1]
    return value.decode() if isinstance(value, bytes) else str(value)
