"""Web process entry: gunicorn's gevent worker loads `app.wsgi:application`.

gevent must patch before psycopg is first imported, or database waits block the whole process.
"""
from gevent import monkey

monkey.patch_all()

from app.factory import configure_logging, create_app  # noqa: E402
from config import Settings  # noqa: E402

_settings = Settings.from_env()
configure_logging(_settings)
application = create_app(_settings)
