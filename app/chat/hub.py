"""The web process's chat services: the stream bus, the relay and the Celery client, built once."""
from __future__ import annotations

import logging
import threading
from functools import cached_property

from app.chat import turns
from app.chat.cancel_signal import request_cancel
from app.chat.feed import Feed
from app.chat.keepalive import ConversationKeeper
from app.chat.request_limits import RequestLimits
from app.chat.token_budget import TokenBudget
from app.jobs import enqueue_turn
from app.metrics import NO_METRICS, Metrics
from app.runtime import Runtime
from app.streaming.bus import StreamBus
from app.streaming.relay import Relay

log = logging.getLogger(__name__)

# Conversations caught up per Redis round trip after the relay reconnected.
CATCH_UP_BATCH = 500


class ChatHub:
    def __init__(self, runtime: Runtime, metrics: Metrics = NO_METRICS):
        self.runtime = runtime
        self.metrics = metrics
        self.settings = runtime.settings
        self._lock = threading.Lock()

    @property
    def bus(self) -> StreamBus:
        return self.runtime.bus

    @cached_property
    def relay(self) -> Relay:
        with self._lock:
            return Relay.from_url(self.settings.redis_url, on_reconnect=self._catch_up)

    @cached_property
    def conversation_keeper(self) -> ConversationKeeper:
        """Renews the non-persisted conversations this process's sockets hold."""
        with self._lock:
            return ConversationKeeper(self.runtime.db, self.settings.ephemeral_conversation_grace_seconds)

    @cached_property
    def request_limits(self) -> RequestLimits:
        return RequestLimits(self.runtime.redis)

    @cached_property
    def token_budget(self) -> TokenBudget:
        return TokenBudget.for_turns(self.runtime.redis, self.settings.turn_timeout_seconds)

    def enqueue_turn(self, turn_id: str) -> None:
        enqueue_turn(self.runtime.celery, self.runtime.redis, turn_id, self.settings.celery_visibility_timeout)

    def cancel_turn(self, turn_id: str) -> None:
        request_cancel(self.runtime.redis, turn_id)

    def recover_ending(self, message_id: str) -> dict | None:
        """A finished turn's ending as stored, with its whole answer in `content` (None while it runs)."""
        with self.runtime.db.connection() as conn:
            return turns.stored_ending(conn, message_id)

    def _catch_up(self, feeds: list[Feed]) -> None:
        """Pub/sub dropped what was published while the relay was away: read it from the buffers."""
        for start in range(0, len(feeds), CATCH_UP_BATCH):
            batch = [feed for feed in feeds[start:start + CATCH_UP_BATCH] if feed.last_seq is not None]
            try:
                found = self.bus.ranges_after([(feed.conversation_id, feed.last_seq) for feed in batch])
            except Exception:
                log.exception("could not catch conversations up after a Redis reconnect")
                return
            for feed, events in zip(batch, found):
                feed.catch_up(events)

    def close(self) -> None:
        keeper = self.__dict__.pop("conversation_keeper", None)
        if keeper is not None:
            keeper.stop()
        relay = self.__dict__.pop("relay", None)
        if relay is not None:
            relay.close()
