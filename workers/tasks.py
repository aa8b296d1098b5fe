"""Task definitions: thin wrappers that pass ids to the code that does the work."""
from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_shutdown

from app.runtime import Runtime
from config import Settings
from workers.celery_app import HOUSEKEEPING, RUN_TURN

log = logging.getLogger(__name__)


def register_tasks(celery: Celery, settings: Settings) -> None:
    runtime = Runtime(settings)

    @celery.task(name=HOUSEKEEPING)
    def housekeeping() -> dict:
        from workers.housekeeping import run_housekeeping

        return run_housekeeping(runtime)

    @celery.task(name=RUN_TURN, bind=True, acks_late=True, reject_on_worker_lost=True)
    def run_turn(self, turn_id: str) -> None:
        from workers.turn import execute_turn

        execute_turn(runtime, turn_id)

    @worker_shutdown.connect(weak=False)
    def _close(**_kwargs) -> None:
        runtime.close()
