"""The SDK's typed events are the server's events: same kinds, same fields, same endings
(app/protocol.py is the one source; `python -m app.protocol` is what other clients read)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fluxbase_sdk import events

from tests.support.processes import ROOT


@pytest.fixture(scope="module")
def described():
    out = subprocess.run([sys.executable, "-m", "app.protocol"], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_every_server_event_has_a_dataclass_and_no_dataclass_is_for_an_unknown_event(described):
    assert set(events.EVENT_TYPES) == set(described["events"])


@pytest.mark.parametrize("kind", sorted(events.EVENT_TYPES))
def test_each_dataclass_has_exactly_the_fields_the_server_may_send(described, kind):
    assert set(events.own_fields(events.EVENT_TYPES[kind])) == set(described["event_fields"][kind])


def test_the_common_fields_and_the_endings_are_the_servers(described):
    assert set(events.COMMON_FIELDS) == set(described["common_fields"])
    assert events.ENDINGS == set(described["endings"])


def test_an_event_from_a_newer_server_becomes_a_generic_event_and_new_fields_stay_in_raw():
    future = events.parse_event({"type": "thought", "conversation_id": "c", "seq": 4, "text": "hmm"})
    assert isinstance(future, events.UnknownEvent)
    assert (future.type, future.conversation_id, future.seq, future.raw["text"]) == ("thought", "c", 4, "hmm")
    content = events.parse_event({"type": "content", "delta": "x", "seq": 5, "sparkle": True})
    assert isinstance(content, events.Content) and content.delta == "x" and content.raw["sparkle"] is True


def test_a_known_event_with_fields_of_an_unexpected_shape_does_not_raise():
    odd = events.parse_event({"type": "done", "usage": {"total_tokens": 3}, "conversation_id": 7})
    assert odd.type == "done"
    assert events.parse_event({}).type == ""


def test_every_field_round_trips_from_the_wire():
    raw = {"type": "query_result", "conversation_id": "c", "seq": 9, "message_id": "m", "query": "SELECT 1",
           "summary": "1 row", "row_count": 1, "data": [{"a": 1}], "truncated": True, "replay_truncated": True,
           "rows_kept": 1}
    event = events.parse_event(raw)
    assert isinstance(event, events.QueryResult)
    assert {name: getattr(event, name) for name in raw} == raw
