"""The admin usage and audit endpoints through the Flask test client on a real database: filters,
paging, totals, validation (400, never 500) and the admin gate."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest

from app.auth.tokens import mint
from app.chatbots.sync_service import sync_payload
from tests.conftest import TEST_CHATBOT, TEST_SERVICE_KEY

USAGE = "/api/v1/admin/ai/usage"
AUDIT = "/api/v1/admin/ai/audit"
ADMIN = {"X-Service-Key": TEST_SERVICE_KEY}
NAMESPACE = "usage-api"
ROW_KEYS = {"day", "chatbot_id", "chatbot", "namespace", "user_id", "requests", "prompt_tokens", "completion_tokens",
            "total_tokens", "estimated", "estimated_requests", "cancelled", "errors", "updated_at"}
# Fluxbase's admin client reads these (AuditLogEntry in admin/src/lib/api/knowledge-bases.ts).
FLUXBASE_AUDIT_KEYS = {"id", "chatbot_id", "chatbot_name", "conversation_id", "user_id", "generated_sql", "executed",
                       "validation_passed", "success", "error_message", "rows_returned", "execution_duration_ms",
                       "created_at"}


def get(client, path, headers=ADMIN, **params):
    response = client.get(path, headers=headers, query_string=params)
    return response.status_code, response.get_json()


@pytest.fixture(scope="module")
def usage_rows(database):
    """Three days of one chatbot that exists and one that was deleted, two users and anonymous callers."""
    import psycopg

    code = TEST_CHATBOT.format(anon="true", max_turns=50, language="auto")
    report = sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "live", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    gone = str(uuid.uuid4())
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        live = conn.execute("select id::text from ai.chatbots where namespace = %s and name = 'live'",
                            (NAMESPACE,)).fetchone()[0]
        rows = [  # day, chatbot id, chatbot, user, requests, prompt, completion, estimated
            ("2024-03-01", live, "live", alice, 2, 100, 10, 0),
            ("2024-03-01", gone, "gone", alice, 1, 50, 5, 0),
            ("2024-03-02", live, "live", bob, 3, 300, 30, 1),
            ("2024-03-02", live, "live", None, 4, 40, 4, 0),
            ("2024-03-03", gone, "gone", bob, 5, 500, 50, 0),
        ]
        for day, chatbot_id, name, user, requests, prompt, completion, estimated in rows:
            conn.execute("""insert into ai.usage_daily (day, chatbot_id, user_key, user_id, namespace, chatbot,
                            requests, prompt_tokens, completion_tokens, estimated_requests)
                            values (%s, %s, coalesce(%s::text, 'anonymous'), %s, %s, %s, %s, %s, %s, %s)""",
                         (day, chatbot_id, user, user, NAMESPACE, name, requests, prompt, completion, estimated))
    return {"alice": alice, "bob": bob, "live_id": live, "gone_id": gone}


def days(body):
    return [(row["day"], row["chatbot"], row["user_id"]) for row in body["usage"]]


def test_usage_rows_newest_day_first_with_totals_of_everything_matched(client, usage_rows):
    status, body = get(client, USAGE, namespace=NAMESPACE)
    assert status == 200, body
    assert [r[:2] for r in days(body)] == [("2024-03-03", "gone"), ("2024-03-02", "live"), ("2024-03-02", "live"),
                                           ("2024-03-01", "gone"), ("2024-03-01", "live")]
    assert all(set(row) == ROW_KEYS for row in body["usage"])
    assert body["totals"] == {"requests": 15, "prompt_tokens": 990, "completion_tokens": 99, "total_tokens": 1089,
                              "estimated_requests": 1, "cancelled": 0, "errors": 0}
    assert (body["total"], body["has_more"], body["limit"], body["offset"]) == (5, False, 100, 0)
    bob_live = next(r for r in body["usage"] if r["user_id"] == usage_rows["bob"] and r["chatbot"] == "live")
    assert (bob_live["requests"], bob_live["total_tokens"], bob_live["estimated"]) == (3, 330, True)
    status, page = get(client, USAGE, namespace=NAMESPACE, limit=2, offset=2)
    assert days(page) == days(body)[2:4] and page["has_more"] is True and page["totals"] == body["totals"]


@pytest.mark.parametrize("params, expected", [
    ({"user_id": "alice"}, [("2024-03-01", "gone"), ("2024-03-01", "live")]),
    ({"user_id": "anonymous"}, [("2024-03-02", "live")]),
    ({"chatbot": "gone"}, [("2024-03-03", "gone"), ("2024-03-01", "gone")]),   # deleted: kept by name and id
    ({"chatbot_id": "gone_id"}, [("2024-03-03", "gone"), ("2024-03-01", "gone")]),
    ({"chatbot": "live", "user_id": "bob"}, [("2024-03-02", "live")]),
    ({"since": "2024-03-02", "until": "2024-03-02"}, [("2024-03-02", "live"), ("2024-03-02", "live")]),
    # A timestamp stands for its UTC day: 05:00 in Tokyo on the 2nd is still the 1st in UTC.
    ({"since": "2024-03-02T05:00:00+09:00", "until": "2024-03-01T23:59:59Z"},
     [("2024-03-01", "gone"), ("2024-03-01", "live")]),
    ({"since": "2024-03-03T00:00:00"}, [("2024-03-03", "gone")]),
    ({"until": "2023-12-31"}, []),
])
def test_usage_filters(client, usage_rows, params, expected):
    params = {key: usage_rows.get(value, value) for key, value in params.items()}
    status, body = get(client, USAGE, namespace=NAMESPACE, **params)
    assert status == 200, body
    assert [r[:2] for r in days(body)] == expected
    assert body["totals"]["requests"] == sum(row["requests"] for row in body["usage"])


@pytest.mark.parametrize("path, params, field", [
    (USAGE, {"chatbot_name": "x"}, "chatbot_name"),
    (USAGE, {"user_id": "not-a-uuid"}, "user_id"),
    (USAGE, {"chatbot_id": "42"}, "chatbot_id"),
    (USAGE, {"chatbot": "Not A Name"}, "chatbot"),
    (USAGE, {"namespace": "x" * 64}, "namespace"),
    (USAGE, {"since": "yesterday"}, "since"),
    (USAGE, {"since": "2024-02-30"}, "since"),
    (USAGE, {"until": "0001-01-01T00:00:00+01:00"}, "until"),
    (USAGE, {"since": "2024-03-02", "until": "2024-03-01"}, "since"),
    (USAGE, {"limit": "0"}, "limit"),
    (USAGE, {"limit": "1001"}, "limit"),
    (USAGE, {"limit": "ten"}, "limit"),
    (USAGE, {"offset": "-1"}, "offset"),
    (USAGE, {"offset": "99999999999999999999"}, "offset"),
    (USAGE, {"user_id": ["anonymous", "anonymous"]}, "user_id"),
    (AUDIT, {"verdict": "maybe"}, "verdict"),
    (AUDIT, {"verdict": "executed,"}, "verdict"),
    (AUDIT, {"success": "yes"}, "success"),
    (AUDIT, {"conversation_id": "x"}, "conversation_id"),
    (AUDIT, {"until": "2024-13-01"}, "until"),
    (AUDIT, {"chatbot": "shop"}, "chatbot"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, path, params, field):
    status, body = get(client, path, **params)
    assert status == 400, body
    assert body["code"] == "INVALID_REQUEST" and body["field"] == field and field in body["error"]


@pytest.mark.parametrize("path", [USAGE, AUDIT])
def test_admins_only(database, client, path):
    assert get(client, path, headers={})[0] == 401
    user = mint(database.jwt_secret, role="authenticated", user_id=str(uuid.uuid4()))
    status, body = get(client, path, headers={"Authorization": f"Bearer {user}"})
    assert (status, body["code"]) == (403, "FORBIDDEN")
    anon = mint(database.jwt_secret, role="anon")
    assert get(client, path, headers={"Authorization": f"Bearer {anon}"})[0] == 403
    assert get(client, path, headers={"X-Service-Key": "wrong-" + TEST_SERVICE_KEY})[0] == 401
    admin = jwt.encode({"role": "admin", "sub": str(uuid.uuid4()), "exp": int(time.time()) + 60},
                       database.jwt_secret, algorithm="HS256")
    assert get(client, path, headers={"Authorization": f"Bearer {admin}"})[0] == 200
    assert get(client, path, headers={"Authorization": f"Bearer {TEST_SERVICE_KEY}"})[0] == 200


@pytest.fixture(scope="module")
def audit_rows(database, usage_rows):
    """Statements of one live and one deleted chatbot, by two users and an anonymous caller, over three hours."""
    import psycopg

    alice, bob = usage_rows["alice"], usage_rows["bob"]
    live, gone = usage_rows["live_id"], usage_rows["gone_id"]
    conversation = str(uuid.uuid4())
    rows = [  # chatbot, user, verdict, sql, reason, rows, created_at
        (live, alice, "executed", "SELECT 1", None, 1, "2024-03-01T10:00:00Z"),
        (live, alice, "refused", "DROP TABLE orders", "Operation not allowed: DROP", None, "2024-03-01T11:00:00Z"),
        (live, bob, "failed", "SELECT nope", "column does not exist", None, "2024-03-01T12:00:00Z"),
        (live, None, "executed", "SELECT 2", None, 1, "2024-03-01T12:30:00Z"),
        (gone, bob, "executed", "SELECT 3", None, 7, "2024-03-02T09:00:00Z"),
    ]
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        for chatbot_id, user, verdict, sql, reason, count, at in rows:
            conn.execute("""insert into ai.sql_audit (chatbot_id, conversation_id, user_id, user_role, sql, verdict,
                            reason, row_count, duration_ms, command, created_at)
                            values (%s, %s, %s, %s, %s, %s, %s, %s, 2.5, 'SELECT', %s)""",
                         (chatbot_id, conversation, user, "authenticated" if user else "anon", sql, verdict, reason,
                          count, at))
    return {**usage_rows, "conversation": conversation}


def sqls(body):
    return [entry["sql"] for entry in body["entries"]]


def test_audit_entries_newest_first_in_our_shape_and_fluxbases(client, audit_rows):
    status, body = get(client, AUDIT, conversation_id=audit_rows["conversation"])
    assert status == 200, body
    assert sqls(body) == ["SELECT 3", "SELECT 2", "SELECT nope", "DROP TABLE orders", "SELECT 1"]
    assert (body["total"], body["total_count"], body["has_more"]) == (5, 5, False)
    refused = body["entries"][3]
    assert FLUXBASE_AUDIT_KEYS <= set(refused)
    assert (refused["verdict"], refused["reason"], refused["chatbot"], refused["namespace"]) == \
           ("refused", "Operation not allowed: DROP", "live", NAMESPACE)
    assert (refused["executed"], refused["success"], refused["error_message"], refused["generated_sql"]) == \
           (False, False, "Operation not allowed: DROP", "DROP TABLE orders")
    ran = body["entries"][0]
    assert (ran["chatbot"], ran["chatbot_id"], ran["success"], ran["rows_returned"], ran["duration_ms"]) == \
           (None, audit_rows["gone_id"], True, 7, 2.5)
    status, page = get(client, AUDIT, conversation_id=audit_rows["conversation"], limit=2, offset=1)
    assert sqls(page) == ["SELECT 2", "SELECT nope"] and page["has_more"] is True and page["total"] == 5


@pytest.mark.parametrize("params, expected", [
    ({"verdict": "refused"}, ["DROP TABLE orders"]),
    ({"verdict": "refused,failed"}, ["SELECT nope", "DROP TABLE orders"]),
    ({"success": "true"}, ["SELECT 3", "SELECT 2", "SELECT 1"]),
    ({"success": "false", "verdict": "failed"}, ["SELECT nope"]),
    ({"success": "true", "verdict": "failed"}, []),
    ({"chatbot_id": "gone_id"}, ["SELECT 3"]),
    ({"user_id": "alice"}, ["DROP TABLE orders", "SELECT 1"]),
    ({"user_id": "anonymous"}, ["SELECT 2"]),
    ({"user_id": "bob", "chatbot_id": "live_id"}, ["SELECT nope"]),
    ({"since": "2024-03-01T11:00:00Z", "until": "2024-03-01T12:00:00Z"}, ["SELECT nope", "DROP TABLE orders"]),
    ({"until": "2024-03-01"}, ["SELECT 2", "SELECT nope", "DROP TABLE orders", "SELECT 1"]),   # the whole day
    ({"since": "2024-03-02"}, ["SELECT 3"]),
    ({"since": "2024-03-01T13:00:00+01:00", "until": "2024-03-01T12:00:00"}, ["SELECT nope"]),
])
def test_audit_filters(client, audit_rows, params, expected):
    params = {key: audit_rows.get(value, value) for key, value in params.items()}
    status, body = get(client, AUDIT, conversation_id=audit_rows["conversation"], **params)
    assert status == 200, body
    assert sqls(body) == expected and body["total"] == len(expected)


def test_audit_entries_carry_the_sql_laid_out_for_reading_and_the_exact_statement(client, database, usage_rows):
    import psycopg

    conversation = str(uuid.uuid4())
    sql = "select c.name, count(o.id) as n from customers c join orders o on o.customer_id = c.id group by c.name"
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute("""insert into ai.sql_audit (chatbot_id, conversation_id, user_id, user_role, sql, verdict,
                        row_count, duration_ms, command) values (%s, %s, %s, 'authenticated', %s, 'executed', 2, 1,
                        'SELECT')""", (usage_rows["live_id"], conversation, usage_rows["alice"], sql))
    status, body = get(client, AUDIT, conversation_id=conversation)
    assert status == 200, body
    [entry] = body["entries"]
    assert entry["sql"] == entry["generated_sql"] == sql
    assert entry["sql_pretty"].splitlines() == [
        "SELECT c.name,", "       count(o.id) AS n", "FROM customers c", "JOIN orders o ON o.customer_id = c.id",
        "GROUP BY c.name"]
