"""The daily usage rollup as turns close, on the real database: counted once, kept after deletions."""
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from app.chat import conversations, turns, usage
from app.chat.records import Closing, UnfinishedTurn
from app.chatbots import repository as chatbots
from app.chatbots.sync_service import sync_payload
from tests.conftest import TEST_CHATBOT

NAMESPACE = "usage-repo"


@pytest.fixture(scope="module")
def bots(database):
    code = TEST_CHATBOT.format(anon="true", max_turns=50, language="auto")
    report = sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "kept", "code": code},
                                                                   {"name": "doomed", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return NAMESPACE


@pytest.fixture
def conn(database, bots):
    with psycopg.connect(database.database_url, row_factory=dict_row) as connection:
        yield connection


def a_turn(conn, bot: str, user_id: str | None):
    chatbot = chatbots.load_enabled(conn, NAMESPACE, bot)
    conversation = conversations.create_conversation(conn, chatbot_id=chatbot.id, user_id=user_id,
                                                     user_role="authenticated" if user_id else "anon", ttl_hours=1)
    turn = conversations.start_turn(conn, conversation.id, "a question", max_turns=10)
    conn.commit()
    return chatbot, conversation, turn


def close(conn, turn, status="done", prompt=10, completion=5, estimated=False):
    with conn.transaction():
        return turns.close_turn(conn, turn, status=status, error_code="PROVIDER_ERROR" if status == "error" else None,
                                prompt_tokens=prompt, completion_tokens=completion, usage_estimated=estimated)


def report(conn, **where):
    return usage.usage_report(conn, usage.UsageFilter(**where), limit=100)


def test_each_closed_turn_counts_once_whatever_its_ending(conn):
    user = str(uuid.uuid4())
    endings = [("done", 100, 20, False), ("done", 7, 3, True), ("cancelled", 50, 4, False), ("error", 30, 0, False)]
    for status, prompt, completion, estimated in endings:
        _, _, turn = a_turn(conn, "kept", user)
        assert close(conn, turn, status, prompt, completion, estimated) is Closing.CLOSED
        # Redelivered (or raced by another attempt): the second close changes nothing and counts nothing.
        assert close(conn, turn, status, prompt, completion, estimated) is Closing.TAKEN
    (row,) = report(conn, user_key=user).rows
    assert (row.namespace, row.chatbot, row.user_id) == (NAMESPACE, "kept", user)
    assert (row.requests, row.cancelled, row.errors, row.estimated_requests) == (4, 1, 1, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (187, 27, 214)
    finished = conn.execute("select distinct (finished_at at time zone 'UTC')::date as day from ai.turns t "
                            "join ai.conversations c on c.id = t.conversation_id where c.user_id = %s",
                            (user,)).fetchall()
    assert [r["day"] for r in finished] == [row.day]


def test_anonymous_callers_share_one_row_per_chatbot_and_day(conn):
    before = report(conn, namespace=NAMESPACE, chatbot="kept", user_key=usage.ANONYMOUS).totals
    for _ in range(2):
        _, _, turn = a_turn(conn, "kept", None)
        close(conn, turn, prompt=4, completion=1)
    after = report(conn, namespace=NAMESPACE, chatbot="kept", user_key=usage.ANONYMOUS)
    assert after.totals.rows == 1 and after.rows[0].user_id is None
    assert (after.totals.requests - before.requests, after.totals.total_tokens - before.total_tokens) == (2, 10)


def test_usage_outlives_its_conversation_and_its_chatbot(conn, database):
    user = str(uuid.uuid4())
    chatbot, conversation, turn = a_turn(conn, "doomed", user)
    close(conn, turn, prompt=9, completion=1)
    conn.execute("delete from ai.conversations where id = %s", (conversation.id,))
    conn.commit()
    assert report(conn, user_key=user).totals.requests == 1
    assert chatbots.delete(conn, chatbot.id)
    conn.commit()
    for where in ({"user_key": user}, {"chatbot_id": chatbot.id}, {"namespace": NAMESPACE, "chatbot": "doomed"}):
        rows = report(conn, **where).rows
        assert [(r.chatbot_id, r.namespace, r.chatbot, r.total_tokens) for r in rows] == \
               [(chatbot.id, NAMESPACE, "doomed", 10)], where


def test_a_turn_housekeeping_gives_up_on_is_a_request_without_tokens(conn):
    user = str(uuid.uuid4())
    _, conversation, turn = a_turn(conn, "kept", user)
    unfinished = UnfinishedTurn(turn.id, conversation.id, turn.assistant_message_id, 3, "queued")
    with conn.transaction():
        assert turns.abandon_turn(conn, unfinished)
    with conn.transaction():
        assert not turns.abandon_turn(conn, unfinished)
    (row,) = report(conn, user_key=user).rows
    assert (row.requests, row.errors, row.total_tokens) == (1, 1, 0)


def test_filters_paging_and_totals(conn):
    users = [str(uuid.uuid4()) for _ in range(3)]
    for index, user in enumerate(users):
        _, _, turn = a_turn(conn, "kept", user)
        close(conn, turn, prompt=index + 1, completion=0)
    everyone = usage.UsageFilter(namespace=NAMESPACE, chatbot="kept")
    page = usage.usage_report(conn, everyone, limit=1, offset=0)
    assert len(page.rows) == 1 and page.totals.rows >= 3
    day = page.rows[0].day
    assert report(conn, user_key=users[2], since=day, until=day).totals.total_tokens == 3
    assert report(conn, user_key=users[2], until=day.replace(year=day.year - 1)).totals.rows == 0
    assert report(conn, chatbot_id=str(uuid.uuid4())).totals.rows == 0


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_end_users_cannot_read_usage(database, role):
    from tests.support.database import as_user

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(database, role, {"sub": str(uuid.uuid4()), "role": role}, "select * from ai.usage_daily")


def test_the_migrations_backfill_counts_what_closing_counts(conn):
    """Migration 0011 adds the turns that finished before it; its statement gives the same row."""
    from app.db.migrate import available

    migration = next(m for m in available() if m.version == "0011").sql
    start = migration.index("INSERT INTO ai.usage_daily")
    backfill = migration[start:migration.index(";", start)]
    user = str(uuid.uuid4())
    for status, prompt, completion in (("done", 12, 3), ("cancelled", 5, 0), ("error", 8, 1)):
        _, _, turn = a_turn(conn, "kept", user)
        close(conn, turn, status, prompt, completion, estimated=status == "done")
    fields = ("day", "chatbot_id", "namespace", "chatbot", "user_id", "requests", "cancelled", "errors",
              "prompt_tokens", "completion_tokens", "total_tokens", "estimated_requests")
    live = [{k: getattr(r, k) for k in fields} for r in report(conn, user_key=user).rows]
    try:
        conn.execute("delete from ai.usage_daily where user_key = %s", (user,))
        conn.execute(backfill)
        again = [{k: getattr(r, k) for k in fields} for r in report(conn, user_key=user).rows]
    finally:
        conn.rollback()
    assert again == live and live[0]["requests"] == 3


def test_concurrent_closes_of_one_user_all_count(conn, database):
    """Ten turns of one user closing at once, each in its own conversation: one row, ten requests."""
    import threading

    user = str(uuid.uuid4())
    started = [a_turn(conn, "kept", user)[2] for _ in range(10)]
    barrier, errors = threading.Barrier(len(started)), []

    def close_one(turn):
        try:
            with psycopg.connect(database.database_url, row_factory=dict_row) as own:
                barrier.wait(10)
                assert close(own, turn, prompt=3, completion=2) is Closing.CLOSED
        except Exception as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=close_one, args=(turn,)) for turn in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    (row,) = report(conn, user_key=user).rows
    assert (row.requests, row.total_tokens) == (10, 50)
