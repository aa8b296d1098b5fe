"""gunicorn's hooks for the web process (`--config python:config.gunicorn` on the Procfile's `web` line).

Only hooks live here: the Procfile's command line keeps every other option in plain sight.
"""
from app.metrics import mark_dead
from config import Settings

_metrics_dir = Settings.from_env().metrics_dir


def child_exit(server, worker):
    # A web worker process that died (or was replaced) no longer holds its sockets: drop its live gauges.
    mark_dead(worker.pid, _metrics_dir)
