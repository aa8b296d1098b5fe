"""Idle sockets held by one web process: open 10,000 WebSockets, each with a started conversation
(`start_chat` answered by `chat_started`), keep them idle but answering the server's pings (WS_PING_SECONDS,
25 s; a client missing two is closed), and measure what they cost and whether the process still serves.

    .venv/bin/python -m bench.idle                        # 10,000 sockets, held 60 s
    .venv/bin/python -m bench.idle --sockets 10000 --hold 60 --open-parallel 200

The web process is one gunicorn gevent worker with `--worker-connections` (and WEB_WORKER_CONNECTIONS) above
the socket count. Reported: the time to open them all, the resident memory (VmRSS) of the gunicorn *worker*
before and after and KB per socket, a fresh turn on a new socket (time to first delta and to `done`, from the
send) with no idle sockets, with all of them open, and again after the hold, how many idle sockets were still
open after at least --hold seconds, and how many of those answered a probe frame (an unknown frame type, which
the server answers with an UNKNOWN_TYPE error).

Goal (issue 7): all 10,000 stay open and the fresh turn still answers promptly.

The idle clients are websocket-client sockets, which do not offer compression; --deflate uses a small wsproto
client that offers permessage-deflate as browsers do, and the server accepts it: each socket then also holds
zlib state, so that figure is the one to size a browser-facing deployment with.

File descriptors: this process holds one per socket and the web process inherits this process's limit, so the
soft RLIMIT_NOFILE is raised up to the hard limit here; with a hard limit below --sockets + 1000, raise it
first (`ulimit -Hn 65536` as root, or /etc/security/limits.conf) and run again. Sockets are opened
--open-parallel at a time so gunicorn's listen backlog (2048) is never overrun.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.lock  # noqa: E402
import websocket  # noqa: E402
from websocket import ABNF  # noqa: E402
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto import events as wsevents  # noqa: E402
from wsproto.extensions import PerMessageDeflate  # noqa: E402

from bench.stack import (  # noqa: E402
    gunicorn_worker_pid,
    log_size,
    open_fds,
    rss_kb,
    running_stack,
    summarize_log,
)
from bench.turns import Turn, close_all, open_turn, run_turn, ws_url  # noqa: E402

PROBE = json.dumps({"type": "bench_probe"})


class DeflateClient:
    """A minimal WebSocket client on wsproto that offers permessage-deflate, as browsers do (websocket-client
    cannot); it has the few websocket-client methods this benchmark uses."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.pending: collections.deque = collections.deque()
        self._text: list[str] = []
        self.sock.sendall(self.conn.send(wsevents.Request(host=parts.netloc, target=f"{parts.path}?{parts.query}",
                                                          extensions=[PerMessageDeflate()])))
        while True:
            event = self._next()
            if isinstance(event, wsevents.AcceptConnection):
                self.deflate = bool(event.extensions)
                return
            if isinstance(event, (wsevents.RejectConnection, wsevents.RejectData)):
                raise ConnectionError(f"upgrade refused: {getattr(event, 'status_code', '')}")

    def _next(self):
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.conn.receive_data(data)
            self.pending.extend(self.conn.events())
        return self.pending.popleft()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def send(self, text: str) -> None:
        self.sock.sendall(self.conn.send(wsevents.Message(data=text)))

    def recv_data(self, control_frame: bool = True) -> tuple[int, bytes]:
        while True:
            event = self._next()
            if isinstance(event, wsevents.Ping):
                self.sock.sendall(self.conn.send(event.response()))
                return ABNF.OPCODE_PING, bytes(event.payload)
            if isinstance(event, wsevents.TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    text, self._text = "".join(self._text), []
                    return ABNF.OPCODE_TEXT, text.encode()
            elif isinstance(event, wsevents.CloseConnection):
                with contextlib.suppress(Exception):
                    self.sock.sendall(self.conn.send(event.response()))
                return ABNF.OPCODE_CLOSE, int(event.code).to_bytes(2, "big") + (event.reason or "").encode()

    def recv(self) -> str:
        while True:
            opcode, data = self.recv_data()
            if opcode == ABNF.OPCODE_TEXT:
                return data.decode()
            if opcode == ABNF.OPCODE_CLOSE:
                raise ConnectionError("closed by the server")

    def close(self, timeout: float = 1) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    abort = shutdown


@dataclass
class Idle:
    index: int
    ws: websocket.WebSocket | None = None
    conversation_id: str | None = None
    open_error: str | None = None
    opened_at: float | None = None
    closed_at: float | None = None
    close_reason: str | None = None
    pings: int = 0
    probe_answered: bool = False

    @property
    def open(self) -> bool:
        return self.opened_at is not None and self.closed_at is None


def hold_socket(idle: Idle, url: str, gate: gevent.lock.Semaphore, deflate: bool) -> None:
    """Open, start a chat, release the opening slot, then read forever (websocket-client pongs each ping)."""
    try:
        try:
            ws = (DeflateClient(url, timeout=60) if deflate
                  else websocket.create_connection(url, timeout=60, suppress_origin=True))
            idle.ws = ws
            ws.send(json.dumps({"type": "start_chat", "chatbot": "bench", "namespace": "bench"}))
            while idle.conversation_id is None:
                event = json.loads(ws.recv())
                if event.get("type") == "chat_started":
                    idle.conversation_id = event["conversation_id"]
                elif event.get("type") == "error":
                    idle.open_error = f"start_chat: {event.get('code')}: {event.get('message')}"
                    ws.close(timeout=1)
                    return
            idle.opened_at = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure
            idle.open_error = f"{type(exc).__name__}: {exc}"
            if idle.ws is not None:
                idle.ws.shutdown()
            return
        finally:
            gate.release()
        ws.settimeout(None)
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == ABNF.OPCODE_PING:
                idle.pings += 1
            elif opcode == ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                idle.close_reason = f"server close {code} {data[2:].decode(errors='replace')}".strip()
                break
            elif opcode == ABNF.OPCODE_TEXT:
                event = json.loads(data)
                if event.get("type") == "error" and event.get("code") == "UNKNOWN_TYPE":
                    idle.probe_answered = True
    except Exception as exc:  # noqa: BLE001
        idle.close_reason = f"{type(exc).__name__}: {exc}"[:120]
    if idle.opened_at is not None and idle.closed_at is None:
        idle.closed_at = time.monotonic()


def fresh_turn(stack, url: str, words: str, delay: float, chunks: int) -> tuple[bool, str]:
    turn = Turn(0)
    open_turn(turn, url, 30)
    if turn.open_error:
        return False, f"start_chat failed: {turn.open_error}"
    stack.llm.reply_slow(words, delay, chunks=chunks)
    go = gevent.event.Event()
    go.set()
    run_turn(turn, go, "Say twenty words.", 60)
    close_all([turn.ws])
    if turn.outcome != "done":
        return False, f"ended with {turn.outcome} {turn.error_code or ''}".strip()
    text = "".join(e.get("delta", "") for e in turn.events if e.get("type") == "content")
    return text == words, (f"first delta {(turn.first_delta_at - turn.sent_at) * 1000:7.1f} ms, "
                           f"done {(turn.ended_at - turn.sent_at) * 1000:7.1f} ms"
                           + ("" if text == words else f", text differs: {text!r}"))


def fresh_turns(stack, url: str, args, label: str) -> bool:
    """Prints each fresh turn; True when all of them ended in `done` with the whole text."""
    words = " ".join(f"w{i:02d}" for i in range(1, 21))
    ok = True
    for run in range(args.fresh_turns):
        good, line = fresh_turn(stack, url, words, 1.0 / args.rate, 20)
        ok &= good
        print(f"fresh turn {label} #{run + 1}: {line}", flush=True)
    return ok


def raise_fd_limit(sockets: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = sockets + 1000
    if soft < need <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    elif need > hard:
        raise SystemExit(
            f"bench.idle: {sockets} sockets need about {need} file descriptors in this process and in the web "
            f"process, but the hard limit (ulimit -Hn) is {hard}. Raise it first, for example as root "
            f"`ulimit -Hn {max(65536, need)}` in the shell that runs the benchmark (or a nofile line in "
            f"/etc/security/limits.conf), or pass a smaller --sockets.")
    print(f"file descriptors: soft limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]} (hard {hard}), "
          f"need about {need}")


def count_open(idles: list[Idle]) -> int:
    return sum(i.open for i in idles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=60, help="seconds to hold the sockets once all are open")
    parser.add_argument("--open-parallel", type=int, default=200, help="sockets being opened at a time")
    parser.add_argument("--fresh-turns", type=int, default=3, help="fresh turns per measuring point")
    parser.add_argument("--rate", type=float, default=50, help="tokens/s of the fresh turn's 20-word stream")
    parser.add_argument("--deflate", action="store_true",
                        help="idle sockets offer permessage-deflate, as browsers do (the server accepts it)")
    run_idle(parser.parse_args())
    sys.stdout.flush()


def run_idle(args, stack=None) -> dict:
    """The idle-socket run; prints its report and returns its figures (bench/load.py tabulates them).
    `stack`: run on that one (its web process must take --sockets + 1000 connections) instead of a fresh one."""
    raise_fd_limit(args.sockets)
    connections = args.sockets + 1000
    print(f"bench.idle: {os.cpu_count()} CPUs; figures are noisy on a shared machine")
    print(f"web: 1 gunicorn gevent worker, --worker-connections {connections}; worker: 1 process, default pool; "
          f"idle clients: {'wsproto offering permessage-deflate (like a browser)' if args.deflate else 'websocket-client (no compression)'}")
    with (contextlib.nullcontext(stack) if stack is not None else
          running_stack(worker_concurrency=50, web_worker_connections=connections, llm_process=True)) as stack:
        url = ws_url(stack.web, stack.token)
        worker_pid = gunicorn_worker_pid(stack.web_process.pid)
        web_offset, worker_offset = log_size(stack.web_process.log_path), log_size(stack.worker_process.log_path)
        for _ in range(3):  # warm-up: imports, pools, prepared statements
            fresh_turn(stack, url, "warm up", 0.0, 2)
        fresh_turns(stack, url, args, "with 0 idle sockets")
        rss_before = rss_kb(worker_pid)
        print(f"web worker pid {worker_pid}: VmRSS {rss_before / 1024:.1f} MB, {open_fds(worker_pid)} fds "
              f"before opening")

        idles = [Idle(i) for i in range(args.sockets)]
        gate = gevent.lock.Semaphore(args.open_parallel)
        started = time.monotonic()
        greenlets = []
        next_report = 1000
        for idle in idles:
            gate.acquire()
            greenlets.append(gevent.spawn(hold_socket, idle, url, gate, args.deflate))
            if idle.index + 1 >= next_report:
                next_report += 1000
                print(f"  {idle.index + 1:6d} started, {count_open(idles):6d} open, "
                      f"{sum(bool(i.open_error) for i in idles):5d} failed, {time.monotonic() - started:6.1f} s, "
                      f"web VmRSS {rss_kb(worker_pid) / 1024:.0f} MB", flush=True)
        for _ in range(args.open_parallel):  # every opening attempt has finished
            gate.acquire()
        open_seconds = time.monotonic() - started
        opened = count_open(idles)
        failures = collections.Counter(i.open_error for i in idles if i.open_error)
        print(f"opened {opened}/{args.sockets} sockets with a started chat in {open_seconds:.1f} s "
              f"({opened / open_seconds:.0f}/s, {args.open_parallel} at a time)")
        for text, count in failures.most_common(5):
            print(f"    {count:6d} x {text[:160]}")
        if args.deflate:
            print(f"permessage-deflate negotiated on {sum(getattr(i.ws, 'deflate', False) for i in idles if i.open)} "
                  f"of them")
        gevent.sleep(2)
        rss_open = rss_kb(worker_pid)
        per_socket = (rss_open - rss_before) / max(1, opened)
        print(f"web worker VmRSS: before {rss_before / 1024:.1f} MB, with {opened} sockets {rss_open / 1024:.1f} MB "
              f"-> {per_socket:.1f} KB per socket; {open_fds(worker_pid)} fds")

        fresh_ok = fresh_turns(stack, url, args, f"with {count_open(idles)} idle sockets")

        hold_start = time.monotonic()
        while (left := args.hold - (time.monotonic() - hold_start)) > 0:
            gevent.sleep(min(15.0, left))
            print(f"  holding: {time.monotonic() - hold_start:5.0f} s, {count_open(idles)} open, "
                  f"pings answered {sum(i.pings for i in idles)}, web VmRSS {rss_kb(worker_pid) / 1024:.0f} MB",
                  flush=True)
        still_open = count_open(idles)
        held = time.monotonic() - hold_start
        oldest = time.monotonic() - min((i.opened_at for i in idles if i.opened_at), default=time.monotonic())
        pinged = sum(i.pings > 0 for i in idles if i.open)
        print(f"after holding {held:.0f} s (the first socket open {oldest:.0f} s): {still_open}/{opened} "
              f"idle sockets still open; {pinged} of them got and answered at least one ping")
        closes = collections.Counter(i.close_reason for i in idles if i.opened_at and i.closed_at)
        for text, count in closes.most_common(5):
            print(f"    closed: {count:6d} x {text}")

        probed = [i for i in idles if i.open]
        for idle in probed:
            try:
                idle.ws.send(PROBE)
            except Exception:  # noqa: BLE001 - counted below as unanswered
                pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(i.probe_answered for i in probed) < len(probed):
            gevent.sleep(0.5)
        answered = sum(i.probe_answered for i in probed)
        print(f"probe frame answered (UNKNOWN_TYPE) on {answered}/{len(probed)} open sockets")

        fresh_ok &= fresh_turns(stack, url, args, f"after the hold, {count_open(idles)} idle sockets")
        rss_after = rss_kb(worker_pid)
        print(f"web worker VmRSS after the hold: {rss_after / 1024:.1f} MB "
              f"({(rss_after - rss_before) / max(1, opened):.1f} KB per socket)")
        for line in summarize_log(stack.web_process.log_path, web_offset).render("web"):
            print(line)
        for line in summarize_log(stack.worker_process.log_path, worker_offset).render("worker"):
            print(line)
        met = opened == args.sockets and still_open == args.sockets and answered == args.sockets and fresh_ok
        print(f"GOAL: {args.sockets} sockets open and answering after >= {args.hold:g} s, every fresh turn done -> "
              f"RESULT: {opened} opened, {still_open} still open, {answered} answered, fresh turns "
              f"{'all done' if fresh_ok else 'NOT all done'}; {per_socket:.1f} KB per socket  "
              f"[{'MET' if met else 'NOT MET'}] (fresh-turn times above)")

        for idle in idles:
            if idle.ws is not None:
                idle.ws.abort()
        gevent.joinall(greenlets, timeout=30)
        return {"sockets": args.sockets, "opened": opened, "still_open": still_open, "probe_answered": answered,
                "held_s": held, "fresh_turns_ok": fresh_ok, "web_kb_per_idle_socket": per_socket,
                "open_failures": sum(failures.values()), "open_per_s": opened / open_seconds}


if __name__ == "__main__":
    main()
