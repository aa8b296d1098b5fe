"""A scripted OpenAI / Azure OpenAI / Ollama Chat Completions server for end-to-end tests.

Tests queue replies (strict FIFO, one per chat-completions request) and read
back what was received. It is a real HTTP/1.1 server on loopback so the code
under test runs its own ``openai`` client, in any process, unchanged.

    with ScriptedLLM(api_key="sk-test") as llm:
        llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"query": "SELECT 1"}}])
        llm.reply_text("There is one row.")
        ...  # point the worker at llm.base_url (or llm.azure_endpoint)
        llm.wait_for_requests(2, endpoint="chat")
        llm.assert_complete()

`dialect="ollama"` answers as Ollama's OpenAI-compatible endpoint does (its chunk shapes and
usage), and serves its native `GET /api/tags` and `GET /api/version` too; the dialect can be
switched for a while on a running server (`using_dialect`).

Tests in other languages script it over HTTP instead (`/__script__/...`, tests/support/llm_control.py),
into the same queue, so `assert_complete` covers them too.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from tests.support.llm_http import (
    NO_REPLY_MESSAGE,
    Endpoint,
    LLMHTTPServer,
    RecordedRequest,
    Waker,
)
from tests.support.llm_script import (
    DIALECTS,
    OLLAMA_MODELS,
    Dialect,
    Gate,
    Reply,
    ToolCall,
    cut_reply,
    error_reply,
    held_reply,
    slow_reply,
    stall_reply,
    text_reply,
    tool_calls_reply,
)

__all__ = ["Gate", "NO_REPLY_MESSAGE", "RecordedRequest", "Reply", "ScriptedLLM", "ToolCall"]


class ScriptedLLM:
    """Programmable stand-in for OpenAI/Azure OpenAI; every method is safe to call from any thread."""

    def __init__(self, api_key: str | None = None, *, default_reply: Reply | None = None,
                 embedding_dimensions: int = 384, host: str = "127.0.0.1", dialect: Dialect = "openai",
                 ollama_models: Sequence[str] = OLLAMA_MODELS) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
        self.api_key = api_key
        self.default_reply = default_reply
        self.embedding_dimensions = embedding_dimensions
        self.dialect: Dialect = dialect  # read per request
        self.ollama_models = tuple(ollama_models)
        self._host = host
        self._cond = threading.Condition(threading.RLock())
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._waker: Waker | None = None  # exists only while started
        self._retired_wakers: list[Waker] = []  # replaced by reset() while in-flight handlers held them
        self._holders: dict[int, Waker] = {}  # id(request) -> the waker its unfinished handler holds
        self._httpd: LLMHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> ScriptedLLM:
        if self._httpd is not None:
            raise RuntimeError("ScriptedLLM already started")
        self._waker = Waker()
        self._httpd = LLMHTTPServer((self._host, 0), self)
        # A short poll interval keeps stop() fast; serve_forever has no other wake-up.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        waker = self._waker
        assert waker is not None
        waker.fire()  # releases stalled/slow streams
        httpd.shutdown()
        httpd.close_connections()  # unblocks handlers idling on keep-alive reads
        httpd.server_close()
        httpd.join_handlers(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            for old in [waker, *self._retired_wakers]:
                old.close()
            self._retired_wakers.clear()
            self._holders.clear()
            self._waker = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedLLM not started")
        return self._httpd.server_address[1]

    @property
    def azure_endpoint(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.azure_endpoint}/v1"

    # -- scripting ---------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        with self._cond:
            self._queue.extend(replies)

    def reply_text(self, text: str, *, chunks: int = 3, usage: tuple[int, int] | None = None,
                   report_usage: bool = True) -> Reply:
        """`report_usage=False`: no usage chunk (nor usage field) even when the client asks for one."""
        return self._push(text_reply(text, chunks=chunks, usage=usage, report_usage=report_usage))

    def reply_tool_calls(self, calls: Sequence[ToolCall | Mapping[str, Any]], *, text: str | None = None,
                         chunks: int = 3, usage: tuple[int, int] | None = None, report_usage: bool = True) -> Reply:
        return self._push(tool_calls_reply(calls, text=text, chunks=chunks, usage=usage, report_usage=report_usage))

    def reply_error(self, status: int, message: str | None = None, *, retry_after: float | None = None,
                    retry_after_ms: float | None = None, type: str | None = None, code: str | None = None,
                    param: str | None = None) -> Reply:
        return self._push(error_reply(status, message, retry_after=retry_after, retry_after_ms=retry_after_ms,
                                      type=type, code=code, param=param))

    @contextlib.contextmanager
    def answering_every_request(self, reply: Reply) -> Iterator[None]:
        """`reply` for every request the queue has nothing for, until the block ends (a provider that
        keeps failing, however often the client tries)."""
        with self._cond:
            previous, self.default_reply = self.default_reply, reply
        try:
            yield
        finally:
            with self._cond:
                self.default_reply = previous

    @contextlib.contextmanager
    def using_dialect(self, dialect: Dialect) -> Iterator[None]:
        """Answer as `dialect` until the block ends (the session's server, for one test)."""
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        with self._cond:
            previous, self.dialect = self.dialect, dialect
        try:
            yield
        finally:
            with self._cond:
                self.dialect = previous

    def reply_stall(self, after_chunks: int = 2, text: str | None = None) -> Reply:
        return self._push(stall_reply(after_chunks, text))

    def reply_cut(self, after_chunks: int = 2, text: str | None = None) -> Reply:
        return self._push(cut_reply(after_chunks, text))

    def reply_held(self, text: str, gate: Gate | None = None, *, after_chunks: int = 2, chunks: int = 5,
                   usage: tuple[int, int] | None = None) -> Gate:
        """A streamed answer that pauses after `after_chunks` events until the test opens the gate
        (returned; pass one to share it between replies). Holds a turn "in progress" without timing."""
        gate = gate or Gate()
        self._push(held_reply(text, gate, after_chunks=after_chunks, chunks=chunks, usage=usage))
        return gate

    def wait_for_held(self, n: int = 1, timeout: float = 10.0) -> bool:
        """True once `n` requests are waiting at their gate."""
        return self._wait(lambda: sum(r.held for r in self._requests) >= n, timeout)

    def reply_slow(self, text: str, delay_per_chunk: float, *, chunks: int = 5,
                   usage: tuple[int, int] | None = None) -> Reply:
        return self._push(slow_reply(text, delay_per_chunk, chunks=chunks, usage=usage))

    def _push(self, reply: Reply) -> Reply:
        self.enqueue(reply)
        return reply

    def pending_replies(self) -> list[Reply]:
        with self._cond:
            return list(self._queue)

    def reset(self) -> None:
        """Forget queued replies and records; release in-flight stalls. Keeps default_reply.

        Cheap when nothing is in flight (the usual case between tests): the waker is replaced, and
        the old one fired, only while some handler still holds it."""
        with self._cond:
            self._queue.clear()
            self._requests.clear()
            old = self._waker
            if old is not None and old in self._holders.values():
                self._waker = Waker()
                self._retired_wakers.append(old)
            else:
                old = None
        if old is not None:
            old.fire()

    # -- inspection --------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == "chat"]

    def last_request(self, endpoint: Endpoint | None = None) -> RecordedRequest:
        matching = [r for r in self.requests if endpoint is None or r.endpoint == endpoint]
        if not matching:
            raise AssertionError(f"scripted LLM: no {endpoint or ''} request received".replace("  ", " "))
        return matching[-1]

    def wait_for_requests(self, n: int, timeout: float = 5.0,
                          endpoint: Endpoint | None = None) -> list[RecordedRequest]:
        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if endpoint is None or r.endpoint == endpoint]

        if not self._wait(lambda: len(matching()) >= n, timeout):
            raise TimeoutError(f"scripted LLM: expected {n} requests within {timeout}s, got {len(matching())}")
        with self._cond:
            return matching()

    def wait_for_stall(self, timeout: float = 5.0) -> bool:
        """True once some request has sent its scripted chunks and is now stalled."""
        return self._wait(lambda: any(r.stalled for r in self._requests), timeout)

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        """True once some client closed its connection before the response was finished."""
        return self._wait(lambda: any(r.client_disconnected for r in self._requests), timeout)

    def assert_complete(self) -> None:
        with self._cond:
            problems = [f"unconsumed reply: {r.describe()}" for r in self._queue]
            problems += [f"unexpected request: {r.method} {r.path} (status {r.status})"
                         for r in self._requests if r.unexpected]
        if problems:
            raise AssertionError("scripted LLM script not complete:\n  " + "\n  ".join(problems))

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once `predicate` (called under the lock, on every change of the records) holds."""
        return self._wait(predicate, timeout)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    # -- ScriptHost: called from handler threads ----------------------------------
    def record_request(self, request: RecordedRequest) -> Waker:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            assert self._waker is not None, "request handled after stop()"
            self._holders[id(request)] = self._waker
            return self._waker

    def update_request(self, request: RecordedRequest, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(request, name, value)
            if "finished_at" in changes:  # the handler is done with its waker
                self._release_waker(self._holders.pop(id(request), None))
            self._cond.notify_all()

    def _release_waker(self, waker: Waker | None) -> None:
        # A retired waker nobody holds any more is closed now, so a long session does not pile up sockets.
        if waker is not None and waker in self._retired_wakers and waker not in self._holders.values():
            self._retired_wakers.remove(waker)
            waker.close()

    def take_reply(self) -> Reply | None:
        with self._cond:
            return self._queue.popleft() if self._queue else self.default_reply
