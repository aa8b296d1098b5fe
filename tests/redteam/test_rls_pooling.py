"""Row-level security under connection pooling: requests alternating between alice and bob over a
pool of two authenticator connections, first one after another, then from several threads at once,
with identity attacks (run with no guard in front) mixed in. Every answer must hold exactly the
requester's rows: 0 cross-user rows, 0 missing ones."""
from __future__ import annotations

import dataclasses
import threading
from collections import Counter

import pytest

from app.db.connect import authenticator_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import ExecutorUnavailable, QueryFailed, SqlExecutor

USERS = (ALICE, BOB)
QUERY = "SELECT o.user_id::text AS user_id, o.id, pg_backend_pid() AS pid FROM orders o"
# Statements that try to leave a different identity on the connection for the next request.
POISON = (
    "SET ROLE authenticator",
    "RESET ROLE",
    f"SET request.jwt.claims = '{{\"sub\": \"{BOB}\"}}'",
    f"SELECT set_config('request.jwt.claims', '{{\"sub\": \"{BOB}\"}}', false)",
    "SELECT set_config('role', 'authenticator', false)",
    "SET SESSION AUTHORIZATION DEFAULT",
    "PREPARE steal AS SELECT * FROM orders",
    "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM orders",
    "COMMIT",
)
POISON_EVERY = 25


@pytest.fixture(scope="module")
def expected(owner_conn_module) -> dict[str, set[int]]:
    rows = owner_conn_module.execute("select user_id::text, id from public.orders").fetchall()
    by_user = {user: {i for u, i in rows if u == user} for user in USERS}
    assert all(by_user.values())
    return by_user


@pytest.fixture(scope="module")
def owner_conn_module(database):
    import psycopg

    with psycopg.connect(database.database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def two_connections(database):
    pool = authenticator_pool(dataclasses.replace(database, db_pool_size=2))
    pool.resize(min_size=2, max_size=2)
    pool.wait(timeout=10)
    yield pool
    pool.close()


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.pids: set[int] = set()
        self.failures: list[str] = []

    def request(self, executor: SqlExecutor, n: int, expected: dict[str, set[int]]) -> None:
        user = USERS[n % 2]
        if n % POISON_EVERY == POISON_EVERY - 1:
            try:
                executor.run(POISON[(n // POISON_EVERY) % len(POISON)], role="authenticated",
                             claims={"sub": user, "role": "authenticated"})
            except (QueryFailed, ExecutorUnavailable):
                pass
            with self.lock:
                self.counts["poison"] += 1
        rows = executor.run(QUERY, role="authenticated", claims={"sub": user, "role": "authenticated"}).rows
        other = [r for r in rows if r["user_id"] != user]
        ids = {r["id"] for r in rows if r["user_id"] == user}
        with self.lock:
            self.counts["requests"] += 1
            self.counts["cross-user rows"] += len(other)
            self.counts["missing rows"] += len(expected[user] - ids)
            self.pids.update(r["pid"] for r in rows)
            if other or ids != expected[user]:
                self.failures.append(f"request {n} as {user}: got {sorted((r['user_id'], r['id']) for r in rows)}")


def _executor(pool) -> SqlExecutor:
    return SqlExecutor(pool, statement_timeout_ms=2000, max_rows=100, max_bytes=1 << 16, acquire_timeout_s=30)


def test_alternating_users_over_two_pooled_connections_get_only_their_rows(two_connections, expected, scale,
                                                                          report):
    tally = Tally()
    executor = _executor(two_connections)
    for n in range(scale.pooled_requests):
        tally.request(executor, n, expected)
    _report(report, "sequential", tally)
    assert tally.counts["requests"] == scale.pooled_requests
    assert len(tally.pids) == 2, f"the pool used {tally.pids}: the test would not prove pooling"
    assert not tally.failures, tally.failures[:10]


def test_alternating_users_from_several_threads_get_only_their_rows(two_connections, expected, scale, report):
    tally = Tally()
    executor = _executor(two_connections)
    per_thread = scale.pooled_requests // scale.pool_threads
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(per_thread):
                tally.request(executor, offset + n, expected)
        except BaseException as exc:   # re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t * per_thread,)) for t in range(scale.pool_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    _report(report, f"{scale.pool_threads} threads", tally)
    assert not errors, errors[:3]
    assert tally.counts["requests"] == per_thread * scale.pool_threads
    assert len(tally.pids) == 2
    assert not tally.failures, tally.failures[:10]


def _report(report, mode: str, tally: Tally) -> None:
    c = tally.counts
    report.add("rls under pooling", f"{mode}, 2 connections", c["requests"], c["requests"] - len(tally.failures),
               len(tally.failures), f"cross-user rows {c['cross-user rows']}, missing {c['missing rows']}, "
               f"poison attempts {c['poison']}")
