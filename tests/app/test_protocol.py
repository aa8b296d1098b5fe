"""The protocol module is the one source of events and codes: docs/chat.md follows it, and app/ never
reaches into workers/."""
import ast
import json
import re
import subprocess
import sys

from app import protocol
from config.docs import embedded
from tests.support.processes import ROOT

CHAT_DOC = (ROOT / "docs" / "chat.md").read_text()


def test_the_error_table_in_the_docs_is_the_one_the_code_defines():
    assert embedded(CHAT_DOC, protocol.ERRORS_BEGIN, protocol.ERRORS_END) == protocol.errors_table(), \
        "docs/chat.md is stale: run `python -m app.protocol --write docs/chat.md`"


def test_every_event_type_and_progress_step_is_documented():
    for kind in protocol.Event:
        assert f"`{kind.value}`" in CHAT_DOC, kind
    for step in protocol.Step:
        assert f"`{step.value}`" in CHAT_DOC, step


def test_fixed_texts_are_the_ones_the_contract_fixes():
    shared = (ROOT.parent / "shared" / "PROTOCOL.md")
    if not shared.exists():  # a clean clone has no ../shared; the copy below is the contract's wording
        fixed = {"CHATBOT_NOT_FOUND": "Chatbot not found or disabled", "NO_SESSION": "No active chat session",
                 "TURN_LIMIT": "Conversation turn limit reached", "RATE_LIMIT_EXCEEDED": "Rate limit exceeded",
                 "DAILY_LIMIT_EXCEEDED": "Daily limit exceeded", "TOKEN_BUDGET_EXCEEDED": "Token budget exceeded",
                 "NO_PROVIDER": "No AI provider configured",
                 "PROVIDER_AUTH_FAILED": "Provider authentication failed", "PROVIDER_ERROR": "AI provider not available"}
    else:
        fixed = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]+)`", shared.read_text(), re.M))
    assert fixed
    for code, text in fixed.items():
        spec = protocol.ERRORS[protocol.Code(code)]
        assert spec.fixed and spec.text == text, code


def test_events_omit_fields_without_a_value():
    assert protocol.error(protocol.Code.TURN_LIMIT) == {"type": "error", "code": "TURN_LIMIT",
                                                        "error": "Conversation turn limit reached"}
    assert protocol.events_lost(None, None, "m") == {"type": "events_lost", "message_id": "m"}
    assert protocol.query_result("select 1", error="Permission denied")["data"] == []


def test_the_protocol_prints_as_json_for_sdk_checks():
    out = subprocess.run([sys.executable, "-m", "app.protocol"], cwd=ROOT, capture_output=True, text=True, check=True)
    described = json.loads(out.stdout)
    assert described["endings"] == ["cancelled", "done", "error"]
    assert described["errors"]["SERVICE_UNAVAILABLE"]["http_status"] == 503
    assert set(described["events"]) == {kind.value for kind in protocol.Event}


def test_nothing_in_app_imports_workers():
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name == "workers" or name.startswith("workers.")]
    assert offenders == []


def test_every_field_an_event_constructor_writes_is_in_the_event_fields_table():
    # Every argument given a value, so every field the constructor can write appears.
    built = {
        protocol.Event.CHAT_STARTED: protocol.chat_started("c", "bot", True, 3),
        protocol.Event.AUTHENTICATED: protocol.authenticated(123),
        protocol.Event.PROGRESS: protocol.progress(protocol.Step.THINKING, "Thinking..."),
        protocol.Event.CONTENT: protocol.content("x"),
        protocol.Event.QUERY_RESULT: protocol.query_result("select 1", summary="s", row_count=1, data=[{}],
                                                           truncated=True, error="e"),
        protocol.Event.TOOL_RESULT: protocol.tool_result("t", {"a": 1}, "e"),
        protocol.Event.APPROVAL_REQUIRED: protocol.approval_required("a", "t", "d", sql="s", preview={"rows": []},
                                                                     expires_at="2026-01-01T00:00:00Z"),
        protocol.Event.APPROVAL_RESULT: protocol.approval_result("a", "denied", "r"),
        protocol.Event.EVENTS_LOST: protocol.events_lost(1, 2, "m"),
        protocol.Event.DONE: protocol.done({"total_tokens": 1}),
        protocol.Event.CANCELLED: protocol.cancelled(),
        protocol.Event.ERROR: protocol.error(protocol.Code.RATE_LIMIT_EXCEEDED, retry_after=1, limit="frames"),
    }
    assert set(built) == set(protocol.Event)
    for kind, event in built.items():
        allowed = set(protocol.COMMON_FIELDS) | set(protocol.EVENT_FIELDS[kind])
        assert set(event) <= allowed, (kind, set(event) - allowed)
        assert event["type"] == kind.value
