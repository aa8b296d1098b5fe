"""Web process entry: gunicorn's gevent worker loads `app.wsgi:application`.

gevent must patch before psycopg is first imported, or database waits block the whole process.
"""
from gevent import monkey

monkey.patch_all()

import atexit  # noqa: E402

from app.chatbots.sync_service import sync_on_start  # noqa: E402
from app.factory import close_app, configure_logging, create_app  # noqa: E402
from app.metrics import init_metrics  # noqa: E402
from config import Settings  # noqa: E402

_settings = Settings.from_env()
configure_logging(_settings)
# Each gunicorn worker process loads this module itself (no --preload), so each writes its own files.
application = create_app(_settings, metrics=init_metrics(_settings))
# Each worker syncs once as it loads; concurrent syncs queue on an advisory lock, so the
# second finds everything unchanged. A failure is logged and the worker serves anyway.
sync_on_start(_settings)


atexit.register(close_app, application)
