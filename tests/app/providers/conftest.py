"""Provider rows for the selection tests: an empty ai.providers around each test, and a way to add one."""
import psycopg
import pytest

from app.providers import admin
from app.providers.repository import key_box


@pytest.fixture
def conn(database, owner_conn):
    owner_conn.execute("delete from ai.providers")
    with psycopg.connect(database.database_url, autocommit=True) as connection:
        yield connection
    owner_conn.execute("delete from ai.providers")


@pytest.fixture
def box(settings):
    return key_box(settings.encryption_key)


def add(conn, box, name, **extra):
    return admin.create(conn, box, admin.NewProvider(name=name, provider_type="ollama",
                                                     config={"model": f"{name}-model"}, **extra))
