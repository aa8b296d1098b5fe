"""The web's fail-fast pools: while PostgreSQL refuses connections a caller is answered at once,
callers already queued included, instead of after the whole acquire timeout (tests/faults measures
it on a real outage)."""
import threading
import time

import pytest
from psycopg_pool import PoolTimeout

from app.db.connect import REFUSED_WAIT_SECONDS, _pool
from tests.support.processes import free_port


def _refusing_url() -> str:
    return f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"  # nothing listens there


def _getconn_times(pool, callers: int) -> list[tuple[float, BaseException | None]]:
    results: list[tuple[float, BaseException | None]] = []
    lock = threading.Lock()

    def call():
        began = time.monotonic()
        try:
            pool.putconn(pool.getconn())
            outcome = None
        except Exception as exc:
            outcome = exc
        with lock:
            results.append((time.monotonic() - began, outcome))

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_callers_of_a_fail_fast_pool_are_answered_at_once_while_connecting_fails():
    pool = _pool(_refusing_url(), "fail-fast", 4, 5.0, {"connect_timeout": 2}, fail_fast=True)
    try:
        results = _getconn_times(pool, 20)
    finally:
        pool.close(timeout=1)
    assert all(isinstance(outcome, PoolTimeout) for _, outcome in results), results
    # Far below the 5 s timeout: the queued callers are failed with the first refused attempt.
    assert max(took for took, _ in results) < 1.0 + REFUSED_WAIT_SECONDS


def test_a_plain_pool_still_waits_its_timeout():
    pool = _pool(_refusing_url(), "plain", 4, 1.0, {"connect_timeout": 2})
    try:
        began = time.monotonic()
        with pytest.raises(PoolTimeout):
            pool.getconn()
        assert time.monotonic() - began >= 0.9  # a worker's turn waits its turn rather than fail
    finally:
        pool.close(timeout=1)
