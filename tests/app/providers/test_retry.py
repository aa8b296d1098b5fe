"""The retry policy's arithmetic: the wait a provider asks for, read every way it is written, and
backoff that grows, is capped and is jittered downwards only."""
import email.utils
import time

import pytest

from app.providers.retry import RetryPolicy, retry_after_seconds


@pytest.mark.parametrize("headers,seconds", [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250"}, 0.25),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),   # the precise one wins
    ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
    ({"retry-after": "-4"}, 0.0),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "whenever"}, None),
    ({}, None),
    (None, None),
])
def test_the_wait_a_provider_asks_for(headers, seconds):
    assert retry_after_seconds(headers) == seconds


def test_the_wait_may_be_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds({"retry-after": later}) <= 30
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds({"retry-after": earlier}) == 0.0


def test_backoff_doubles_up_to_its_cap_less_a_quarter_at_most():
    policy = RetryPolicy(first_delay=0.5, max_delay=8.0)
    for retry, full in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (10_000, 8.0)]:
        waits = [policy.backoff(retry) for _ in range(50)]
        assert all(0.75 * full <= wait <= full for wait in waits), (retry, waits)
        assert len(set(waits)) > 1  # jittered
