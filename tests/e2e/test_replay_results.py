"""A large query result on resume: the socket that watched the turn got every row, a resume gets the
rows the replay buffer keeps (STREAM_REPLAY_RESULT_BYTES, 64 KiB by default), marked as such."""
import json

import redis

from tests.conftest import ALICE


def test_a_resume_gets_the_large_result_trimmed_and_marked(chat, llm, redis_server):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    sql = "SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 1000) g"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "many rows"}}])
    llm.reply_text("A thousand rows.")
    live = next(e for e in client.ask(conversation, "show me many rows") if e["type"] == "query_result")
    assert live["row_count"] == 1000 and len(live["data"]) == 1000 and "replay_truncated" not in live

    later = chat(ALICE)
    later.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=0)
    replayed = next(e for e in later.until_type("done") if e["type"] == "query_result")
    kept = replayed["rows_kept"]
    assert replayed["replay_truncated"] is True and replayed["truncated"] is True and replayed["row_count"] == 1000
    assert 0 < kept < 1000 and replayed["data"] == live["data"][:kept]
    assert len(json.dumps(replayed["data"], separators=(",", ":"))) <= 65536
    assert replayed["seq"] == live["seq"]

    stream = redis.Redis.from_url(redis_server.url).memory_usage(f"fluxbase:conv:{{{conversation}}}:events")
    assert stream < 100_000  # the 110 KB result is not kept whole
