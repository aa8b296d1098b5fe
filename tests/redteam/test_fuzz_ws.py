"""WebSocket fuzzing over real sockets: random bytes, random text, random JSON, JSON nested past
the parser's depth, and structure-aware mutations of valid frames (fields dropped, added, or given
values of the wrong type, huge numbers, odd Unicode). No event may carry INTERNAL_ERROR, every
frame is answered in order (a sentinel frame after each batch proves the socket still works), and
afterwards a fresh socket still gets an answer. The seed is printed; REDTEAM_SEED=<n> replays it."""
from __future__ import annotations

import json
import os
import random
import uuid
from collections import Counter

import websocket

from tests.conftest import token_for
from tests.redteam.fuzz_values import Fuzz
from tests.support.chat_client import ChatClient
from tests.support.llm_script import text_reply
from tests.support.processes import wait_until

BATCH = 10
FRAME_TYPES = ("start_chat", "message", "cancel", "auth", "ping", "resume", "", "START_CHAT")


def _seed() -> int:
    return int(os.environ.get("REDTEAM_SEED") or random.SystemRandom().randrange(2**32))


def _valid(fz: Fuzz, conversation: str | None, user: str) -> dict:
    conversation = conversation or str(uuid.uuid4())
    return fz.pick((
        {"type": "start_chat", "chatbot": "shop", "namespace": "tests"},
        {"type": "start_chat", "chatbot": "shop", "namespace": "tests", "conversation_id": conversation, "last_seq": 0},
        {"type": "message", "conversation_id": conversation, "content": "hello"},
        {"type": "cancel", "conversation_id": conversation},
        {"type": "auth", "token": token_for(user)},
    ))


def _mutate(fz: Fuzz, frame: dict) -> dict | list:
    frame = dict(frame)
    for _ in range(fz.rng.randrange(1, 4)):
        action = fz.rng.randrange(7)
        keys = list(frame)
        if action == 0 and keys:
            del frame[fz.pick(keys)]
        elif action == 1:
            frame[fz.text(12)] = fz.value()
        elif action == 2 and keys:
            frame[fz.pick(keys)] = fz.value()
        elif action == 3:
            frame["type"] = fz.pick(FRAME_TYPES) if fz.chance(0.7) else fz.text(20)
        elif action == 4:
            frame[fz.pick(keys or ["last_seq"])] = fz.pick((2**53, 2**64, -2**63, 10**400, 1e308, -0.0, True))
        elif action == 5:
            frame[fz.pick(keys or ["content"])] = fz.pick(("x" * 40_000, "\u0000", "\ud800", "😀" * 9000, "\u202e"))
        else:
            return [frame] if fz.chance(0.5) else frame
    return frame


def _frame(fz: Fuzz, conversation: str | None, user: str) -> str | bytes:
    kind = fz.rng.randrange(10)
    if kind == 0:
        return fz.raw_bytes()
    if kind == 1:
        return fz.text(200)
    if kind == 2:
        return fz.json_text(fz.value())
    if kind == 3:
        return fz.deep()
    if kind == 4:
        return json.dumps(_valid(fz, conversation, user))[:-fz.rng.randrange(1, 10)]   # truncated JSON
    text = fz.json_text(_mutate(fz, _valid(fz, conversation, user)))
    if fz.chance(0.1):   # JSON escapes of lone surrogates and NULs, which json.dumps never writes raw
        text = text.replace('"hello"', fz.pick(('"\\ud800"', '"a\\u0000b"', '"\\udfff\\ud800"')))
    return text


class Socket:
    """A fuzzing client that reconnects when the server closes on it, counting each close."""

    def __init__(self, web: str, user: str):
        self.web, self.user = web, user
        self.closes = 0
        self.conversation: str | None = None
        self.connect()

    def connect(self) -> None:
        self.client = ChatClient(self.web, token_for(self.user))
        started = self.client.start_chat("shop", namespace="tests")
        assert started["type"] == "chat_started", started
        self.conversation = started["conversation_id"]

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self.client.ws.send_binary(frame)
        else:
            # A lone surrogate cannot be encoded as UTF-8: send the bytes a careless client would.
            self.client.ws.send(frame.encode("utf-8", "surrogatepass"), opcode=websocket.ABNF.OPCODE_TEXT)

    def close(self) -> None:
        self.client.close()


def test_random_and_mutated_frames_never_get_an_internal_error(web, test_chatbots, llm, owner_conn, scale, report):
    seed = _seed()
    fz = Fuzz(seed)
    user = str(uuid.UUID(int=fz.rng.getrandbits(128), version=4))
    codes: Counter = Counter()
    failures: list[str] = []
    events = 0
    closed_after: Counter = Counter()   # why the server closed a socket, judged from its batch
    sockets = [Socket(web, user) for _ in range(3)]
    with llm.answering_every_request(text_reply("fuzzed", chunks=1)):
        sent = 0
        batch_no = 0
        while sent < scale.ws_fuzz_cases:
            batch_no += 1
            sock = fz.pick(sockets)
            frames = [_frame(fz, sock.conversation, user) for _ in range(min(BATCH, scale.ws_fuzz_cases - sent))]
            sentinel = f"sentinel-{batch_no}"
            try:
                for frame in frames:
                    sock.send(frame)
                sock.client.send({"type": sentinel})
                got = sock.client.until(lambda e: e.get("type") == "error" and sentinel in e.get("error", ""), 30)
            except (websocket.WebSocketConnectionClosedException, ConnectionError, BrokenPipeError) as exc:
                sock.closes += 1
                codes[f"closed: {type(exc).__name__}"] += 1
                closed_after[_close_cause(frames)] += 1
                sock.close()
                sock.connect()
                got = []
            sent += len(frames)
            events += len(got)
            for event in got:
                if event.get("type") == "error" and sentinel not in event.get("error", ""):
                    codes[event.get("code")] += 1
                if event.get("code") == "INTERNAL_ERROR" or "INTERNAL_ERROR" in json.dumps(event):
                    failures.append(f"batch {batch_no}: {event} after frames {[f[:200] for f in frames]!r}")
        # Turns the fuzz started must end while the scripted model still answers everything.
        wait_until(lambda: _unfinished_turns(owner_conn, user) == 0, 60, "the fuzzed turns to end")
    for sock in sockets:
        sock.close()

    fresh = ChatClient(web, token_for(user))
    try:
        conversation = fresh.start_chat("shop", namespace="tests")["conversation_id"]
        llm.reply_text("still healthy")
        last = fresh.ask(conversation, "are you there?")[-1]
    finally:
        fresh.close()
    codes.pop(None, None)
    closes = sum(s.closes for s in sockets)
    causes = ", ".join(f"{cause} {n}" for cause, n in sorted(closed_after.items()))
    note = f"seed {seed}; {events} events; closes {closes} ({causes}); codes " + ", ".join(
        f"{c}: {n}" for c, n in sorted(codes.items(), key=lambda item: str(item[0])))
    report.add("fuzz", "WebSocket frames", scale.ws_fuzz_cases, scale.ws_fuzz_cases - len(failures), len(failures),
               note)
    print(f"WebSocket fuzz seed {seed} (replay with REDTEAM_SEED={seed})")
    assert last["type"] == "done", last
    assert not failures, f"seed {seed}:\n" + "\n".join(failures[:10])


def _close_cause(frames: list) -> str:
    """RFC 6455 has the server fail the connection on a text frame that is not UTF-8; flask-sock also
    closes on a frame past its hard limit (WS_MAX_FRAME_BYTES x 16). Anything else is reported as such."""
    if any(isinstance(f, str) and not _utf8(f) for f in frames):
        return "text not UTF-8"
    if max(len(f.encode("utf-8") if isinstance(f, str) else f) for f in frames) > 65536 * 16:
        return "oversized frame"
    return "other"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _unfinished_turns(owner_conn, user: str) -> int:
    return owner_conn.execute(
        "select count(*) from ai.turns t join ai.conversations c on c.id = t.conversation_id "
        "where c.user_id = %s and t.status in ('queued', 'running')", (user,)).fetchone()[0]
