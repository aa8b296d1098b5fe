"""The SQL corpus, twice: through the guard with a chatbot's policy (every hostile statement refused,
every legitimate one allowed), then with the guard switched off, straight against the database layer
(SqlExecutor as alice, read only, on one pooled connection): statements may fail, none may do harm.

Harm is measured from outside: a snapshot of everything a write could change before and after each
statement, the pooled session's identity and state after each statement, bob's rows and the server's
secrets in anything alice got back, notifications that reached another session, and wall time past
the statement timeout.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import pytest

from app.db.connect import authenticator_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import ExecutorUnavailable, QueryFailed, SqlExecutor
from app.sql.guard import AccessPolicy, SqlRefused, check_sql
from tests.redteam.sql_harm import (
    changes,
    leaked,
    session_changes,
    session_state,
    snapshot,
)

CORPUS = json.loads((Path(__file__).parent / "sql_corpus.json").read_text())
HOSTILE, LEGITIMATE, CONTAINED = CORPUS["hostile"], CORPUS["legitimate"], CORPUS["contained"]
# What the shop chatbots declare (tests/conftest.py TEST_CHATBOT, chatbots/sql-assistant).
CHATBOT_POLICY = AccessPolicy.from_config(["customers", "products", "orders", "order_items"], ["public"], ["SELECT"])
ALICE_CLAIMS = {"sub": ALICE, "role": "authenticated"}
TIMEOUT_MS = 500
# Wall time a statement may take beyond the timeout: the cancel round trip, the rollback, the reset.
OVERRUN_S = 3.0
REQUIRED_CATEGORIES = {
    "write", "ddl", "identity_session", "data_modifying_cte", "select_into", "locking", "dangerous_function",
    "copy_program", "multi_statement", "obfuscation", "cross_user", "catalog_secrets", "explain_analyze", "call_do",
    "prepared", "listen_notify", "transaction_control", "resource",
}
CHANNELS = ("redteam", "ch")


def test_the_corpus_is_large_and_covers_every_category():
    assert len(HOSTILE) >= 100 and len(LEGITIMATE) >= 30
    ids = [e["id"] for e in HOSTILE + LEGITIMATE + CONTAINED]
    assert len(ids) == len(set(ids))
    assert {e["category"] for e in HOSTILE} == REQUIRED_CATEGORIES
    assert all(e["why"] and e["sql"] for e in HOSTILE + LEGITIMATE + CONTAINED)


def test_the_guard_refuses_every_hostile_statement_and_allows_every_legitimate_one(report):
    by_category: dict[str, Counter] = defaultdict(Counter)
    failures = []
    for entry in HOSTILE:
        tally = by_category[entry["category"]]
        tally["cases"] += 1
        try:
            check_sql(entry["sql"], CHATBOT_POLICY)
        except SqlRefused:
            tally["refused"] += 1
        else:
            failures.append(f"{entry['id']} allowed: {entry['sql']!r}")
    for entry in LEGITIMATE + CONTAINED:
        tally = by_category["legitimate" if entry in LEGITIMATE else "contained (allowed on purpose)"]
        tally["cases"] += 1
        try:
            check_sql(entry["sql"], CHATBOT_POLICY)
            tally["refused"] += 1   # here: allowed as it should be
        except SqlRefused as exc:
            failures.append(f"{entry['id']} refused: {exc.reason}")
    for category, tally in sorted(by_category.items()):
        bad = tally["cases"] - tally["refused"]
        note = "allowed" if category.startswith(("legitimate", "contained")) else "refused"
        report.add("sql guard", category, tally["cases"], tally["refused"], bad, note)
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def one_connection_pool(database):
    """The production pool builder forced to one connection: every statement reuses the same session
    (or its replacement, when a statement left it unusable)."""
    pool = authenticator_pool(dataclasses.replace(database, db_pool_size=1))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def login_state(database) -> dict:
    with psycopg.connect(database.authenticator_url) as conn:
        return session_state(conn)


@pytest.fixture(scope="module")
def listener(database):
    """Another session, listening on the corpus's channels: a NOTIFY that escaped would reach it."""
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        for channel in CHANNELS:
            conn.execute(f"LISTEN {channel}")
        yield conn


def _secret_markers(settings) -> dict[str, str]:
    return {"authenticator password": settings.authenticator_password, "jwt secret": settings.jwt_secret,
            "encryption key": settings.encryption_key, "service key": settings.service_key,
            "provider key": settings.openai_api_key, "password hash": "SCRAM-SHA-256$"}


BOB_MARKERS = {"bob's id": BOB, "bob's email": "bob@example.com", "bob's name": "Bob Schneider",
               "bob's location": "52.52"}


def test_without_the_guard_the_database_layer_alone_lets_no_statement_do_harm(
        database, owner_conn, one_connection_pool, login_state, listener, report):
    executor = SqlExecutor(one_connection_pool, statement_timeout_ms=TIMEOUT_MS, max_rows=1000,
                           max_bytes=1 << 20, acquire_timeout_s=10)
    secrets = _secret_markers(database)
    harm = defaultdict(list)            # kind -> ["<id>: detail"]
    by_category: dict[str, Counter] = defaultdict(Counter)
    entries = [(e["category"], e) for e in HOSTILE] + [("contained", e) for e in CONTAINED] + \
        [("legitimate", e) for e in LEGITIMATE]
    for category, entry in entries:
        tally = by_category[category]
        tally["cases"] += 1
        before = snapshot(owner_conn)
        started = time.monotonic()
        result, error = None, None
        try:
            result = executor.run(entry["sql"], role="authenticated", claims=ALICE_CLAIMS)
        except (QueryFailed, ExecutorUnavailable) as exc:
            error = exc
        except Exception as exc:   # the executor's contract: only its two typed errors (or ValueError for bad role)
            harm["crash"].append(f"{entry['id']}: {type(exc).__name__}: {exc}")
        elapsed = time.monotonic() - started
        tally["ran" if result is not None else "stopped"] += 1
        found = []
        if elapsed > TIMEOUT_MS / 1000 + OVERRUN_S:
            found.append(("overrun", f"{elapsed:.1f} s"))
        written = changes(before, snapshot(owner_conn))
        if written:
            found.append(("write", ", ".join(written)))
        with one_connection_pool.connection() as conn:
            drift = session_changes(login_state, session_state(conn))
        if drift:
            found.append(("identity/session", "; ".join(drift)))
        payload = [result.rows, result.columns] if result is not None else str(getattr(error, "reason", error))
        for name in leaked(payload, BOB_MARKERS):
            found.append(("cross-user row", name))
        for name in leaked(payload, secrets):
            found.append(("secret", name))
        if category == "legitimate" and error is not None:
            found.append(("legitimate failed", str(error)))
        for kind, detail in found:
            harm[kind].append(f"{entry['id']}: {detail} ({entry['sql'][:80]!r})")
        tally["harmless"] += not found
    notified = [n.channel for n in listener.notifies(timeout=0.2, stop_after=10)]
    if notified:
        harm["notification"].append(f"delivered on {notified}")

    for category, tally in sorted(by_category.items()):
        report.add("sql, guard off", category, tally["cases"], tally["harmless"], tally["cases"] - tally["harmless"],
                   f"ran {tally['ran']}, stopped {tally['stopped']}")
    kinds = ("write", "identity/session", "cross-user row", "secret", "overrun", "notification", "crash",
             "legitimate failed")
    for kind in kinds:
        report.add("sql, guard off", f"harm: {kind}", len(entries), len(entries) - len(harm[kind]), len(harm[kind]))
    assert not any(harm.values()), "\n".join(f"{k}: {v}" for k, items in harm.items() for v in items)


def test_the_harm_detectors_see_harm(database, owner_conn, login_state):
    """The measures above would pass vacuously if they could not see harm: show each one firing."""
    before = snapshot(owner_conn)
    with owner_conn.transaction(force_rollback=True):
        owner_conn.execute("update public.products set stock = stock + 1 where id = 1")
        owner_conn.execute("select nextval('public.orders_id_seq')")
        assert {"public.products", "sequence public.orders_id_seq"} <= set(changes(before, snapshot(owner_conn)))
    with psycopg.connect(database.authenticator_url) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, false)", (json.dumps(ALICE_CLAIMS),))
        conn.execute("set role authenticated")
        conn.commit()
        drift = session_changes(login_state, session_state(conn))
    assert any(d.startswith("current_user") for d in drift) and any(d.startswith("claims") for d in drift)
    rows = owner_conn.execute("select * from public.customers").fetchall()
    assert leaked(rows, BOB_MARKERS) and leaked("x SCRAM-SHA-256$y", _secret_markers(database))
