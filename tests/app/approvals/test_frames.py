"""The `approve` and `deny` frames: what they carry, and every malformed one refused with a clear code."""
from __future__ import annotations

import json
import uuid

import pytest

from app.chat.frames import MAX_REASON_CHARS, ApprovalAnswer, parse_frame
from app.protocol import ProtocolError

ID = str(uuid.uuid4())
CONVERSATION = str(uuid.uuid4())


def parse(frame: dict):
    return parse_frame(json.dumps(frame), 65536)


def test_approve_and_deny_become_one_typed_answer():
    assert parse({"type": "approve", "approval_id": ID}) == ApprovalAnswer(ID, True)
    assert parse({"type": "approve", "approval_id": ID.upper(), "conversation_id": CONVERSATION,
                  "reason": "ignored on an approve"}) == ApprovalAnswer(ID, True, None, CONVERSATION)
    assert parse({"type": "deny", "approval_id": ID, "reason": "  not now  "}) == ApprovalAnswer(ID, False, "not now")
    assert parse({"type": "deny", "approval_id": ID, "reason": "   "}).reason is None


@pytest.mark.parametrize(("frame", "code", "text"), [
    ({"type": "approve"}, "INVALID_MESSAGE", "`approval_id` is required"),
    ({"type": "approve", "approval_id": 7}, "INVALID_MESSAGE", "`approval_id` must be a non-empty string"),
    ({"type": "approve", "approval_id": "nope"}, "APPROVAL_NOT_FOUND", "Approval not found"),
    ({"type": "deny", "approval_id": ID, "reason": 5}, "INVALID_MESSAGE", "`reason` must be a string"),
    ({"type": "deny", "approval_id": ID, "reason": "x" * (MAX_REASON_CHARS + 1)}, "INVALID_MESSAGE",
     f"`reason` is limited to {MAX_REASON_CHARS} characters"),
    ({"type": "deny", "approval_id": ID, "reason": "a\x00b"}, "INVALID_MESSAGE", "must not contain NUL"),
    ({"type": "approve", "approval_id": ID, "conversation_id": "c"}, "INVALID_MESSAGE",
     "`conversation_id` must be a UUID"),
])
def test_malformed_answers_are_refused_with_their_code(frame, code, text):
    with pytest.raises(ProtocolError) as info:
        parse(frame)
    assert info.value.code == code and text in info.value.message
