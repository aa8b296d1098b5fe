"""The soak's traffic: one socket per simulated user, two conversations, one turn at a time, each turn
checked whole against the fixed answers of bench/soak_llm.py. Imported by bench/soak.py after gevent patching."""
from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass, field

import gevent
import websocket

from bench import soak_llm
from bench.turns import ws_url

NAMESPACE = "bench"
RAG_QUESTIONS = ("How long do I have to return a lamp?", "How should I clean my brass desk lamp?",
                 "How long does delivery inside the EU take?")
KINDS = {"text": 4, "sql": 2, "rag": 2, "cancel": 1, "reconnect": 1}
ENDINGS = ("done", "cancelled", "error")
TURN_TIMEOUT = 60


@dataclass
class Sample:
    kind: str
    started: float            # seconds since the traffic started
    ttfd: float | None = None  # send to first delta
    total: float | None = None
    error: str | None = None
    note: str | None = None


@dataclass
class Totals:
    samples: list[Sample] = field(default_factory=list)


class Session:
    """One user's socket, two conversations, one turn at a time."""

    def __init__(self, index: int, stack, token: str, totals: Totals, t0: float, deadline: float, seed: int):
        self.index = index
        self.url = ws_url(stack.web, token)
        self.totals = totals
        self.t0 = t0
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.ws: websocket.WebSocket | None = None
        self.conversations: dict[str, str] = {}
        self.last_seq: dict[str, int] = {}

    # -- socket -----------------------------------------------------------------------------------------
    def connect(self) -> None:
        self.ws = websocket.create_connection(self.url, timeout=30, suppress_origin=True)
        for bot in ("soak", "soak-rag"):
            frame = {"type": "start_chat", "chatbot": bot, "namespace": NAMESPACE}
            if bot in self.conversations:
                frame["conversation_id"] = self.conversations[bot]
            self.ws.send(json.dumps(frame))
            started = self.until_started()
            self.conversations[bot] = started["conversation_id"]

    def until_started(self) -> dict:
        while True:
            event = json.loads(self.ws.recv())
            if event.get("type") == "chat_started":
                return event
            if event.get("type") == "error":
                raise RuntimeError(f"start_chat: {event.get('code')}")

    def resume(self, bot: str, last_seq: int) -> None:
        """A new socket re-attached to both conversations, `bot`'s from `last_seq`."""
        self.ws = websocket.create_connection(self.url, timeout=30, suppress_origin=True)
        other = "soak-rag" if bot == "soak" else "soak"
        self.ws.send(json.dumps({"type": "start_chat", "chatbot": other, "namespace": NAMESPACE,
                                 "conversation_id": self.conversations[other]}))
        self.until_started()
        self.ws.send(json.dumps({"type": "start_chat", "chatbot": bot, "namespace": NAMESPACE,
                                 "conversation_id": self.conversations[bot], "last_seq": last_seq}))
        started = self.until_started()
        if not started.get("resumed"):
            raise RuntimeError("resume not acknowledged")

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close(timeout=2)
            self.ws.shutdown()

    def events_until_end(self, conversation: str, events: list[dict], sample: Sample, sent: float,
                         stop_after_deltas: int | None = None, on_first_delta=None) -> str:
        """Read `conversation`'s events into `events` until its ending (returned), or until
        `stop_after_deltas` deltas arrived ("stopped")."""
        timer = gevent.Timeout(TURN_TIMEOUT)
        timer.start()
        deltas = 0
        try:
            self.ws.settimeout(None)
            while True:
                event = json.loads(self.ws.recv())
                if event.get("conversation_id") != conversation:
                    continue
                events.append(event)
                kind = event.get("type")
                if kind == "content":
                    deltas += 1
                    if sample.ttfd is None:
                        sample.ttfd = time.perf_counter() - sent
                        if on_first_delta is not None:
                            on_first_delta()
                    if stop_after_deltas is not None and deltas >= stop_after_deltas:
                        return "stopped"
                if kind in ENDINGS:
                    sample.total = time.perf_counter() - sent
                    if kind == "error":
                        sample.error = f"error ending {event.get('code')}"
                    return kind
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            sample.error = f"no ending within {TURN_TIMEOUT} s"
            return "timeout"
        finally:
            timer.close()

    # -- one turn of each kind -------------------------------------------------------------------------
    def turn(self, kind: str) -> Sample:
        sample = Sample(kind, time.monotonic() - self.t0)
        bot = "soak-rag" if kind == "rag" else "soak"
        conversation = self.conversations[bot]
        content = {"text": "text: say twenty words", "sql": "sql: list three products",
                   "rag": "rag: " + self.rng.choice(RAG_QUESTIONS), "cancel": "long: a long answer",
                   "reconnect": "long: a long answer"}[kind]
        events: list[dict] = []
        sent = time.perf_counter()
        self.ws.send(json.dumps({"type": "message", "conversation_id": conversation, "content": content}))
        if kind == "cancel":
            def cancel() -> None:
                self.ws.send(json.dumps({"type": "cancel", "conversation_id": conversation}))
            ending = self.events_until_end(conversation, events, sample, sent, on_first_delta=cancel)
            if ending == "done":
                sample.note = "ended before the cancel arrived"
            elif ending != "cancelled" and sample.error is None:
                sample.error = f"cancel ended {ending}"
        elif kind == "reconnect":
            ending = self.events_until_end(conversation, events, sample, sent,
                                           stop_after_deltas=self.rng.randint(1, 40))
            if ending == "stopped":
                last = max(e["seq"] for e in events if isinstance(e.get("seq"), int))
                self.ws.abort()  # the network went away mid-answer
                self.resume(bot, last)
                ending = self.events_until_end(conversation, events, sample, sent)
            self.check_text(events, ending, soak_llm.LONG, sample)
        else:
            ending = self.events_until_end(conversation, events, sample, sent)
            expected = {"text": soak_llm.TEXT, "sql": soak_llm.SQL_ANSWER, "rag": soak_llm.RAG_FOUND}[kind]
            self.check_text(events, ending, expected, sample)
            if kind == "sql" and sample.error is None:
                results = [e for e in events if e.get("type") == "query_result"]
                if len(results) != 1 or results[0].get("row_count") != 3:
                    sample.error = f"sql: {len(results)} query_result events"
        seqs = [e["seq"] for e in events if isinstance(e.get("seq"), int)]
        if len(seqs) != len(set(seqs)) and sample.error is None:
            sample.error = "an event arrived twice"
        return sample

    @staticmethod
    def check_text(events: list[dict], ending: str, expected: str, sample: Sample) -> None:
        if sample.error is not None:
            return
        if ending != "done":
            sample.error = f"ended {ending}"
            return
        text = "".join(e.get("delta", "") for e in events if e.get("type") == "content")
        if text != expected:
            sample.error = "rag: no passage in the prompt" if text == soak_llm.RAG_MISSING else "text differs"

    def run(self) -> None:
        try:
            self.connect()
        except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure
            self.totals.samples.append(Sample("connect", time.monotonic() - self.t0, error=f"{type(exc).__name__}"))
            return
        kinds, weights = list(KINDS), list(KINDS.values())
        while time.monotonic() < self.deadline:
            kind = self.rng.choices(kinds, weights)[0]
            try:
                sample = self.turn(kind)
            except Exception as exc:  # noqa: BLE001
                sample = Sample(kind, time.monotonic() - self.t0, error=f"{type(exc).__name__}: {exc}"[:120])
                self.close()
                try:
                    self.connect()
                except Exception:  # noqa: BLE001
                    self.totals.samples.append(sample)
                    return
            self.totals.samples.append(sample)
            gevent.sleep(self.rng.uniform(0.1, 0.5))  # a user's pause between messages
        self.close()
