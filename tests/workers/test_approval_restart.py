"""A turn's new attempt after its worker died while waiting for an approval (docs/approval.md): the
approvals the lost attempt left pending are expired, and the client, which was shown them, is told so
with `approval_result` `expired`, so it stops offering an answer that can only fail."""
from __future__ import annotations

import redis
from psycopg_pool import ConnectionPool

from app.approvals import store
from tests.conftest import ALICE
from tests.support.conversations import connect, make_conversation, sync_bots
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
