"""One WebSocket's chat state: the conversations started on it and what each client frame does."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from app.auth.tokens import Principal
from app.chat import repository as conversations
from app.chat.feed import Feed
from app.chat.frames import Cancel, FrameError, StartChat, UserMessage, parse_frame
from app.chat.hub import ChatHub
from app.chat.outbox import Outbox
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy

log = logging.getLogger(__name__)

CHATBOT_NOT_FOUND = "Chatbot not found or disabled"
# Each attached conversation holds a subscription; a socket has no reason to follow more.
MAX_CONVERSATIONS_PER_SOCKET = 20


@dataclass
class _Attached:
    conversation: conversations.Conversation
    chatbot_name: str
    max_turns: int
    feed: Feed


class ChatSession:
    def __init__(self, hub: ChatHub, principal: Principal, outbox: Outbox):
        self._hub = hub
        self._principal = principal
        self._outbox = outbox
        self._attached: dict[str, _Attached] = {}

    def handle(self, text: str | bytes) -> None:
        try:
            request = parse_frame(text, self._hub.settings.ws_max_frame_bytes)
            if isinstance(request, StartChat):
                self._start_chat(request)
            elif isinstance(request, UserMessage):
                self._message(request)
            elif isinstance(request, Cancel):
                self._cancel(request)
        except FrameError as exc:
            self._error(exc.code, exc.message, exc.conversation_id)
        except Exception:
            log.exception("frame handling failed")
            self._error("INTERNAL_ERROR", "Internal error")

    def close(self) -> None:
        for attached in self._attached.values():
            self._hub.relay.unsubscribe(attached.conversation.id, attached.feed.on_live)
        self._attached.clear()
        self._outbox.close()

    # -- frames -----------------------------------------------------------------------------------

    def _start_chat(self, request: StartChat) -> None:
        principal = self._principal
        with self._hub.runtime.db.connection() as conn:
            chatbot = chatbots.load_enabled(conn, request.namespace, request.chatbot,
                                            policy=server_policy(self._hub.settings))
            if chatbot is None:
                raise FrameError("CHATBOT_NOT_FOUND", CHATBOT_NOT_FOUND)
            config = chatbot.config
            if principal.anonymous and not config["allow_unauthenticated"]:
                raise FrameError("AUTH_REQUIRED", "This chatbot requires authentication")
            resumed = request.conversation_id is not None
            if resumed:
                conversation = conversations.find_owned_conversation(
                    conn, conversation_id=request.conversation_id, chatbot_id=chatbot.id, user_id=principal.user_id)
                if conversation is None:
                    raise FrameError("CONVERSATION_NOT_FOUND", "Conversation not found")
            else:
                if len(self._attached) >= MAX_CONVERSATIONS_PER_SOCKET:
                    raise FrameError("INVALID_MESSAGE",
                                     f"a socket can follow at most {MAX_CONVERSATIONS_PER_SOCKET} conversations")
                conversation = conversations.create_conversation(
                    conn, chatbot_id=chatbot.id, user_id=principal.user_id, user_role=principal.role,
                    ttl_hours=config["conversation_ttl_hours"])
            conn.commit()
        previous = self._attached.pop(conversation.id, None)
        if previous is not None:
            self._hub.relay.unsubscribe(conversation.id, previous.feed.on_live)
        bus = self._hub.bus
        feed = Feed(conversation.id, self._outbox.put,
                    lambda first, last: bus.range(conversation.id, first, last))
        # Subscribed (and acknowledged) before the replay is read and before any turn of this
        # conversation can be enqueued: nothing published from here on can be missed.
        self._hub.relay.subscribe(conversation.id, feed.on_live)
        self._attached[conversation.id] = _Attached(conversation, chatbot.name, config["max_turns"], feed)
        replayed = bus.replay(conversation.id, request.last_seq) if resumed else []
        # chat_started stands just before what follows it: a client that keeps the highest seq it
        # has seen and drops during the replay resumes exactly where the replay stopped.
        seq = replayed[0]["seq"] - 1 if replayed else self._current_seq(conversation.id)
        self._outbox.put({"type": "chat_started", "conversation_id": conversation.id, "seq": seq,
                          "chatbot": chatbot.name, "resumed": resumed})
        feed.go_live(replayed, request.last_seq if resumed else None)

    def _message(self, request: UserMessage) -> None:
        attached = self._attached.get(request.conversation_id)
        if attached is None:
            raise FrameError("NO_SESSION", "No active chat session", request.conversation_id)
        with self._hub.runtime.db.connection() as conn:
            try:
                turn = conversations.start_turn(conn, request.conversation_id, request.content,
                                                max_turns=attached.max_turns)
            except conversations.TurnInProgress:
                raise FrameError("TURN_IN_PROGRESS", "A turn is already in progress for this conversation",
                                 request.conversation_id) from None
            except conversations.TurnLimitReached:
                raise FrameError("TURN_LIMIT", "Conversation turn limit reached", request.conversation_id) from None
            except conversations.ConversationGone:
                raise FrameError("CONVERSATION_NOT_FOUND", "Conversation not found", request.conversation_id) from None
            conn.commit()
        # Enqueued only after the user message is committed: the worker must find it.
        try:
            self._hub.enqueue_turn(turn.id)
        except Exception:
            log.exception("could not enqueue turn %s", turn.id)
            with self._hub.runtime.db.connection() as conn:
                conversations.finish_turn(conn, turn, status="error", error_code="INTERNAL_ERROR",
                                          prompt_tokens=0, completion_tokens=0)
                conn.commit()
            raise FrameError("INTERNAL_ERROR", "Could not start the turn", request.conversation_id) from None

    def _cancel(self, request: Cancel) -> None:
        attached = self._attached.get(request.conversation_id)
        if attached is None:
            raise FrameError("NO_SESSION", "No active chat session", request.conversation_id)
        with self._hub.runtime.db.connection() as conn:
            queued = conversations.cancel_queued_turn(conn, request.conversation_id)
            conn.commit()
            turn = queued or conversations.active_turn(conn, request.conversation_id)
        if queued is not None:
            # No worker has it yet: close it here, so a lost task cannot block the conversation.
            self._hub.bus.publish(queued.conversation_id, {"type": "cancelled",
                                                           "message_id": queued.assistant_message_id},
                                  turn_start=True, floor=attached.conversation.last_seq)
        elif turn is not None:
            self._hub.cancel_turn(turn.id)

    # -- events -----------------------------------------------------------------------------------

    def _current_seq(self, conversation_id: str) -> int:
        attached = self._attached.get(conversation_id)
        floor = attached.conversation.last_seq if attached else 0
        return max(self._hub.bus.current_seq(conversation_id), floor)

    def _error(self, code: str, message: str, conversation_id: str | None = None) -> None:
        event = {"type": "error", "code": code, "error": message}
        if conversation_id is not None and conversation_id in self._attached:
            # An event only this socket sees carries the conversation's current seq without taking a
            # new one, so the numbering of the conversation's own events stays gap-free.
            event = {**event, "conversation_id": conversation_id, "seq": self._current_seq(conversation_id)}
        elif conversation_id is not None:
            event["conversation_id"] = conversation_id
        self._outbox.put(event)
