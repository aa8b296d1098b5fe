"""Embeddings worker entry: `celery -A workers.embeddings_main worker -P prefork -Q embeddings`.

Its own process (the Procfile's `embeddings`): embedding is CPU-bound, and under the turn worker's
gevent pool one document would hold every chat turn of that process for seconds. No gevent here.
"""
from app.factory import configure_logging
from app.jobs import make_celery
from config import Settings
from workers.ingest_tasks import register_ingest_tasks

settings = Settings.from_env()
configure_logging(settings)
celery = make_celery(settings)
register_ingest_tasks(celery, settings)
