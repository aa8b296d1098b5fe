"""Periodic upkeep (Celery beat): close turns that no worker is running any more.

A turn whose message was acknowledged but whose worker died (or whose lock lapsed) would
otherwise stay 'running' forever and block the conversation with TURN_IN_PROGRESS.
"""
from __future__ import annotations

import logging

from app.chat import repository as conversations
from workers.services import WorkerServices

log = logging.getLogger(__name__)


def run_housekeeping(services: WorkerServices) -> dict:
    settings = services.settings
    redis = services.runtime.redis
    closed = 0
    # Past the redelivery window and the turn timeout, with no worker holding its lock.
    horizon = max(settings.turn_timeout_seconds, settings.celery_visibility_timeout) + 60
    with services.runtime.db.connection() as conn:
        for row in conversations.stale_running_turns(conn, horizon):
            if redis.exists(f"fluxbase:turn:{row['id']}:lock"):
                continue
            updated = conn.execute(
                """update ai.turns set status = 'error', error_code = 'INTERNAL_ERROR', finished_at = now()
                   where id = %s and status in ('queued', 'running') returning id""", (row["id"],)).fetchone()
            conn.commit()
            if updated:
                closed += 1
                services.bus.publish(str(row["conversation_id"]), {
                    "type": "error", "code": "INTERNAL_ERROR", "error": "The turn was abandoned by its worker",
                    "message_id": str(row["assistant_message_id"])})
    if closed:
        log.warning("closed %d abandoned turn(s)", closed)
    return {"abandoned_turns_closed": closed}
