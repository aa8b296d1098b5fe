"""One user turn as an iterator of typed events: `for event in chat.ask(conversation_id, text)`.

The iterator ends after the turn's ending (`Done`, `Cancelled` or `Error`, yielded last). It is an
object, not a generator, so an exception raised while it waits (Ctrl-C) leaves it usable: catch
it, call `turn.cancel()`, and go on iterating to the `Cancelled`. `async for` works too.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fluxbase_sdk import errors
from fluxbase_sdk.events import ChatEvent, Content, QueryResult


class Turn:
    def __init__(self, conversation_id: str, *, timeout: float | None, cancel: Callable[[str], None],
                 release: Callable[[Turn], None], skip_message: str | None = None):
        self.conversation_id = conversation_id
        self.timeout = timeout                # longest wait for the next event; None: no limit
        self.events: list[ChatEvent] = []     # every event yielded so far
        self.ending: ChatEvent | None = None
        self._text: list[str] = []
        self._text_of: str | None = None
        self._skip_message = skip_message     # a turn still streaming when this one was asked
        self._cancel = cancel
        self._release = release
        self._cond = threading.Condition()
        self._queue: deque[ChatEvent] = deque()
        self._failure: errors.FluxbaseError | None = None
        self._async_wakers: list[Callable[[], None]] = []
        self._finished = False
        self.started = False                  # an event of the server's turn arrived (set by the chat)

    # -- fed by the chat's reader thread ----------------------------------------------------------

    def wants(self, event: ChatEvent) -> bool:
        return not (self._skip_message and event.message_id == self._skip_message)

    def push(self, event: ChatEvent) -> None:
        with self._cond:
            self._queue.append(event)
            self._wake()

    def fail(self, failure: errors.FluxbaseError) -> None:
        with self._cond:
            if self._failure is None:
                self._failure = failure
            self._wake()

    def _wake(self) -> None:
        self._cond.notify_all()
        wakers, self._async_wakers = self._async_wakers, []
        for wake in wakers:
            wake()

    # -- what callers read ------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The answer's text so far (the stored answer, once a recovered ending brought it)."""
        return "".join(self._text)

    @property
    def query_results(self) -> list[QueryResult]:
        return [e for e in self.events if isinstance(e, QueryResult)]

    @property
    def done(self) -> bool:
        return self.ending is not None

    def cancel(self) -> None:
        """Ask the server to stop this turn; the iterator then ends with `Cancelled` (or the turn's
        own ending, when it finished first)."""
        self._cancel(self.conversation_id)

    def wait(self, timeout: float | None = None) -> ChatEvent:
        """Read the turn to its end and return the ending event."""
        if timeout is not None:
            self.timeout = timeout
        for _ in self:
            pass
        assert self.ending is not None
        return self.ending

    def close(self) -> None:
        """Stop listening (the turn goes on at the server). Iterating to the end does this too."""
        if not self._finished:
            self._finished = True
            self._release(self)

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- iteration --------------------------------------------------------------------------------

    def __iter__(self) -> Turn:
        return self

    def __next__(self) -> ChatEvent:
        if self.ending is not None:
            self.close()
            raise StopIteration
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with self._cond:
            while not self._queue and self._failure is None:
                # Short waits: a signal handler (Ctrl-C) runs between them even where a long
                # wait would not be interrupted.
                remaining = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if remaining <= 0:
                    raise self._timed_out()
                self._cond.wait(remaining)
            event = self._queue.popleft() if self._queue else None
        return self._deliver(event)

    def __aiter__(self) -> Turn:
        return self

    async def __anext__(self) -> ChatEvent:
        if self.ending is not None:
            self.close()
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        while True:
            with self._cond:
                if self._queue or self._failure is not None:
                    event = self._queue.popleft() if self._queue else None
                    break
                ready = loop.create_future()
                self._async_wakers.append(lambda: loop.call_soon_threadsafe(_resolve, ready))
            wait = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(ready, wait)
            except asyncio.TimeoutError:
                raise self._timed_out() from None
        return self._deliver(event)

    def _timed_out(self) -> errors.TimeoutError:
        return errors.TimeoutError(f"no event of conversation {self.conversation_id} within {self.timeout:g} s",
                                   code=errors.TIMEOUT)

    def _deliver(self, event: ChatEvent | None) -> ChatEvent:
        # Outside the condition: close() takes the chat's lock, which the reader holds while pushing.
        if event is None:
            self.close()
            assert self._failure is not None
            raise self._failure
        self._record(event)
        if self.ending is not None:
            self.close()
        return event

    def _record(self, event: ChatEvent) -> None:
        self.events.append(event)
        if isinstance(event, Content):
            if event.message_id != self._text_of:
                # A new attempt of the turn (a new message id) starts its text afresh.
                self._text_of, self._text = event.message_id, []
            self._text.append(event.delta)
        if event.ending:
            self.ending = event
            content = getattr(event, "content", None)
            if getattr(event, "recovered", False) and isinstance(content, str):
                self._text = [content]


def _resolve(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


__all__ = ["Turn"]
