"""The rows of conversations, turns and messages as the chat code passes them around."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Conversation:
    id: str
    chatbot_id: str
    user_id: str | None
    user_role: str
    turn_count: int
    title: str | None
    last_seq: int = 0
    latest_message_id: str | None = None  # the latest turn's assistant message, when read for a resume
    provider_name: str | None = None       # an admin's pin (app/providers/pinning.py), read when a turn starts


@dataclass(frozen=True)
class Turn:
    id: str
    conversation_id: str
    user_message_id: str
    assistant_message_id: str
    status: str
    attempts: int


@dataclass(frozen=True)
class TurnContext:
    """A started attempt and what it needs from its conversation."""

    turn: Turn
    conversation: Conversation
    user_content: str
    published_seq: int = 0   # the highest seq an earlier attempt of this turn is known to have published


@dataclass(frozen=True)
class StoredMessage:
    role: str
    content: str
    tool_calls: list | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    status: str = "complete"


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str = ""
    message_id: str | None = None
    tool_calls: list | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    status: str = "complete"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False   # the counts are the server's own, the provider reported none


@dataclass(frozen=True)
class ClosedTurn:
    """A finished turn whose ending may never have reached the stream bus."""

    id: str
    conversation_id: str
    assistant_message_id: str
    status: str
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    content: str | None = field(default=None)
    ending_seq: int | None = None
    conversation_last_seq: int = 0
    usage_estimated: bool = False


@dataclass(frozen=True)
class UnfinishedTurn:
    id: str
    conversation_id: str
    assistant_message_id: str
    attempts: int
    status: str


class Closing(StrEnum):
    CLOSED = "closed"      # this attempt closed the turn and stored what it produced
    TAKEN = "taken"        # another attempt closed it (or took it over): store and publish nothing
    GONE = "gone"          # the turn no longer exists: its conversation was deleted meanwhile


def conversation_of(row: dict) -> Conversation:
    latest = row.get("latest_message_id")
    return Conversation(str(row["id"]), str(row["chatbot_id"]), row["user_id"] and str(row["user_id"]),
                        row["user_role"], row["turn_count"], row["title"], row["last_seq"],
                        str(latest) if latest else None, row.get("provider_name"))


def turn_of(row: dict) -> Turn:
    return Turn(str(row["id"]), str(row["conversation_id"]), str(row["user_message_id"]),
                str(row["assistant_message_id"]), row["status"], row["attempts"])


def closed_turn_of(row: dict) -> ClosedTurn:
    return ClosedTurn(str(row["id"]), str(row["conversation_id"]), str(row["assistant_message_id"]), row["status"],
                      row["error_code"], row["prompt_tokens"], row["completion_tokens"], row["content"],
                      row["ending_seq"], row["conversation_last_seq"], row["usage_estimated"])
