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
        # Unacknowledged turns of a dead worker come back after the visibility timeout, but kombu
        # sweeps for them only when a poll ends with nothing to read. A BRPOP that outlasts the
        # gevent pool's 2 s drain timeout makes idle polls end that way, and a throttle of 1 makes
        # every such poll sweep (one ZRANGE), so a lost turn returns within seconds of its timeout.
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout,
                                  "polling_interval": 3, "unacked_restore_throttle": 1},
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        timezone="UTC",
        beat_schedule={
            "housekeeping": {"task": HOUSEKEEPING, "schedule": 60.0},
        },
        task_time_limit=settings.turn_timeout_seconds + 60,
    )
    return celery
