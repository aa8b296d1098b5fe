"""`@fluxbase:approval`: parsing (clear errors for unknown tools, modes and operations), and the mode
a call gets from the file and the server (the server can only make it stricter)."""
from __future__ import annotations

import dataclasses

import pytest

from app.approvals.denial import denied_by_policy
from app.chatbots.approval_rules import (
    call_operation,
    is_write,
    mode_for,
    parse_approval,
)
from app.chatbots.tsparse import ChatbotDefinitionError
from app.chatbots.values import InvalidValue
from app.tools.base import ToolServices
from tests.app.chatbots.test_annotations import error_with, spec_with
from tests.support.tools import make_context
from workers.cancellation import TurnCancellation


def test_rules_are_normalised_and_kept_in_order():
    assert parse_approval("insert_record=ask, execute_sql:delete=DENY,execute_sql:UPDATE=ask") == [
        "insert_record=ask", "execute_sql:DELETE=deny", "execute_sql:UPDATE=ask"]
    assert parse_approval(["invoke_function:post=ask", "http_get=allow"]) == ["invoke_function:POST=ask",
                                                                              "http_get=allow"]


@pytest.mark.parametrize(("value", "message"), [
    ("insrt_record=ask", "unknown tool 'insrt_record' (did you mean 'insert_record'?)"),
    ("insert_record=maybe", "unknown mode 'maybe' (use allow, ask, deny)"),
    ("insert_record:INSERT=ask", "insert_record has no operations to name; write insert_record=ask"),
    ("execute_sql:DROP=deny", "unknown operation 'DROP' for execute_sql (allowed: SELECT, INSERT, UPDATE, DELETE)"),
    ("execute_sql:=deny", "unknown operation '(none)' for execute_sql"),
    ("insert_record", "write TOOL=MODE or TOOL:OPERATION=MODE"),
    ("=ask", "write TOOL=MODE or TOOL:OPERATION=MODE"),
    ("insert_record=ask,insert_record=deny", "insert_record is given twice (ask and deny)"),
])
def test_bad_rules_are_clear_errors(value, message):
    with pytest.raises(InvalidValue) as info:
        parse_approval(value)
    assert message in str(info.value)


def test_a_file_with_a_bad_rule_fails_to_sync_with_the_line_and_annotation():
    error = error_with("@fluxbase:approval delete_record=never")
    assert isinstance(error, ChatbotDefinitionError) and error.annotation == "approval"
    assert "unknown mode 'never'" in str(error)


def test_no_annotation_is_todays_behaviour_and_a_file_reads_its_rules():
    assert spec_with().to_config_dict()["approval"] == []
    spec = spec_with("@fluxbase:approval insert_record=ask,execute_sql:DELETE=deny")
    assert spec.to_config_dict()["approval"] == ["insert_record=ask", "execute_sql:DELETE=deny"]


RULES = {"approval": ["insert_record=ask", "execute_sql:DELETE=deny", "execute_sql=ask", "http_get=allow"]}


@pytest.mark.parametrize(("tool", "operation", "force", "mode"), [
    ("insert_record", None, False, "ask"),
    ("execute_sql", "DELETE", False, "deny"),         # the operation's rule wins over the tool's
    ("execute_sql", "SELECT", False, "ask"),          # the tool's rule covers its other operations
    ("update_record", None, False, "allow"),          # no rule: today's behaviour
    ("update_record", None, True, "ask"),             # the server forces ask on writes
    ("execute_sql", "DELETE", True, "deny"),          # ...and a deny stays a deny
    ("http_get", None, True, "allow"),                # a read is not a write
])
def test_the_mode_of_a_call(tool, operation, force, mode):
    assert mode_for(RULES, tool, operation, force_ask_writes=force) == mode


def test_a_files_allow_never_lifts_the_servers_ask():
    config = {"approval": ["execute_sql:UPDATE=allow", "submit_job=allow"]}
    assert mode_for(config, "execute_sql", "UPDATE", force_ask_writes=True) == "ask"
    assert mode_for(config, "submit_job", None, force_ask_writes=True) == "ask"
    assert mode_for({}, "execute_sql", "UPDATE", force_ask_writes=False) == "allow"
    assert mode_for({}, "execute_sql", "SELECT", force_ask_writes=True) == "allow"


def test_which_calls_are_writes():
    writes = [(t, None) for t in ("insert_record", "update_record", "delete_record", "upload_object",
                                  "delete_object", "submit_job")]
    writes += [("execute_sql", op) for op in ("INSERT", "UPDATE", "DELETE")]
    writes += [("invoke_function", m) for m in ("POST", "PUT", "PATCH", "DELETE")]
    assert all(is_write(tool, op) for tool, op in writes)
    reads = [("execute_sql", "SELECT"), ("invoke_function", "GET"), ("http_get", None), ("query_table", None),
             ("download_object", None), ("list_objects", None), ("get_job_status", None)]
    assert not any(is_write(tool, op) for tool, op in reads)
    # A function call that names no method is counted as POST: a write, the stricter guess.
    assert call_operation("invoke_function", {}) == "POST"
    assert call_operation("invoke_function", {"method": "get"}) == "GET"


def _nobody_to_ask(settings, config, **changes):
    services = ToolServices(settings=dataclasses.replace(settings, **changes), sql=None, db=None)
    return make_context(lambda event: None, TurnCancellation().token, config=config, services=services)


def test_callers_with_nobody_to_ask_refuse_what_a_file_denies_and_what_it_would_ask_for(settings):
    config = {"approval": ["delete_record=deny", "insert_record=ask", "execute_sql:DELETE=deny"],
              "allowed_operations": ["SELECT", "DELETE", "INSERT"], "allowed_tables": ["orders"],
              "allowed_schemas": ["public"]}
    ctx = _nobody_to_ask(settings, config, mcp_approval="refuse", approval_writes="policy")
    assert "denied by this assistant's approval policy" in denied_by_policy("delete_record", {}, ctx)
    assert "execute_sql (DELETE) is denied" in denied_by_policy("execute_sql", {"sql": "DELETE FROM orders"}, ctx)
    assert denied_by_policy("execute_sql", {"sql": "SELECT 1 FROM orders"}, ctx) is None
    assert "needs a person's approval" in denied_by_policy("insert_record", {}, ctx)
    # MCP_APPROVAL=client trusts the MCP client to have asked; a `deny` still holds.
    trusting = _nobody_to_ask(settings, config, mcp_approval="client", approval_writes="policy")
    assert denied_by_policy("insert_record", {}, trusting) is None
    assert "denied by this assistant's approval policy" in denied_by_policy("delete_record", {}, trusting)
    # APPROVAL_WRITES=ask makes every write an `ask`, over MCP too.
    forced = _nobody_to_ask(settings, {**config, "approval": []}, mcp_approval="refuse", approval_writes="ask")
    assert "needs a person's approval" in denied_by_policy("execute_sql", {"sql": "DELETE FROM orders"}, forced)
    assert denied_by_policy("execute_sql", {"sql": "SELECT 1 FROM orders"}, forced) is None
