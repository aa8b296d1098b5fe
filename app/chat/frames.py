"""Validating client frames (PROTOCOL.md section 2, plus `auth`) into typed requests.

Everything a frame carries is checked here, before it can reach PostgreSQL or Redis: text that
PostgreSQL cannot store (NUL characters, unpaired surrogates from `\\ud800` escapes), nesting too
deep for the JSON parser, numbers past what a client can count to.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from app.chatbots.spec import is_valid_name
from app.protocol import Code, ProtocolError

MAX_CONTENT_CHARS = 32_000
# The largest integer every JSON client represents exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SEQ = 2**53 - 1
MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True)
class StartChat:
    chatbot: str
    namespace: str
    conversation_id: str | None
    last_seq: int | None


@dataclass(frozen=True)
class UserMessage:
    conversation_id: str
    content: str


@dataclass(frozen=True)
class Cancel:
    conversation_id: str


@dataclass(frozen=True)
class Auth:
    token: str


@dataclass(frozen=True)
class ApprovalAnswer:
    """`approve` or `deny` for a pending approval (docs/approval.md); `conversation_id` is optional:
    the approval names its conversation, and a given one must match it."""

    approval_id: str
    approved: bool
    reason: str | None = None
    conversation_id: str | None = None


MAX_REASON_CHARS = 2000

Frame = StartChat | UserMessage | Cancel | Auth | ApprovalAnswer


def _invalid(message: str, conversation_id: str | None = None) -> ProtocolError:
    return ProtocolError(Code.INVALID_MESSAGE, message, conversation_id=conversation_id)


def _storable(value: str, key: str, conversation_id: str | None = None) -> str:
    if "\x00" in value:
        raise _invalid(f"`{key}` must not contain NUL characters", conversation_id)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"`{key}` must be valid Unicode text (it has an unpaired surrogate)", conversation_id) from None
    return value


def _string(frame: dict, key: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = frame.get(key)
    if value is None:  # absent and null alike
        value = default
    if value is None:
        if required:
            raise _invalid(f"`{key}` is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"`{key}` must be a non-empty string")
    return _storable(value, key)


def _conversation_id(frame: dict, required: bool = True) -> str | None:
    value = _string(frame, "conversation_id", required=required)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _invalid("`conversation_id` must be a UUID") from None


def _decode(text: str | bytes, max_bytes: int) -> dict:
    if isinstance(text, bytes):
        raise _invalid("frames must be JSON text, not binary")
    if len(text.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise ProtocolError(Code.MESSAGE_TOO_LARGE, f"frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(text)
    except RecursionError:
        raise _invalid("the frame is nested too deeply") from None
    except ValueError:
        raise _invalid("the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise _invalid("the frame must be a JSON object")
    return frame


def parse_frame(text: str | bytes, max_bytes: int) -> Frame:
    frame = _decode(text, max_bytes)
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise _invalid("`type` is required")
    if kind == "start_chat":
        return _start_chat(frame)
    if kind == "message":
        return _message(frame)
    if kind == "cancel":
        return Cancel(_conversation_id(frame))
    if kind == "auth":
        token = _string(frame, "token")
        if len(token) > MAX_TOKEN_CHARS:
            raise _invalid(f"`token` is longer than {MAX_TOKEN_CHARS} characters")
        return Auth(token)
    if kind in ("approve", "deny"):
        return _approval_answer(frame, kind == "approve")
    raise ProtocolError(Code.UNKNOWN_TYPE, f"unknown frame type {kind[:64]!r}")


def _approval_answer(frame: dict, approved: bool) -> ApprovalAnswer:
    conversation_id = _conversation_id(frame, required=False)
    value = _string(frame, "approval_id")
    try:
        approval_id = str(uuid.UUID(value))
    except ValueError:
        # Not an id any approval can have: the same answer as an unknown one.
        raise ProtocolError(Code.APPROVAL_NOT_FOUND, conversation_id=conversation_id) from None
    reason = None
    if not approved and frame.get("reason") is not None:
        reason = frame.get("reason")
        if not isinstance(reason, str):
            raise _invalid("`reason` must be a string", conversation_id)
        if len(reason) > MAX_REASON_CHARS:
            raise _invalid(f"`reason` is limited to {MAX_REASON_CHARS} characters", conversation_id)
        reason = _storable(reason, "reason", conversation_id).strip() or None
    return ApprovalAnswer(approval_id, approved, reason, conversation_id)


def _start_chat(frame: dict) -> StartChat:
    last_seq = frame.get("last_seq")
    if last_seq is not None and (not isinstance(last_seq, int) or isinstance(last_seq, bool)
                                 or not 0 <= last_seq <= MAX_SEQ):
        raise _invalid(f"`last_seq` must be an integer from 0 to {MAX_SEQ}")
    chatbot = _string(frame, "chatbot")
    namespace = _string(frame, "namespace", default="default")
    if not is_valid_name(chatbot) or not is_valid_name(namespace):
        # Not a name any chatbot can have: the same answer as an unknown one.
        raise ProtocolError(Code.CHATBOT_NOT_FOUND)
    return StartChat(chatbot=chatbot, namespace=namespace, conversation_id=_conversation_id(frame, required=False),
                     last_seq=last_seq)


def _message(frame: dict) -> UserMessage:
    conversation_id = _conversation_id(frame)
    content = frame.get("content")
    if not isinstance(content, str) or not content.strip():
        raise _invalid("`content` must be a non-empty string", conversation_id)
    if len(content) > MAX_CONTENT_CHARS:
        raise ProtocolError(Code.MESSAGE_TOO_LARGE, f"messages are limited to {MAX_CONTENT_CHARS} characters",
                            conversation_id=conversation_id)
    return UserMessage(conversation_id, _storable(content, "content", conversation_id))
