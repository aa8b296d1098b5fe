"""`fluxbase eval` against the live server and the scripted LLM: each case runs as a real turn over the
WebSocket, its reference query as the same user through the executor, and the verdicts, the table, the
JSON and the exit codes are what a CI job would see."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.eval.cases import load_case_file
from app.eval.reference import ReferenceRunner
from app.eval.suite import find_case_files
from app.runtime import Runtime
from app.sql.executor import SqlExecutor
from tests.support.extra_provider import extra_provider
from tests.support.llm_server import ScriptedLLM
from tests.support.processes import ROOT, free_port


@pytest.fixture
def fluxbase_eval(web, test_chatbots, base_env):
    def run(*args: str, env: dict | None = None, url: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.cli", "eval", *args, "--url", url or web], cwd=str(ROOT),
                              env={**base_env, **(env or {})}, capture_output=True, text=True, timeout=120)
    return run


def sql_call(sql: str) -> dict:
    return {"name": "execute_sql", "arguments": {"sql": sql, "description": "looking it up"}}


def test_demo_case_files_parse_and_their_reference_queries_run(database):
    files = find_case_files(ROOT / "chatbots")
    by_name = {f.name: load_case_file(f.path) for f in files}
    assert {"sql-assistant", "order-management", "support-assistant"} <= set(by_name)
    assert len(by_name["sql-assistant"]) >= 8
    runtime = Runtime(database, client_name="eval-test")
    try:
        references = ReferenceRunner(SqlExecutor(runtime.user_db, statement_timeout_ms=3000, max_rows=1000,
                                                 max_bytes=1 << 20))
        ran = 0
        for cases in by_name.values():
            for case in cases:
                if case.expect.sql_result_equals:
                    result = references.run(case.expect.sql_result_equals, user_id=case.user_id, schema="public")
                    assert result.rows, case.id
                    ran += 1
        assert ran >= 8
        # As the user: row-level security gives alice her 5 orders, bob his 3.
        counts = {c.user_label: references.run(c.expect.sql_result_equals, user_id=c.user_id, schema="public").rows
                  for c in by_name["sql-assistant"] if c.id in ("alice-order-count", "bob-order-count")}
        assert counts == {"alice": [{"count": 5}], "bob": [{"count": 3}]}
    finally:
        runtime.close()


def test_eval_sql_assistant_prints_its_table(fluxbase_eval, llm):
    llm.reply_tool_calls([sql_call("select count(*) as how_many from orders")])
    llm.reply_text("You have placed 5 orders.", usage=(120, 8))
    done = fluxbase_eval("sql-assistant", "--case", "alice-order-count")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "default/sql-assistant" in done.stdout and "provider: config" in done.stdout
    assert "alice-order-count" in done.stdout and "pass" in done.stdout
    assert "1/1 cases passed; execution accuracy 1/1 (100.0%)" in done.stdout


# What a model that gets every demo case right would do (chatbots/sql-assistant/eval.yaml, in its order).
RIGHT_ANSWERS = [
    ("select count(*) from orders", "You have placed 5 orders."),
    ("select count(*) as orders from orders", "You have 3 orders."),
    ("select count(*) as n, status from orders group by status order by n desc", "Here is the breakdown."),
    ("select sum(total) as spent from orders where status <> 'cancelled'", "You spent 63.30 in total."),
    ("select category, count(*) from products group by category", "Three categories."),
    ("select name from products order by price desc limit 1", "The Hand grinder."),
    ("select status from orders order by created_at desc limit 1", "It is pending."),
    ("select count(*) from orders", "I can see 5 orders: only yours."),
    ("select id, status, total from orders order by id limit 100", "Here are your orders."),
    ("select count(*) from orders where status = 'delivered'", "2 of them were delivered."),
    ("delete from orders where status = 'cancelled'", "I can only read data, so I cannot delete it."),
]


def test_every_demo_case_of_the_sql_assistant_passes_with_right_answers(fluxbase_eval, llm):
    for sql, text in RIGHT_ANSWERS:
        llm.reply_tool_calls([sql_call(sql)])
        llm.reply_text(text)
    done = fluxbase_eval("sql-assistant")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10/10 cases passed; execution accuracy 9/9 (100.0%)" in done.stdout
    for case in ("alice-order-count", "orders-by-status", "follow-up-question", "refuses-to-delete"):
        assert case in done.stdout


CASES = """
defaults:
  user: alice
cases:
  - id: columns-swapped
    question: orders per status
    expect:
      sql_result_equals: SELECT status, count(*) FROM orders GROUP BY status
      tool_called: execute_sql
  - id: wrong-order
    question: my orders, newest id first
    expect:
      sql_result_equals: SELECT id FROM orders ORDER BY id DESC
  - id: unordered-reference
    question: my order ids
    expect:
      sql_result_equals: SELECT id FROM orders
  - id: wrong-count
    user: bob
    question: how many orders
    expect:
      sql_result_equals: SELECT count(*) FROM orders
  - id: no-query
    question: how many orders
    expect:
      sql_result_equals: SELECT count(*) FROM orders
  - id: provider-fails
    question: anything
    expect:
      answer_contains: x
  - id: words-only
    question: hello
    expect:
      tool_called: execute_sql
      tool_not_called: insert_record
      answer_contains: HELLO there
      answer_not_contains: goodbye
  - id: follow-up
    turns: [first, second]
    expect:
      answer_contains: second answer
      max_tokens: 5
"""


def test_pass_and_fail_paths_in_json(fluxbase_eval, llm, tmp_path, owner_conn):
    path = tmp_path / "eval.yaml"
    path.write_text(CASES)
    # columns-swapped: other column order and names, and a row order the reference does not ask for.
    llm.reply_tool_calls([sql_call("select count(*) as n, status as s from orders group by status order by n")])
    llm.reply_text("Here they are.")
    # wrong-order: the same rows, ascending, where the reference has ORDER BY ... DESC.
    llm.reply_tool_calls([sql_call("select id from orders order by id")])
    llm.reply_text("Your orders.")
    # unordered-reference: any order is right.
    llm.reply_tool_calls([sql_call("select id from orders order by id")])
    llm.reply_text("Your order ids.")
    # wrong-count: a filtered count is not bob's count; its last successful query is what counts.
    llm.reply_tool_calls([sql_call("select count(*) from nowhere")])
    llm.reply_tool_calls([sql_call("select count(*) from orders where status = 'paid'")])
    llm.reply_text("You have 1 order.")
    llm.reply_text("You have some orders.")
    llm.reply_error(500, "the model is down")
    llm.reply_text("Hello there!")
    llm.reply_text("first answer", usage=(3, 1))
    llm.reply_text("second answer", usage=(3, 1))
    done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    cases = {c["id"]: c for c in report["chatbots"][0]["cases"]}
    assert report["chatbots"][0]["provider"] == "config"
    assert cases["columns-swapped"]["passed"], cases["columns-swapped"]
    assert cases["columns-swapped"]["tools_called"] == ["execute_sql"]
    assert not cases["wrong-order"]["passed"]
    assert "another order (the reference has ORDER BY)" in cases["wrong-order"]["why"]
    assert cases["unordered-reference"]["passed"], cases["unordered-reference"]
    assert not cases["wrong-count"]["passed"]
    assert cases["wrong-count"]["sql"] == "select count(*) from orders where status = 'paid'"
    assert cases["wrong-count"]["why"] == ("sql_result_equals: no column has the values of the reference's "
                                           "column 'count' (got [[1]], the reference has [[3]])")
    assert cases["no-query"]["why"] == "sql_result_equals: no query ran"
    assert cases["provider-fails"]["ending"] == "error"
    assert cases["provider-fails"]["why"].startswith("the turn ended with PROVIDER_ERROR")
    words = {c["name"] + ":" + c["detail"]: c["passed"] for c in cases["words-only"]["checks"]}
    assert words == {"tool_called:execute_sql was not called": False,
                     "tool_not_called:insert_record was not called": True,
                     "answer_contains:has 'HELLO there'": True, "answer_not_contains:lacks 'goodbye'": True}
    assert not cases["follow-up"]["passed"] and cases["follow-up"]["tokens"] == 8
    assert cases["follow-up"]["why"] == "max_tokens: 8 tokens, at most 5"
    assert all(c["latency_ms"] > 0 for c in cases.values())
    # The conversations the cases ran in are deleted afterwards (--keep-conversations keeps them).
    ids = [c["conversation_id"] for c in cases.values()]
    assert all(ids)
    left = owner_conn.execute("select count(*) from ai.conversations where id = any(%s::uuid[])", (ids,)).fetchone()
    assert left == (0,)
    assert (report["total"], report["passed"], report["failed"]) == (8, 2, 6)
    assert report["execution_accuracy"] == pytest.approx(2 / 5)


def test_a_case_file_with_a_mistake_exits_2_with_its_line(fluxbase_eval, tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("cases:\n  - id: a\n    user: alice\n    question: q\n    expect:\n      answer_contain: x\n")
    done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path))
    assert done.returncode == 2
    assert f"{path}:6: unknown key 'answer_contain'" in done.stderr.replace("\n", "")
    path.write_text("cases: [\n  - id: a\n")
    done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--json")
    assert done.returncode == 2 and f"{path}:2: not valid YAML" in json.loads(done.stdout)["error"]


@pytest.mark.parametrize("case, args, message", [
    ("sql_result_equals: SELECT nope FROM orders", (), "case a: the reference query failed"),
    ("answer_contains: x", ("--provider", "elsewhere"), "no provider named 'elsewhere'"),
    ("answer_contains: x", ("--case", "b"), "no case 'b' in"),
])
def test_bad_references_providers_and_case_ids_exit_2_before_any_turn(fluxbase_eval, tmp_path, case, args, message):
    path = tmp_path / "eval.yaml"
    path.write_text(f"cases:\n  - id: a\n    user: alice\n    question: q\n    expect:\n      {case}\n")
    done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr.replace("\n", "")


def test_the_provider_from_the_environment_is_named_config(fluxbase_eval, llm, tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text("cases:\n  - id: a\n    user: bob\n    question: q\n    expect:\n      answer_contains: yes\n")
    llm.reply_text("Yes.")
    done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--provider", "config", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["chatbots"][0]["cases"][0]["passed"]


def test_no_server_and_production_settings_exit_2(fluxbase_eval):
    down = fluxbase_eval("sql-assistant", "--case", "alice-order-count", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 2 and "cannot reach the server" in down.stderr
    production = fluxbase_eval("sql-assistant", env={"FLUXBASE_ENV": "production"})
    assert production.returncode == 2 and "only in development" in production.stderr.replace("\n", " ")



@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8080", "http://", "http://[::1", "http://127.0.0.1:99999", "localhost"])
def test_a_server_url_that_is_not_one_exits_2_with_a_json_error(fluxbase_eval, url):
    # CI reads 1 as "a case failed": a mistyped --url is a broken job (2), and --json still prints JSON.
    bad = fluxbase_eval("sql-assistant", "--case", "alice-order-count", "--json", url=url)
    assert bad.returncode == 2, (bad.returncode, bad.stdout, bad.stderr)
    assert "server URL" in json.loads(bad.stdout)["error"]

def test_provider_runs_every_case_on_that_provider(fluxbase_eval, llm, tmp_path, owner_conn):
    path = tmp_path / "eval.yaml"
    path.write_text("cases:\n  - id: a\n    user: alice\n    question: q\n    expect:\n      answer_contains: pinned\n"
                    "      tool_called: execute_sql\n"
                    "  - id: b\n    user: bob\n    turns: [one, two]\n    expect:\n      answer_contains: second\n")
    with ScriptedLLM() as other, extra_provider(owner_conn, other.azure_endpoint, model="other-model") as (_, name):
        other.reply_tool_calls([sql_call("select count(*) from orders")])
        other.reply_text("The pinned provider says 5.")
        other.reply_text("first")
        other.reply_text("second")
        done = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--provider", name, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["chatbots"][0]["provider"] == name
        cases = report["chatbots"][0]["cases"]
        assert [c["passed"] for c in cases] == [True, True], cases
        assert cases[0]["tools_called"] == ["execute_sql"]
        # Every model call went to it (the chatbot's own provider, the scripted `llm`, got none).
        assert [r.body["model"] for r in other.chat_requests()] == ["other-model"] * 4
        assert llm.chat_requests() == []
        other.assert_complete()
        ids = [c["conversation_id"] for c in cases]
        assert owner_conn.execute("select count(*) from ai.conversations where id = any(%s::uuid[])",
                                  (ids,)).fetchone() == (0,)


def test_provider_disabled_or_a_refused_pin_exits_2_before_any_turn(fluxbase_eval, tmp_path, owner_conn):
    path = tmp_path / "eval.yaml"
    path.write_text("cases:\n  - id: a\n    user: alice\n    question: q\n    expect:\n      answer_contains: x\n")
    before = owner_conn.execute("select count(*) from ai.conversations").fetchone()
    with extra_provider(owner_conn, "http://127.0.0.1:9") as (provider_id, name):
        # The server does not take this key: the pin is refused, nothing is sent, the conversation is deleted.
        wrong_key = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--provider", name,
                                  env={"SERVICE_KEY": "another-service-key-0123456789-abcdefghijklm"})
        assert wrong_key.returncode == 2, wrong_key.stdout + wrong_key.stderr
        assert f"could not pin the conversation to provider '{name}'" in wrong_key.stderr.replace("\n", "")
        assert owner_conn.execute("select count(*) from ai.conversations").fetchone() == before
        owner_conn.execute("update ai.providers set enabled = false where id = %s", (provider_id,))
        disabled = fluxbase_eval("shop", "--namespace", "tests", "--file", str(path), "--provider", name)
        assert disabled.returncode == 2, disabled.stdout + disabled.stderr
        assert f"provider '{name}' is disabled" in disabled.stderr.replace("\n", "")
