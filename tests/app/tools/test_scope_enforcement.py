"""The registry refuses a tool whose scope the chatbot's configuration does not grant, before the
tool runs, with text naming the scope; the tool's own refusal hook records it."""
from app.tools.base import Tool
from app.tools.registry import ToolRegistry
from app.tools.scopes import EXECUTE_RPC, READ_TABLES, WRITE_TABLES, missing_scope_text
from tests.support.tools import make_context
from workers.cancellation import TurnCancellation


def _registry(ran: list, refused: list) -> ToolRegistry:
    def run(ctx, args):
        ran.append(args)
        return "ran"

    def record(ctx, args, reason):
        refused.append((args, reason))

    return ToolRegistry([Tool(name="reader", description="r", parameters={"type": "object"}, scope=READ_TABLES,
                              run=run, on_refused=record),
                         Tool(name="writer", description="w", parameters={"type": "object"}, scope=WRITE_TABLES,
                              run=run),
                         Tool(name="invoke_rpc", description="x", parameters={"type": "object"}, scope=EXECUTE_RPC,
                              run=run),
                         Tool(name="free", description="f", parameters={"type": "object"}, scope=None, run=run)])


def _invoke(registry, name, config):
    ctx = make_context(lambda event: None, TurnCancellation().token, config=config)
    return registry.invoke(name, '{"a": 1}', ctx, {"reader", "writer", "invoke_rpc", "free"})


def test_a_missing_scope_is_refused_before_the_tool_runs_and_the_hook_records_it():
    ran, refused = [], []
    registry = _registry(ran, refused)
    text = _invoke(registry, "reader", {"allowed_operations": ["INSERT"]})
    assert text == "Error: reader needs the read:tables scope, which this chatbot does not have " \
                   "(add SELECT to @fluxbase:allowed-operations)"
    assert ran == [] and refused == [({"a": 1}, missing_scope_text("reader", READ_TABLES))]


def test_granted_scopes_run_and_a_tool_without_a_scope_is_not_gated():
    ran, refused = [], []
    registry = _registry(ran, refused)
    assert _invoke(registry, "reader", {"allowed_operations": ["SELECT"]}) == "ran"
    assert _invoke(registry, "writer", {"allowed_operations": ["SELECT", "DELETE"]}) == "ran"
    assert _invoke(registry, "free", {}) == "ran"
    assert len(ran) == 3 and refused == []


def test_write_and_execution_scopes_need_their_grants():
    ran, refused = [], []
    registry = _registry(ran, refused)
    assert _invoke(registry, "writer", {"allowed_operations": ["SELECT"]}) == \
        "Error: " + missing_scope_text("writer", WRITE_TABLES)
    assert "write:tables" in missing_scope_text("writer", WRITE_TABLES)
    assert _invoke(registry, "invoke_rpc", {"allowed_operations": ["SELECT"]}) == \
        "Error: invoke_rpc needs the execute:rpc scope, which this chatbot does not have " \
        "(name invoke_rpc in @fluxbase:mcp-tools)"
    assert _invoke(registry, "invoke_rpc", {"allowed_operations": ["SELECT"], "mcp_tools": ["invoke_rpc"]}) == "ran"
    assert _invoke(registry, "reader", {}) == "Error: " + missing_scope_text("reader", READ_TABLES)
    assert ran == [{"a": 1}]


def test_a_failing_refusal_hook_does_not_change_the_refusal():
    def broken(ctx, args, reason):
        raise RuntimeError("audit down")

    registry = ToolRegistry([Tool(name="reader", description="r", parameters={"type": "object"}, scope=READ_TABLES,
                                  run=lambda ctx, args: "ran", on_refused=broken)])
    ctx = make_context(lambda event: None, TurnCancellation().token, config={})
    assert registry.invoke("reader", "{}", ctx, {"reader"}) == "Error: " + missing_scope_text("reader", READ_TABLES)
