"""Validating client frames (PROTOCOL.md section 2) into typed requests."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

MAX_CONTENT_CHARS = 32_000


class FrameError(Exception):
    def __init__(self, code: str, message: str, conversation_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.conversation_id = conversation_id


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


def _string(frame: dict, key: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = frame.get(key, default)
    if value is None:
        if required:
            raise FrameError("INVALID_MESSAGE", f"`{key}` is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise FrameError("INVALID_MESSAGE", f"`{key}` must be a non-empty string")
    return value


def _conversation_id(frame: dict, required: bool = True) -> str | None:
    value = _string(frame, "conversation_id", required=required)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise FrameError("INVALID_MESSAGE", "`conversation_id` must be a UUID") from None


def parse_frame(text: str | bytes, max_bytes: int) -> StartChat | UserMessage | Cancel:
    if isinstance(text, bytes):
        raise FrameError("INVALID_MESSAGE", "frames must be JSON text, not binary")
    if len(text.encode()) > max_bytes:
        raise FrameError("MESSAGE_TOO_LARGE", f"frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(text)
    except ValueError:
        raise FrameError("INVALID_MESSAGE", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("INVALID_MESSAGE", "the frame must be a JSON object")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise FrameError("INVALID_MESSAGE", "`type` is required")
    if kind == "start_chat":
        last_seq = frame.get("last_seq")
        if last_seq is not None and (not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0):
            raise FrameError("INVALID_MESSAGE", "`last_seq` must be a non-negative integer")
        return StartChat(chatbot=_string(frame, "chatbot"), namespace=_string(frame, "namespace", default="default"),
                         conversation_id=_conversation_id(frame, required=False), last_seq=last_seq)
    if kind == "message":
        conversation_id = _conversation_id(frame)
        content = frame.get("content")
        if not isinstance(content, str) or not content.strip():
            raise FrameError("INVALID_MESSAGE", "`content` must be a non-empty string", conversation_id)
        if len(content) > MAX_CONTENT_CHARS:
            raise FrameError("MESSAGE_TOO_LARGE", f"messages are limited to {MAX_CONTENT_CHARS} characters",
                             conversation_id)
        return UserMessage(conversation_id, content)
    if kind == "cancel":
        return Cancel(_conversation_id(frame))
    raise FrameError("UNKNOWN_TYPE", f"unknown frame type {kind!r}")
