"""Worker and beat entry: `celery -A workers.main worker -P gevent` / `celery -A workers.main beat`.

This module is the process entry point, so it is where Settings are read; task modules stay
free of configuration and of gevent patching (celery -P gevent patches by itself).
"""
from app.factory import configure_logging
from app.jobs import make_celery
from app.metrics import init_metrics
from config import Settings
from workers.gevent_compat import repair_blocking_sleeps
from workers.tasks import register_tasks

repair_blocking_sleeps()
settings = Settings.from_env()
configure_logging(settings)
metrics = init_metrics(settings)  # before any value exists: every process writes under METRICS_DIR
celery = make_celery(settings)
register_tasks(celery, settings, metrics)
