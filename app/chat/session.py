"""One WebSocket's chat state: the conversations started on it and what each client frame does."""
from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

from app import log_context, protocol
from app.auth.tokens import AuthError, Principal, verify
from app.chat import conversations, records, turns
from app.chat.approval_answers import answer_approval
from app.chat.feed import Feed
from app.chat.first_delta import FirstDeltaClock
from app.chat.frame_budget import FrameBudget
from app.chat.frames import (
    ApprovalAnswer,
    Auth,
    Cancel,
    StartChat,
    UserMessage,
    parse_frame,
)
from app.chat.hub import ChatHub
from app.chat.outbox import Outbox
from app.chat.request_limits import caller_identity
from app.chat.templates import require_settings
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.protocol import Code, ProtocolError
from app.streaming.bus import UNRECORDED_SEQ_SLACK, Replay
from app.unavailable import is_unavailable

log = logging.getLogger(__name__)

# Each attached conversation holds a subscription; a socket has no reason to follow more.
MAX_CONVERSATIONS_PER_SOCKET = 20


@dataclass
class _Attached:
    conversation: records.Conversation
    chatbot_name: str
    max_turns: int
    feed: Feed
    rate_limit: int     # requests per minute, as the server's caps narrowed it
    daily_limit: int    # requests per UTC day
    token_budget: int   # tokens per UTC day
    clock: FirstDeltaClock | None = None  # times this socket's turns to their first delta


class ChatSession:
    def __init__(self, hub: ChatHub, principal: Principal, outbox: Outbox, *, client_address: str | None = None):
        self._hub = hub
        self._principal = principal
        self._outbox = outbox
        self._attached: dict[str, _Attached] = {}
        self._identity = caller_identity(principal, client_address)
        self._frames = FrameBudget(hub.settings.ws_frames_per_second)

    def handle(self, text: str | bytes) -> None:
        # What is logged while handling a frame says which conversation and chatbot it was for.
        with log_context.scope():
            self._handle(text)

    def _handle(self, text: str | bytes) -> None:
        conversation_id = None
        try:
            wait = self._frames.take()
            if wait is not None:
                raise ProtocolError(Code.RATE_LIMIT_EXCEEDED, retry_after=max(1, math.ceil(wait)),
                                    limit="frames")
            request = parse_frame(text, self._hub.settings.ws_max_frame_bytes)
            conversation_id = getattr(request, "conversation_id", None)
            attached = self._attached.get(conversation_id) if conversation_id else None
            log_context.add(conversation_id=conversation_id,
                            chatbot=attached.chatbot_name if attached else getattr(request, "chatbot", None))
            if isinstance(request, Auth):
                self._auth(request)
            elif isinstance(request, Cancel):
                self._cancel(request)
            elif isinstance(request, ApprovalAnswer):
                # Answering needs no fresh token: it only lets a turn already running go on or stop.
                answer_approval(self._hub, self._principal, request, attached=set(self._attached))
            else:
                # A running turn finishes after the token expires; new work needs a valid one.
                self._check_not_expired(conversation_id)
                if isinstance(request, StartChat):
                    self._start_chat(request)
                else:
                    self._message(request)
        except ProtocolError as exc:
            self._error(exc, exc.conversation_id or conversation_id)
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("frame refused, a backing service is down: %s: %s", type(exc).__name__, exc)
                self._error(ProtocolError(Code.SERVICE_UNAVAILABLE, retry_after=protocol.SERVICE_RETRY_AFTER),
                            conversation_id)
                return
            log.exception("frame handling failed")
            self._error(ProtocolError(Code.INTERNAL_ERROR), conversation_id)

    def close(self) -> None:
        for attached in self._attached.values():
            self._hub.relay.unsubscribe(attached.feed)
        if self._attached:
            # Non-persisted conversations get their reconnect grace from now (app/chat/lifetime.py).
            self._hub.conversation_keeper.release(list(self._attached))
        self._attached.clear()
        self._outbox.close()

    # -- identity ---------------------------------------------------------------------------------

    def _check_not_expired(self, conversation_id: str | None) -> None:
        if self._principal.expired(time.time()):
            raise ProtocolError(Code.AUTH_EXPIRED, conversation_id=conversation_id)

    def _auth(self, request: Auth) -> None:
        """A fresh token for the same caller, so a long-lived socket outlives its first token."""
        try:
            fresh = verify(self._hub.settings.jwt_secret, request.token)
        except AuthError as exc:
            raise ProtocolError(Code.AUTH_INVALID, str(exc)) from None
        current = self._principal
        if current.via_service_key:
            raise ProtocolError(Code.AUTH_INVALID, "a service-key connection has no token to renew")
        if (fresh.user_id, fresh.role) != (current.user_id, current.role):
            # Conversations on this socket belong to the first identity; switching would hand them over.
            raise ProtocolError(Code.AUTH_INVALID, "the new token must be for the same user and role")
        self._principal = fresh
        self._outbox.put(protocol.authenticated(fresh.expires_at))

    # -- frames -----------------------------------------------------------------------------------

    def _start_chat(self, request: StartChat) -> None:
        chatbot, found = self._find(request)
        resumed = found is not None
        conversation_id = found.id if found else str(uuid.uuid4())
        previous = self._attached.pop(conversation_id, None)
        if previous is not None:
            self._hub.relay.unsubscribe(previous.feed)
        bus = self._hub.bus
        clock = FirstDeltaClock(self._outbox.put, self._hub.metrics.first_delta)
        feed = Feed(conversation_id, clock, lambda first, last: bus.range(conversation_id, first, last),
                    self._hub.recover_ending)
        # Subscribed (and acknowledged) before the replay is read and before any turn of this
        # conversation can be enqueued: nothing published from here on can be missed. A new
        # conversation is stored only then, so a start_chat refused here leaves nothing behind.
        self._hub.relay.subscribe(feed)
        try:
            if found is None:
                # Each costs a row that outlives the socket: a caller may not create them without end.
                self._hub.request_limits.check_new_conversation(
                    self._identity, per_minute=self._hub.settings.conversations_per_minute)
            conversation = found or self._create(chatbot, conversation_id)
            current, after = self._position(conversation, request.last_seq)
            replay = bus.replay(conversation.id, after) if resumed else Replay([], True)
            if resumed and request.last_seq is None and _has_ended(replay):
                # A client that sends no last_seq keeps no position (Fluxbase's own SDK is one): a
                # finished turn replayed to it would show the last answer twice. A running turn is
                # replayed from its start; a finished one is in the conversation's history.
                replay, after = Replay([], True), current
        except Exception:
            self._hub.relay.unsubscribe(feed)
            if previous is not None:
                self._hub.conversation_keeper.release([conversation_id])
            raise
        if previous is None:
            # Held while this socket has it: a non-persisted conversation lives as long (lifetime.py).
            self._hub.conversation_keeper.hold(conversation.id)
        self._attached[conversation.id] = _Attached(conversation, chatbot.name, chatbot.config["max_turns"], feed,
                                                    chatbot.config["rate_limit_per_minute"],
                                                    chatbot.config["daily_request_limit"],
                                                    chatbot.config["daily_token_budget"], clock)
        # chat_started stands just before what follows it: a client that keeps the highest seq it
        # has seen and drops during the replay resumes exactly where the replay stopped.
        seq = replay.events[0]["seq"] - 1 if replay.events else current
        self._outbox.put(protocol.chat_started(conversation.id, chatbot.name, resumed, seq))
        if not resumed:
            feed.go_live(replay, current)
        else:
            feed.go_live(replay, after if after is not None else (None if replay.events else current),
                         known_through=current, latest_message=conversation.latest_message_id)

    def _find(self, request: StartChat) -> tuple[chatbots.ChatbotRecord, records.Conversation | None]:
        """The chatbot, and the conversation to resume (None for a new one), after every check."""
        principal = self._principal
        with self._hub.runtime.db.connection() as conn:
            chatbot = chatbots.load_enabled(conn, request.namespace, request.chatbot,
                                            policy=server_policy(self._hub.settings))
            if chatbot is None:
                raise ProtocolError(Code.CHATBOT_NOT_FOUND)
            if principal.anonymous and not chatbot.config["allow_unauthenticated"]:
                raise ProtocolError(Code.AUTH_REQUIRED, "This chatbot requires authentication")
            # Not a prompt with a hole: a required setting without a value for this caller refuses the chat.
            require_settings(conn, chatbot.system_prompt, chatbot.config.get("required_settings", ()),
                             principal.user_id)
            if request.conversation_id not in self._attached and len(self._attached) >= MAX_CONVERSATIONS_PER_SOCKET:
                raise ProtocolError(Code.INVALID_MESSAGE,
                                    f"a socket can follow at most {MAX_CONVERSATIONS_PER_SOCKET} conversations")
            if request.conversation_id is None:
                return chatbot, None
            conversation = conversations.find_owned_conversation(
                conn, conversation_id=request.conversation_id, chatbot_id=chatbot.id, user_id=principal.user_id,
                user_role=principal.role, grace_seconds=self._hub.settings.ephemeral_conversation_grace_seconds)
        if conversation is None:
            raise ProtocolError(Code.CONVERSATION_NOT_FOUND)
        return chatbot, conversation

    def _create(self, chatbot: chatbots.ChatbotRecord, conversation_id: str) -> records.Conversation:
        principal = self._principal
        with self._hub.runtime.db.connection() as conn:
            conversation = conversations.create_conversation(
                conn, conversation_id=conversation_id, chatbot_id=chatbot.id, user_id=principal.user_id,
                user_role=principal.role, ttl_hours=chatbot.config["conversation_ttl_hours"],
                persisted=bool(chatbot.config["persist_conversations"]),
                grace_seconds=self._hub.settings.ephemeral_conversation_grace_seconds)
            conn.commit()
        return conversation

    def _position(self, conversation: records.Conversation, last_seq: int | None) -> tuple[int, int | None]:
        """The conversation's current seq, and where a resuming client stands.

        A client cannot be ahead of Redis's counter; one that says so (a stale or made-up last_seq)
        stands at the current seq, or it would drop the next turn as seen. When Redis has lost the
        counter (a restart), PostgreSQL's note can be behind what a client really saw, so a
        last_seq within reach of it is believed, and numbering goes on above it."""
        bus = self._hub.bus
        counter = bus.counter(conversation.id)
        if counter is not None:
            current = max(counter, conversation.last_seq)
            return current, None if last_seq is None else min(last_seq, current)
        current = conversation.last_seq
        if last_seq is not None and current < last_seq <= current + UNRECORDED_SEQ_SLACK:
            bus.raise_counter(conversation.id, last_seq)
            return last_seq, last_seq
        return current, None if last_seq is None else min(last_seq, current)

    def _message(self, request: UserMessage) -> None:
        attached = self._session_for(request.conversation_id)
        with self._hub.runtime.db.connection() as conn:
            try:
                # One transaction: a message the limits refuse is rolled back whole (its title, the
                # conversation's clock), and a message racing it on another socket waits for that
                # outcome at the unique index instead of being told TURN_IN_PROGRESS for a turn that
                # will never exist.
                with conn.transaction():
                    turn = conversations.start_turn(conn, request.conversation_id, request.content,
                                                    max_turns=attached.max_turns)
                    turns.set_quota_key(conn, turn.id, self._identity)
                    self._check_quotas(attached, request.conversation_id)
            except conversations.TurnInProgress:
                raise ProtocolError(Code.TURN_IN_PROGRESS, conversation_id=request.conversation_id) from None
            except conversations.TurnLimitReached:
                raise ProtocolError(Code.TURN_LIMIT, conversation_id=request.conversation_id) from None
            except conversations.ConversationGone:
                raise ProtocolError(Code.CONVERSATION_NOT_FOUND, conversation_id=request.conversation_id) from None
            except conversations.ChatbotGone:
                raise ProtocolError(Code.CHATBOT_NOT_FOUND, conversation_id=request.conversation_id) from None
        # Enqueued only after the user message is committed: the worker must find it.
        if attached.clock is not None:
            attached.clock.start(turn.assistant_message_id)
        try:
            self._hub.enqueue_turn(turn.id)
            self._hub.metrics.turn_started()
        except Exception as exc:
            if attached.clock is not None:
                attached.clock.stop()
            # Nobody will run it: take it back, so the client can simply send the message again.
            with self._hub.runtime.db.connection() as conn:
                conversations.withdraw_turn(conn, turn)
                conn.commit()
            if is_unavailable(exc):
                raise ProtocolError(Code.SERVICE_UNAVAILABLE, "The turn could not be queued; send it again later",
                                    conversation_id=request.conversation_id,
                                    retry_after=protocol.SERVICE_RETRY_AFTER) from None
            log.exception("could not enqueue turn %s", turn.id)
            raise ProtocolError(Code.INTERNAL_ERROR, "Could not start the turn",
                                conversation_id=request.conversation_id) from None

    def _check_quotas(self, attached: _Attached, conversation_id: str) -> None:
        """Counted only for a message that starts a turn (a retry refused as TURN_IN_PROGRESS uses none).
        The token budget is only looked at (the worker reserves per model call), and first, so a
        message refused for it uses none of the request quotas."""
        chatbot_id = attached.conversation.chatbot_id
        self._hub.token_budget.check(chatbot_id, self._identity, attached.token_budget,
                                     conversation_id=conversation_id)
        self._hub.request_limits.check(chatbot_id, self._identity, per_minute=attached.rate_limit,
                                       per_day=attached.daily_limit, conversation_id=conversation_id)

    def _cancel(self, request: Cancel) -> None:
        attached = self._session_for(request.conversation_id)
        with self._hub.runtime.db.connection() as conn:
            queued = conversations.cancel_queued_turn(conn, request.conversation_id)
            conn.commit()
            turn = queued or conversations.active_turn(conn, request.conversation_id)
            floor = conversations.last_seq(conn, request.conversation_id) if queued else 0
        if queued is not None:
            # No worker has it yet: close it here, so a lost task cannot block the conversation.
            floor = max(floor, attached.feed.last_seq or 0)
            seq = self._hub.bus.publish(queued.conversation_id,
                                        {**protocol.cancelled(), "message_id": queued.assistant_message_id},
                                        turn_start=True, floor=floor)
            with self._hub.runtime.db.connection() as conn:
                turns.record_ending(conn, turn_id=queued.id, conversation_id=queued.conversation_id,
                                            last_seq=seq, ending_seq=seq)
                conn.commit()
            self._hub.metrics.turn_finished("cancelled", None)
        elif turn is not None:
            self._hub.cancel_turn(turn.id)

    def _session_for(self, conversation_id: str) -> _Attached:
        attached = self._attached.get(conversation_id)
        if attached is None:
            raise ProtocolError(Code.NO_SESSION, conversation_id=conversation_id)
        return attached

    # -- events -----------------------------------------------------------------------------------

    def _error(self, exc: ProtocolError, conversation_id: str | None) -> None:
        self._hub.metrics.refused(exc)  # counted when it is a limit's refusal
        event = protocol.error_from(exc)
        attached = self._attached.get(conversation_id) if conversation_id else None
        if attached is not None:
            # An event only this socket sees carries the conversation's current seq without taking a
            # new one, so the numbering of the conversation's own events stays gap-free.
            event = {**event, "conversation_id": conversation_id, "seq": self._current_seq(attached)}
        elif conversation_id is not None:
            event["conversation_id"] = conversation_id
        self._outbox.put(event)

    def _current_seq(self, attached: _Attached) -> int:
        try:
            counter = self._hub.bus.current_seq(attached.conversation.id)
        except Exception:  # Redis is down: what this socket last delivered is still right
            counter = 0
        return max(counter, attached.conversation.last_seq, attached.feed.last_seq or 0)


def _has_ended(replay: Replay) -> bool:
    return any(event.get("type") in protocol.ENDINGS for event in replay.events)
