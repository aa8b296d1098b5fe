"""Periodic upkeep (Celery beat): give abandoned turns to a live worker or close them, and publish
endings that never reached Redis.

A turn is abandoned when it is unfinished and no worker keeps its lease: its worker died (the
lease in PostgreSQL ran out and no Redis lock is held) or its message was lost. Celery's own redelivery of an unacknowledged
message waits for a worker restart with the gevent pool, so housekeeping re-enqueues the turn;
the per-turn lock and the turn's status make a second delivery harmless. After MAX_ATTEMPTS the
turn is closed with an error instead of being tried forever.

An ending is unpublished when its turn closed while Redis was away for longer than the worker
retried (workers/emitter.py); clients would wait for it forever, so it is published from
PostgreSQL, with the stored answer.
"""
from __future__ import annotations

import logging

from app.chat import records, turns
from app.jobs import enqueue_turn, queued_marker
from workers.emitter import ENDING_RETRY_SECONDS
from workers.endings import publish_recovered
from workers.services import WorkerServices
from workers.turn_lock import LEASE_SECONDS, lock_key

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# A queued turn is looked at after this long; one still marked as sent is just waiting for a worker.
QUEUED_GRACE_SECONDS = 30
# A worker retries its ending for ENDING_RETRY_SECONDS; only later is it housekeeping's.
ENDING_GRACE_SECONDS = int(ENDING_RETRY_SECONDS) + 25


def run_housekeeping(services: WorkerServices, celery) -> dict:
    requeued, closed = _abandoned_turns(services, celery)
    published = _unpublished_endings(services)
    if requeued or closed or published:
        log.warning("housekeeping: re-enqueued %d abandoned turn(s), closed %d, published %d lost ending(s)",
                    requeued, closed, published)
    return {"requeued": requeued, "closed": closed, "published": published}


def _abandoned_turns(services: WorkerServices, celery) -> tuple[int, int]:
    settings = services.settings
    redis = services.runtime.redis
    requeued = closed = 0
    with services.runtime.db.connection() as conn:
        # Running turns are judged by their lease; queued ones may just be waiting for a free worker.
        # The Redis lock is checked too: a turn whose lock is held is alive, whatever PostgreSQL says.
        candidates = turns.unfinished_turns(conn, running_idle_seconds=LEASE_SECONDS,
                                                    queued_idle_seconds=QUEUED_GRACE_SECONDS)
        conn.commit()
        for turn in candidates:
            # A running turn's lock says its worker lives; a queued turn's mark says it is still in
            # the broker's queue, waiting for a free worker (the mark outlives the start of the turn).
            alive = lock_key(turn.id) if turn.status == "running" else queued_marker(turn.id)
            if redis.exists(alive):
                continue
            if turn.attempts < MAX_ATTEMPTS:
                enqueue_turn(celery, redis, turn.id, settings.celery_visibility_timeout)
                requeued += 1
                continue
            with conn.transaction():
                abandoned = turns.abandon_turn(conn, turn)
                lost = turns.claim_unpublished_ending(conn, turn.id) if abandoned else None
            if abandoned:
                services.metrics.turn_finished("error", "INTERNAL_ERROR")  # as abandon_turn closes it
            if lost is not None:
                closed += 1
                _publish(services, conn, lost)
    return requeued, closed


def _unpublished_endings(services: WorkerServices) -> int:
    published = 0
    with services.runtime.db.connection() as conn:
        with conn.transaction():
            claimed = turns.claim_unpublished_endings(
                conn, grace_seconds=ENDING_GRACE_SECONDS, horizon_seconds=services.settings.stream_replay_ttl_seconds)
        for turn in claimed:
            published += _publish(services, conn, turn)
    return published


def _publish(services: WorkerServices, conn, turn: records.ClosedTurn) -> bool:
    try:
        seq = publish_recovered(services.bus, turn)
    except Exception:
        log.exception("could not publish the lost ending of turn %s", turn.id)
        with conn.transaction():
            turns.release_ending_claim(conn, turn.id)
        return False
    with conn.transaction():
        turns.record_ending(conn, turn_id=turn.id, conversation_id=turn.conversation_id, last_seq=seq,
                                    ending_seq=seq)
    return True
