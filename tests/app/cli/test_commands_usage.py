"""`fluxbase usage`, run as a user runs it, on the real database."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.processes import fluxbase

NAMESPACE = "usage-cli"


@pytest.fixture(scope="module")
def rows(database):
    """Today, 3 days ago and 10 days ago, for two users and anonymous callers of `usage-cli/bot`."""
    import psycopg

    alice, bob, chatbot_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    today = datetime.now(UTC).date()
    data = [(today, alice, 2, 100, 10, 0), (today, None, 1, 5, 1, 1), (today - timedelta(days=3), bob, 4, 400, 40, 0),
            (today - timedelta(days=10), alice, 8, 800, 80, 0)]
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        for day, user, requests, prompt, completion, estimated in data:
            conn.execute("""insert into ai.usage_daily (day, chatbot_id, user_key, user_id, namespace, chatbot,
                            requests, prompt_tokens, completion_tokens, estimated_requests)
                            values (%s, %s, coalesce(%s::text, 'anonymous'), %s, %s, 'bot', %s, %s, %s, %s)""",
                         (day, chatbot_id, user, user, NAMESPACE, requests, prompt, completion, estimated))
    return {"alice": alice, "bob": bob, "today": today.isoformat(), "three": (today - timedelta(days=3)).isoformat()}


def table_rows(stdout: str) -> list[list[str]]:
    """The table's heading and data lines, split into cells (rich draws them between ┃ and │)."""
    lines = [line.replace("┃", "│") for line in stdout.splitlines() if "│" in line or "┃" in line]
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in lines]


def test_a_table_of_the_last_seven_days_with_a_total(base_env, rows):
    done = fluxbase(base_env, "usage", "--chatbot", f"{NAMESPACE}/bot")
    assert done.returncode == 0, done.stderr
    cells = table_rows(done.stdout)
    assert cells[0] == ["day", "chatbot", "user", "requests", "prompt", "completion", "total"]
    body = {tuple(row[:3]): row[3:] for row in cells[1:]}
    assert body == {
        (rows["today"], f"{NAMESPACE}/bot", rows["alice"]): ["2", "100", "10", "110"],
        (rows["today"], f"{NAMESPACE}/bot", "anonymous"): ["1", "5", "1", "6 *"],
        (rows["three"], f"{NAMESPACE}/bot", rows["bob"]): ["4", "400", "40", "440"],
        ("total", "", ""): ["7", "505", "51", "556 *"],   # the row of 10 days ago is outside the 7 days
    }
    assert "last 7 days" in done.stdout and "estimated" in done.stdout


def test_filters_by_user_and_days(base_env, rows):
    done = fluxbase(base_env, "usage", "--chatbot", "bot", "--user", rows["alice"], "--days", "30")
    assert done.returncode == 0, done.stderr
    cells = table_rows(done.stdout)[1:]
    assert [row[3] for row in cells] == ["2", "8", "10"]
    only_today = fluxbase(base_env, "usage", "--chatbot", f"{NAMESPACE}/bot", "--days", "1", "--user", "anonymous")
    assert [row[:4] for row in table_rows(only_today.stdout)[1:]] == [
        [rows["today"], f"{NAMESPACE}/bot", "anonymous", "1"], ["total", "", "", "1"]]
    nothing = fluxbase(base_env, "usage", "--chatbot", f"{NAMESPACE}/bot", "--user", str(uuid.uuid4()))
    assert nothing.returncode == 0 and "no usage in the last 7 days" in nothing.stdout


@pytest.mark.parametrize("args, message", [
    (["--days", "0"], "--days: must be from 1 to"),
    (["--days", "week"], "--days: must be a whole number"),
    (["--user", "alice"], "--user: must be a user id (UUID) or 'anonymous'"),
    (["--chatbot", "Shop Bot"], "--chatbot: must be NAME or NAMESPACE/NAME"),
    (["--chatbot", "a/b/c"], "--chatbot: must be NAME or NAMESPACE/NAME"),
])
def test_bad_arguments_are_a_message_and_a_non_zero_exit(base_env, args, message):
    done = fluxbase(base_env, "usage", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
