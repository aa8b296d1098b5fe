"""The approval step (workers/approval_gate.py, docs/approval.md) in the cases a turn does not show:
a new attempt after the worker died while waiting tells the client the lost attempt's approvals
expired, and a call previewed only by its arguments that lacks a required one is not offered."""
from __future__ import annotations

import redis
from psycopg_pool import ConnectionPool

from app.approvals import store
from tests.conftest import ALICE
from tests.support.conversations import connect, make_conversation, sync_bots
from tests.support.tools import make_context
from workers.approval_gate import ApprovalGate
from workers.cancellation import TurnCancellation


def test_a_new_attempt_closes_the_lost_attempts_pending_approvals_on_the_stream(database):
    bots = sync_bots(database)
    made = make_conversation(database, bots["keep"], ALICE, open_turn="Cancel my order")
    turn_id = made.turn_ids[-1]
    with connect(database) as conn:
        lost = store.create(conn, conversation_id=made.id, turn_id=turn_id, tool="execute_sql",
                            arguments={"sql": "UPDATE orders SET status = 'cancelled'"}, statement=None,
                            preview=None, expires_in_seconds=300)
        decided = store.create(conn, conversation_id=made.id, turn_id=turn_id, tool="execute_sql",
                               arguments={"sql": "UPDATE orders SET status = 'paid'"}, statement=None,
                               preview=None, expires_in_seconds=300)
        conn.execute("update ai.approvals set status = 'denied', decided_at = now() where id = %s", (decided.id,))
        conn.commit()
    events: list[dict] = []
    with ConnectionPool(database.database_url, min_size=1, max_size=1, open=True) as pool:
        gate = ApprovalGate(db=pool, redis_client=redis.Redis.from_url(database.redis_url), force_ask_writes=False,
                            timeout_seconds=300, emit=events.append, cancellation=TurnCancellation())
        gate.expire_earlier_attempts(turn_id)
    assert [(e["type"], e["approval_id"], e["decision"]) for e in events] == [
        ("approval_result", lost.id, "expired")]
    with connect(database) as conn:
        rows = conn.execute("select id::text as id, status from ai.approvals where turn_id = %s", (turn_id,))
        statuses = {row["id"]: row["status"] for row in rows}
    assert statuses == {lost.id: "expired", decided.id: "denied"}


def test_a_call_missing_a_required_argument_is_refused_without_asking():
    events: list[dict] = []
    cancellation = TurnCancellation()
    # db and redis are never touched: the call is refused before an approval exists, or (the control)
    # the turn has no waiting time left, which is answered before one is stored.
    gate = ApprovalGate(db=None, redis_client=None, force_ask_writes=True, timeout_seconds=1, emit=events.append,
                        cancellation=cancellation, required=lambda tool: ("job_name",))
    ctx = make_context(events.append, cancellation.token)
    text = gate("submit_job", {"payload": {"order": 1}}, ctx)
    assert text.startswith("Error: `job_name` is required for submit_job") and "nothing was run" in text
    assert [(e["type"], e["tool"]) for e in events] == [("tool_result", "submit_job")]
    events.clear()
    control = gate("submit_job", {"job_name": "demo.order_summary", "payload": {}}, ctx)
    assert "needs the user's approval" in control and not events
