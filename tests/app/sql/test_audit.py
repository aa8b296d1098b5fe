"""The SQL audit trail: every statement a turn ran or was refused, and whether the turn wrote data."""
import uuid

import psycopg

from app.sql.audit import record_audit, turn_wrote_data


def test_turn_wrote_data_reads_the_audit_trail(owner_conn):
    turn_id = str(uuid.uuid4())
    with psycopg.connect(owner_conn.info.dsn) as conn:
        assert not turn_wrote_data(conn, turn_id)
        record_audit(conn, chatbot_id=None, conversation_id=None, turn_id=turn_id, user_id=None,
                     user_role="authenticated", sql="select 1", verdict="executed", reason=None, row_count=1,
                     duration_ms=1.0, command="SELECT")
        assert not turn_wrote_data(conn, turn_id)
        record_audit(conn, chatbot_id=None, conversation_id=None, turn_id=turn_id, user_id=None,
                     user_role="authenticated", sql="insert ...", verdict="executed", reason=None, row_count=1,
                     duration_ms=1.0, command="INSERT")
        assert turn_wrote_data(conn, turn_id)
