"""GET /metrics: Prometheus text format, for a scraper holding METRICS_TOKEN (or the service key).

What every process of this machine wrote under METRICS_DIR (app/metrics.py), added up at each scrape,
and the Celery queues' lengths, read from Redis at scrape time. Not open on loopback alone: behind a
reverse proxy on the same machine every caller comes from loopback.
"""
from __future__ import annotations

import hmac
import logging

import redis
from flask import Blueprint, Response, request
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from app.jobs import EMBEDDINGS_QUEUE, JOBS_QUEUE, QUEUE
from app.protocol import Code, ProtocolError
from app.web.context import web_context
from config import Settings

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

QUEUES = (QUEUE, EMBEDDINGS_QUEUE, JOBS_QUEUE)


class QueueDepthCollector:
    """Messages waiting in each Celery queue, and those delivered but not yet acknowledged.

    kombu's Redis transport keeps a queue as one list per priority step (`name`, `name\\x06\\x163`, ...)
    and every delivered, unacknowledged message in one hash."""

    def __init__(self, client: redis.Redis, queues: tuple[str, ...] = QUEUES):
        self._client = client
        self._queues = queues

    def collect(self):
        up = GaugeMetricFamily("fluxbase_queue_up", "1 when the queue lengths below could be read from Redis.")
        try:
            pipe = self._client.pipeline(transaction=False)
            for queue in self._queues:
                for step in PRIORITY_STEPS:
                    pipe.llen(f"{queue}{Channel.sep}{step}" if step else queue)
            pipe.hlen(Channel.unacked_key)
            lengths = pipe.execute()
        except redis.RedisError as exc:
            log.warning("/metrics could not read the queue lengths: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("fluxbase_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
        steps = len(PRIORITY_STEPS)
        for index, queue in enumerate(self._queues):
            depth.add_metric([queue], sum(lengths[index * steps:(index + 1) * steps]))
        yield depth
        yield GaugeMetricFamily("fluxbase_queue_unacked",
                                "Messages delivered to a worker and not yet acknowledged (running or reserved).",
                                value=lengths[-1])


def _check_access(settings: Settings) -> None:
    header = request.headers.get("Authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
    presented = [value for value in (bearer, request.headers.get("X-Service-Key", "").strip()) if value]
    if not presented:
        raise ProtocolError(Code.AUTH_REQUIRED, "Send `Authorization: Bearer <METRICS_TOKEN>` or the service key")
    accepted = [value for value in (settings.metrics_token, settings.service_key) if value]
    if not any(hmac.compare_digest(given.encode(), value.encode()) for given in presented for value in accepted):
        raise ProtocolError(Code.AUTH_INVALID)


@bp.get("/metrics")
def metrics():
    context = web_context()
    _check_access(context.settings)
    registry = CollectorRegistry()
    if context.metrics.directory is not None:
        MultiProcessCollector(registry, path=str(context.metrics.directory))
    registry.register(QueueDepthCollector(context.runtime.redis))
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
