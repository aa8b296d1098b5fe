"""The Celery application, built from Settings (Flask's Celery pattern, without import-time config)."""
from __future__ import annotations

from celery import Celery

from config import Settings

RUN_TURN = "fluxbase.run_turn"
HOUSEKEEPING = "fluxbase.housekeeping"
QUEUE = "fluxbase"


def make_celery(settings: Settings) -> Celery:
    celery = Celery("fluxbase", set_as_current=False)
    celery.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        # A turn killed with its worker must run again, once: ack only after it finished,
        # and never hold more than one turn per greenlet slot in reserve.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # kombu puts a dead worker's unacknowledged turns back when a worker starts (once they are
        # older than the visibility timeout); beat's housekeeping re-enqueues them without waiting
        # for a restart (workers/housekeeping.py).
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Liveness is a heartbeat key (app/worker_presence.py), so the broadcast control channel
        # would only cost a Redis connection per worker and a slower shutdown.
        worker_enable_remote_control=False,
        timezone="UTC",
        beat_schedule={
            "housekeeping": {"task": HOUSEKEEPING, "schedule": 15.0},
        },
        task_time_limit=settings.turn_timeout_seconds + 60,
    )
    return celery
