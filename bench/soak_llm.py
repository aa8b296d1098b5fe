"""The scripted LLM for mixed traffic: it picks each answer from the request, not from a queue.

The soak (bench/soak.py) runs text, SQL, RAG, cancelled and resumed turns at once from many sockets; a FIFO
script cannot know which request comes next. Here the user's message names its kind (`text:`, `sql:`, `rag:`,
`long:`), and the answer is fixed per kind, so the client can check every delta it gets:

- `text:`  20 words streamed at the soak's token rate (TEXT);
- `sql:`   an `execute_sql` call reading three products; the request after the tool result gets SQL_ANSWER;
- `rag:`   RAG_FOUND when the system prompt carries retrieved passages, RAG_MISSING when it does not;
- `long:`  60 words at the token rate (LONG), long enough to cancel or to drop the socket mid-stream.

Anything else is answered with UNROUTED, which the client counts as an error.
"""
from __future__ import annotations

import threading

from tests.support.llm_script import Reply, slow_reply, text_reply, tool_calls_reply
from tests.support.llm_server import RecordedRequest, ScriptedLLM

TEXT = " ".join(f"t{i:02d}" for i in range(1, 21))
LONG = " ".join(f"l{i:02d}" for i in range(1, 61))
SQL_ANSWER = "The three products are listed above."
SQL = "SELECT name, price FROM products ORDER BY id LIMIT 3"
RAG_FOUND = "The passages say what you asked."
RAG_MISSING = "No passage reached the prompt."
UNROUTED = "unrouted request"
KEEP_REQUESTS = 500  # recorded requests kept (a long soak must not grow this process without bound)


class RoutedLLM(ScriptedLLM):
    def __init__(self, api_key: str | None = None, *, delay_per_chunk: float = 0.02, **kwargs):
        super().__init__(api_key, **kwargs)
        self.delay_per_chunk = delay_per_chunk
        self._current = threading.local()  # the request this handler thread is answering

    def record_request(self, request: RecordedRequest):
        self._current.request = request
        waker = super().record_request(request)
        with self._cond:
            if len(self._requests) > KEEP_REQUESTS:
                del self._requests[:len(self._requests) - KEEP_REQUESTS]
        return waker

    def take_reply(self) -> Reply | None:
        request = getattr(self._current, "request", None)
        return route(request.messages if request is not None else [], self.delay_per_chunk)


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def route(messages: list[dict], delay: float) -> Reply:
    if messages and messages[-1].get("role") == "tool":
        return text_reply(SQL_ANSWER, chunks=4)
    user = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    if "text:" in user:
        return slow_reply(TEXT, delay, chunks=20)
    if "long:" in user:
        return slow_reply(LONG, delay, chunks=60)
    if "sql:" in user:
        return tool_calls_reply([{"name": "execute_sql", "arguments": {"sql": SQL, "description": "three products"}}])
    if "rag:" in user:
        system = _text(messages[0]) if messages else ""
        return text_reply(RAG_FOUND if "<<<PASSAGE" in system else RAG_MISSING, chunks=4)
    return text_reply(UNROUTED, chunks=2)
