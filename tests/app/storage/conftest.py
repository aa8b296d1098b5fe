"""A store over the session's real PostgreSQL and a temporary folder, with small caps; buckets and
users made fresh per test so tests never see each other's objects or quotas."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from app.storage import repository as repo
from app.storage.local import LocalDirectoryBackend
from app.storage.store import ObjectStore, StorageLimits

MAX_OBJECT = 1000
MAX_USER = 2500


@pytest.fixture
def backend(tmp_path):
    return LocalDirectoryBackend(tmp_path / "storage")


@pytest.fixture
def store(database, backend):
    # Dict rows, as the server's owner pool hands out.
    return ObjectStore(backend, lambda: psycopg.connect(database.database_url, row_factory=dict_row),
                       StorageLimits(MAX_OBJECT, MAX_USER))


@pytest.fixture
def make_bucket(owner_conn):
    def make(policy: str = "private") -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        assert repo.create_bucket(owner_conn, name, policy) is not None
        return name

    return make


@pytest.fixture
def users():
    return str(uuid.uuid4()), str(uuid.uuid4())
