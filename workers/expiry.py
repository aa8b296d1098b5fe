"""The expiry job (Celery beat, every EXPIRY_SECONDS): delete conversations whose time is up.

Expired conversations already read as absent everywhere (app/chat/lifetime.py LIVE); this removes
them from storage, their turns and messages with them (ON DELETE CASCADE), and then what Redis
keeps of them (the replay buffer and the seq counter, which would otherwise live out their own TTL).
Conversations with a queued or running turn are skipped: a turn is never deleted under its worker,
and its end pushes the expiry on anyway. Work is done in batches of BATCH, each its own short
transaction, and at most MAX_BATCHES per run, so a backlog (after downtime) is cleared over a few
runs without holding locks or a worker for long. The SQL audit trail and the usage rollup are not
touched: they are the admins' record, not the conversation.
"""
from __future__ import annotations

import logging

from psycopg_pool import ConnectionPool

from app.chat.lifetime import delete_expired
from app.streaming.bus import StreamBus

log = logging.getLogger(__name__)

BATCH = 500
MAX_BATCHES = 20


def expire_conversations(db: ConnectionPool, bus: StreamBus, *, batch: int = BATCH,
                         max_batches: int = MAX_BATCHES) -> int:
    """Delete expired conversations; returns how many. Callable directly (tests, a shell)."""
    deleted = 0
    for _ in range(max_batches):
        with db.connection() as conn:
            with conn.transaction():
                ids = delete_expired(conn, limit=batch)
        deleted += len(ids)
        if ids:
            try:
                bus.forget(ids)
            except Exception as exc:  # their keys run out by their own TTL (STREAM_REPLAY_TTL_SECONDS)
                log.warning("could not drop the Redis keys of %d expired conversation(s): %s", len(ids), exc)
        if len(ids) < batch:
            break
    if deleted:
        log.info("expiry: deleted %d expired conversation(s)", deleted)
    return deleted
