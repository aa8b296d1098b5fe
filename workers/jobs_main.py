"""Jobs worker entry: `celery -A workers.jobs_main worker -P prefork -Q jobs` (the Procfile's `jobs`).

Its own process: jobs are applications' Python code (app/jobs_registry.py), possibly CPU-bound or
using blocking libraries, and under the turn worker's gevent pool one of them would hold every chat
turn of that process. Prefork also lets Celery's hard time limit kill a runaway job. No gevent here.
"""
from app.factory import configure_logging
from app.jobs import make_celery
from app.metrics import init_metrics
from config import Settings
from workers.job_tasks import register_job_tasks

settings = Settings.from_env()
configure_logging(settings)
# As in the other processes: whatever a job counts lands beside their values under METRICS_DIR.
init_metrics(settings)
celery = make_celery(settings)
register_job_tasks(celery, settings)
