"""execute_sql through the registry, with fake services: it runs as the end user, is audited, and the
model reads a sample while the client gets the rows."""
import contextlib
from types import SimpleNamespace

from app import protocol
from app.sql.results import QueryResult
from app.tools.base import ToolServices
from app.tools.registry import default_registry
from tests.support.tools import make_context
from workers.cancellation import TurnCancellation


class FakeExecutor:
    def __init__(self, result):
        self.result = result
        self.calls = []

    def run(self, sql, **kwargs):
        self.calls.append((sql, kwargs))
        return self.result


class FakeAuditPool:
    def __init__(self):
        self.entries = []

    @contextlib.contextmanager
    def connection(self):
        yield SimpleNamespace(execute=lambda query, params: self.entries.append(params))


SHOP = {"allowed_operations": ["SELECT"], "allowed_tables": ["orders"], "allowed_schemas": ["public"]}


def run_execute_sql(arguments: str, result=None):
    executor, audit, events = FakeExecutor(result), FakeAuditPool(), []
    services = ToolServices(settings=SimpleNamespace(model_sample_rows=1), sql=executor, db=audit)
    cancellation = TurnCancellation()
    ctx = make_context(events.append, cancellation.token, config=SHOP, services=services)
    text = default_registry().invoke("execute_sql", arguments, ctx, {"execute_sql"})
    return text, events, executor.calls, audit.entries, cancellation.token


def test_execute_sql_runs_as_the_end_user_audits_and_shows_the_model_a_sample():
    rows = [{"id": 1}, {"id": 2}]
    result = QueryResult(columns=["id"], rows=rows, row_count=2, truncated=False, duration_ms=1.5, command="SELECT")
    text, events, calls, audit, token = run_execute_sql('{"sql": "SELECT id FROM orders", "description": "ids"}',
                                                        result)
    assert text == 'Returned 2 rows (columns: id)\nSample rows (1 of 2; 1 omitted):\n{"id":1}'
    assert calls == [("SELECT id FROM orders", {"role": "anon", "claims": {}, "search_path_schema": "public",
                                               "allow_writes": False, "cancel": token})]
    assert events == [protocol.progress(protocol.Step.QUERYING, "Querying database..."),
                      protocol.progress(protocol.Step.EXECUTING, "Executing: ids"),
                      protocol.query_result("SELECT id FROM orders", summary="Returned 2 rows (columns: id)",
                                            row_count=2, data=rows, truncated=False)]
    assert [entry["verdict"] for entry in audit] == ["executed"]


def test_execute_sql_refusal_is_audited_shown_to_the_client_and_read_by_the_model():
    text, events, calls, audit, _ = run_execute_sql('{"sql": "DELETE FROM orders", "description": "x"}')
    assert text == "Error: Operation not allowed: DELETE" and calls == []
    assert events[-1] == protocol.query_result("DELETE FROM orders", error="Operation not allowed: DELETE")
    assert [(entry["sql"], entry["verdict"]) for entry in audit] == [("DELETE FROM orders", "refused")]


def test_a_guard_that_chokes_on_model_text_is_a_refusal_the_client_sees_and_the_audit_keeps(monkeypatch):
    import app.tools.sql_tool as sql_tool

    def choke(sql, policy):
        raise UnicodeEncodeError("utf-8", sql, 0, 1, "surrogates not allowed")

    monkeypatch.setattr(sql_tool, "check_sql", choke)
    text, events, calls, audit, _token = run_execute_sql('{"sql": "SELECT 1", "description": "x"}')
    assert text == "Error: Query failed: the statement could not be parsed" and calls == []
    assert events[-1]["type"] == "query_result" and events[-1]["error"] == "Query failed: the statement could not be parsed"
    assert [entry["verdict"] for entry in audit] == ["refused"]


def test_json_escapes_postgresql_refuses_reach_the_tool_as_replacement_characters():
    result = QueryResult(columns=["n"], rows=[{"n": 1}], row_count=1, truncated=False, duration_ms=1.0,
                         command="SELECT")
    _text, _events, calls, audit, _token = run_execute_sql(
        '{"sql": "SELECT 1 -- \\u0000 \\ud800", "description": "\\u0000"}', result)
    assert calls[0][0] == "SELECT 1 -- \ufffd \ufffd"
    assert audit[0]["sql"] == "SELECT 1 -- \ufffd \ufffd"
