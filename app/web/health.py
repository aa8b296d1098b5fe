"""GET /health: PostgreSQL, Redis and at least one live worker."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify

from app.web.context import web_context
from app.worker_presence import live_workers

bp = Blueprint("health", __name__)


class _Unhealthy(Exception):
    """A failure whose message is safe to show on the public /health endpoint."""


def _timed(check):
    started = time.perf_counter()
    try:
        detail = check()
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **(detail or {})}
    except _Unhealthy as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a health check reports every failure instead of raising it
        # Only the kind of failure: /health is public, and driver messages can name hosts and ports.
        return {"ok": False, "error": type(exc).__name__}


@bp.get("/health")
def health():
    runtime = web_context().runtime

    def postgres():
        with runtime.db.connection(timeout=3) as conn:
            conn.execute("select 1")

    def redis_check():
        runtime.redis.ping()

    def workers():
        names = live_workers(runtime.redis)
        if not names:
            raise _Unhealthy("no live Celery worker")
        return {"workers": names}

    checks = {"postgres": _timed(postgres), "redis": _timed(redis_check), "worker": _timed(workers)}
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "degraded", "checks": checks}
    return jsonify(body), 200 if healthy else 503
