import pytest
import redis


@pytest.fixture
def client(redis_server):
    """A client of the session's real Redis."""
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()
