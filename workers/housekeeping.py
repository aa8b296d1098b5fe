"""Periodic upkeep (Celery beat): give abandoned turns to a live worker, or close them.

A turn is abandoned when it is unfinished and no worker holds its lock: its worker died (the
lock's lease ran out) or its message was lost. Celery's own redelivery of an unacknowledged
message waits for a worker restart with the gevent pool, so housekeeping re-enqueues the turn;
the per-turn lock and the turn's status make a second delivery harmless. After MAX_ATTEMPTS the
turn is closed with an error instead of being tried forever.
"""
from __future__ import annotations

import logging

from app.chat import repository as conversations
from workers.celery_app import QUEUE, RUN_TURN
from workers.services import WorkerServices
from workers.turn_lock import LEASE_SECONDS, lock_key

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def run_housekeeping(services: WorkerServices, celery) -> dict:
    settings = services.settings
    redis = services.runtime.redis
    requeued = closed = 0
    with services.runtime.db.connection() as conn:
        # Running turns are judged by their lease; queued ones may just be waiting for a free worker.
        candidates = conversations.unfinished_turns(conn, running_idle_seconds=LEASE_SECONDS,
                                                    queued_idle_seconds=settings.celery_visibility_timeout + 60)
        for turn in candidates:
            if redis.exists(lock_key(turn["id"])):
                continue
            if turn["attempts"] < MAX_ATTEMPTS:
                celery.send_task(RUN_TURN, args=[str(turn["id"])], queue=QUEUE)
                requeued += 1
                continue
            if conversations.abandon_turn(conn, str(turn["id"])):
                conn.commit()
                closed += 1
                services.bus.publish(str(turn["conversation_id"]), {
                    "type": "error", "code": "INTERNAL_ERROR", "error": "The turn failed on every attempt",
                    "message_id": str(turn["assistant_message_id"])})
    if requeued or closed:
        log.warning("housekeeping: re-enqueued %d abandoned turn(s), closed %d", requeued, closed)
    return {"requeued": requeued, "closed": closed}
