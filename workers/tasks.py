"""Task definitions: thin wrappers that pass ids to the code that does the work."""
from __future__ import annotations

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from app.jobs import EXPIRE_CONVERSATIONS, HOUSEKEEPING, RUN_TURN
from app.metrics import NO_METRICS, Metrics
from app.worker_presence import Heartbeat
from config import Settings
from workers.expiry import expire_conversations
from workers.housekeeping import run_housekeeping
from workers.services import WorkerServices, worker_runtime
from workers.turn import execute_turn


def register_tasks(celery: Celery, settings: Settings, metrics: Metrics = NO_METRICS) -> None:
    services = WorkerServices(worker_runtime(settings), metrics)

    @celery.task(name=HOUSEKEEPING)
    def housekeeping() -> dict:
        return run_housekeeping(services, celery)

    @celery.task(name=EXPIRE_CONVERSATIONS)
    def expire() -> int:
        return expire_conversations(services.runtime.db, services.bus)

    @celery.task(name=RUN_TURN, acks_late=True, reject_on_worker_lost=True)
    def run_turn(turn_id: str) -> None:
        execute_turn(services, turn_id)

    heartbeats: list[Heartbeat] = []

    @worker_ready.connect(weak=False)
    def _announce(sender=None, **_kwargs) -> None:
        heartbeat = Heartbeat(services.runtime.redis, getattr(sender, "hostname", None) or "worker")
        heartbeat.start()
        heartbeats.append(heartbeat)
        services.cancel_hub.start()  # subscribed before the first turn arrives

    @worker_shutdown.connect(weak=False)
    def _close(**_kwargs) -> None:
        for heartbeat in heartbeats:
            heartbeat.stop()
        services.close()
