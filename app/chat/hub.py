"""The web process's chat services: the stream bus, the relay and the Celery client, built once."""
from __future__ import annotations

import threading
from functools import cached_property

from app.runtime import Runtime
from app.streaming.bus import StreamBus
from app.streaming.relay import Relay
from workers.celery_app import QUEUE, RUN_TURN
from workers.cancellation import request_cancel


class ChatHub:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self._lock = threading.Lock()

    @property
    def bus(self) -> StreamBus:
        return self.runtime.bus

    @cached_property
    def relay(self) -> Relay:
        with self._lock:
            return Relay(self.settings.redis_url)

    def enqueue_turn(self, turn_id: str) -> None:
        self.runtime.celery.send_task(RUN_TURN, args=[turn_id], queue=QUEUE)

    def cancel_turn(self, turn_id: str) -> None:
        request_cancel(self.runtime.redis, turn_id)

    def close(self) -> None:
        relay = self.__dict__.pop("relay", None)
        if relay is not None:
            relay.close()
