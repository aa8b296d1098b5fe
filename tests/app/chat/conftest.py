import pytest
import redis


@pytest.fixture
def client(redis_server):
    """A plain client of the session's Redis."""
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()
