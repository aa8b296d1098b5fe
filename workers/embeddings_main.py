"""Embeddings worker entry: `celery -A workers.embeddings_main worker -P prefork -Q embeddings`.

Its own process (the Procfile's `embeddings`): embedding is CPU-bound, and under the turn worker's
gevent pool one document would hold every chat turn of that process for seconds. No gevent here.
"""
from app.factory import configure_logging
from app.jobs import make_celery
from app.metrics import init_metrics
from config import Settings
from workers.ingest_tasks import register_ingest_tasks

settings = Settings.from_env()
configure_logging(settings)
# Nothing here counts yet; set up anyway, so whatever does later lands beside the other processes' values.
init_metrics(settings)
celery = make_celery(settings)
register_ingest_tasks(celery, settings)
