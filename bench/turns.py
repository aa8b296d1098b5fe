"""Concurrent streaming turns: N WebSockets each start a chat on the `bench` chatbot and send ONE message at the
same moment; the scripted LLM streams a 20-word answer per turn at a fixed token rate. One web process (one
gunicorn gevent worker) and one Celery worker process whose gevent pool (`--concurrency` and
WORKER_CONCURRENCY) is N by default, so every turn runs at once.

    .venv/bin/python -m bench.turns                       # N = 100, then N = 500 (a fresh stack for each)
    .venv/bin/python -m bench.turns --sockets 500 --rate 50 --words 20 --concurrency 500

Reported per N: turns ending in `done` / `error` (by code) / `cancelled` / no ending, lost text (a `done`
turn whose deltas do not add up to the scripted text), duplicated deltas (a `seq` seen twice, or text
repeated), `seq` gaps, p50/p99 time to first delta and to `done` from the send of the message, wall time,
the CPU time each process used, and the worker/web log's "Error"/"Traceback" lines.

Goal (issue 7): 0 errors, 0 lost, 0 duplicated at N = 500 on one worker process.

Options: --rate (tokens/s per stream, default 50), --words (default 20), --concurrency (worker pool, default N),
--timeout (seconds a turn may take to end, default 60; a turn past it counts as "no ending"), --keep-logs DIR
(copy the web and worker logs out of the stack's temporary directory). `kill -USR1 <pid>` prints every
greenlet's stack. Without beat running, a turn whose ending was never published is not recovered.

The client runs on gevent (one greenlet per socket, websocket-client on patched sockets); the scripted LLM runs
in a process of its own (bench/llm_process.py). On a small machine both share the CPU with the system under
test (the CPU line shows who used what), so treat the latencies as an upper bound.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import difflib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.pool  # noqa: E402
import gevent.util  # noqa: E402
import websocket  # noqa: E402

from bench.stack import (  # noqa: E402
    cpu_seconds,
    gunicorn_worker_pid,
    log_size,
    percentile,
    process_tree,
    rss_kb,
    running_stack,
    summarize_log,
    tree_cpu_seconds,
)
from tests.support.llm_script import slow_reply, split_text  # noqa: E402

ENDINGS = ("done", "cancelled", "error")


@dataclass
class Turn:
    index: int
    ws: websocket.WebSocket | None = None
    conversation_id: str | None = None
    started_seq: int | None = None
    open_error: str | None = None
    sent_at: float | None = None
    first_event_at: float | None = None   # the worker's first event (`progress`, step thinking)
    first_delta_at: float | None = None
    ended_at: float | None = None
    outcome: str = "no ending"          # done / cancelled / error / timeout / closed / open failed
    error_code: str | None = None
    events: list[dict] = field(default_factory=list)


def ws_url(base: str, token: str) -> str:
    return base.replace("http://", "ws://") + f"/ai/ws?token={token}"


def open_turn(turn: Turn, url: str, timeout: float) -> None:
    try:
        ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        turn.ws = ws
        ws.send(json.dumps({"type": "start_chat", "chatbot": "bench", "namespace": "bench"}))
        while True:
            event = json.loads(ws.recv())
            if event.get("type") == "chat_started":
                turn.conversation_id, turn.started_seq = event["conversation_id"], event.get("seq")
                return
            if event.get("type") == "error":
                turn.open_error = f"{event.get('code')}: {event.get('message')}"
                return
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure
        turn.open_error = f"{type(exc).__name__}: {exc}"


def run_turn(turn: Turn, go: gevent.event.Event, content: str, timeout: float) -> None:
    ws = turn.ws
    assert ws is not None
    go.wait()
    # One deadline for the whole turn: a socket timeout would restart at every server ping (websocket-client
    # answers pings inside recv), so a turn that never ends would wait forever.
    timer = gevent.Timeout(timeout)
    timer.start()
    turn.sent_at = time.perf_counter()
    try:
        ws.settimeout(None)
        ws.send(json.dumps({"type": "message", "conversation_id": turn.conversation_id, "content": content}))
        while True:
            raw = ws.recv()
            now = time.perf_counter()
            event = json.loads(raw)
            turn.events.append(event)
            kind = event.get("type")
            if turn.first_event_at is None:
                turn.first_event_at = now
            if kind == "content" and turn.first_delta_at is None:
                turn.first_delta_at = now
            if kind in ENDINGS:
                turn.ended_at, turn.outcome = now, kind
                turn.error_code = event.get("code") if kind == "error" else None
                return
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        turn.outcome = f"no ending within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001
        turn.outcome = f"socket closed ({type(exc).__name__})"
    finally:
        timer.close()


def close_all(sockets: list, timeout: float = 10) -> None:
    """Close handshakes in parallel; whatever has not finished by `timeout` is cut."""
    def close(ws):
        try:
            ws.close(timeout=2)
        except Exception:  # noqa: BLE001
            ws.shutdown()
    greenlets = [gevent.spawn(close, ws) for ws in sockets if ws is not None]
    gevent.joinall(greenlets, timeout=timeout)
    for ws in sockets:
        if ws is not None:
            ws.shutdown()


def keep_logs(stack, directory: str | None, label: str) -> None:
    if not directory:
        return
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for proc in (stack.web_process, stack.worker_process):
        shutil.copy(proc.log_path, target / f"{label}-{proc.log_path.name}")
    print(f"logs kept in {target}/{label}-*.log")


def warm_up(stack, url: str, runs: int) -> None:
    """A few sequential turns first: imports, pools and prepared statements are not what is measured."""
    turn = Turn(-1)
    open_turn(turn, url, 30)
    if turn.open_error:
        raise SystemExit(f"warm-up: start_chat failed: {turn.open_error}")
    for _ in range(runs):
        stack.llm.reply_text("warm up", chunks=2)
        go = gevent.event.Event()
        go.set()
        turn.events.clear()
        run_turn(turn, go, "hi", 30)
        if turn.outcome != "done":
            print(f"  warm-up turn ended with {turn.outcome} {turn.error_code or ''}")
    close_all([turn.ws])


@dataclass
class Analysis:
    lost_turns: int = 0
    lost_chars: int = 0
    repeated_text_turns: int = 0
    repeated_chars: int = 0
    duplicate_seq: int = 0
    duplicate_seq_turns: int = 0
    gap_turns: int = 0
    gap_numbers: int = 0
    events_lost_events: int = 0
    examples: list[str] = field(default_factory=list)


def analyse(turns: list[Turn], expected: str) -> Analysis:
    result = Analysis()
    for turn in turns:
        seqs = [e["seq"] for e in turn.events if isinstance(e.get("seq"), int)]
        counts = collections.Counter(seqs)
        repeats = sum(c - 1 for c in counts.values() if c > 1)
        result.duplicate_seq += repeats
        result.duplicate_seq_turns += bool(repeats)
        result.events_lost_events += sum(e.get("type") == "events_lost" for e in turn.events)
        if seqs:
            floor = turn.started_seq if isinstance(turn.started_seq, int) else min(seqs) - 1
            missing = set(range(floor + 1, max(seqs) + 1)) - set(seqs)
            result.gap_numbers += len(missing)
            result.gap_turns += bool(missing)
        if turn.outcome != "done":
            continue
        ending = turn.events[-1]
        message_id = ending.get("message_id")
        text = "".join(e.get("delta", "") for e in turn.events if e.get("type") == "content"
                       and (message_id is None or e.get("message_id") == message_id))
        if text == expected:
            continue
        deleted = inserted = 0
        for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, expected, text, autojunk=False).get_opcodes():
            if op in ("delete", "replace"):
                deleted += a2 - a1
            if op in ("insert", "replace"):
                inserted += b2 - b1
        result.lost_turns += bool(deleted)
        result.lost_chars += deleted
        result.repeated_text_turns += bool(inserted)
        result.repeated_chars += inserted
        if len(result.examples) < 3:
            result.examples.append(f"turn {turn.index}: got {text!r}")
    return result


def stack_cpu(stack) -> dict[str, float]:
    """CPU seconds so far of each part: this process (the client), the scripted LLM, web, worker, PostgreSQL +
    Redis."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    services = set()
    root = str(stack.root)
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if root in Path(f"/proc/{name}/cmdline").read_bytes().decode(errors="replace"):
                    services.update(process_tree(int(name)))
            except OSError:
                pass
    return {"bench client": usage.ru_utime + usage.ru_stime,
            "scripted LLM": cpu_seconds(stack.llm.pid) if getattr(stack.llm, "pid", 0) else 0.0,
            "web": tree_cpu_seconds(stack.web_process.pid),
            "worker": tree_cpu_seconds(stack.worker_process.pid),
            "postgres + redis": sum(cpu_seconds(p) for p in services)}


class MemorySampler:
    """Resident memory of the worker and of the gunicorn web worker: once before the turns, then the peak
    while they run (sampled every 0.2 s), so the growth per running turn can be reported."""

    def __init__(self, stack):
        self._pids = {"worker": stack.worker_process.pid, "web": gunicorn_worker_pid(stack.web_process.pid)}
        self.before = {name: self._rss(pid) for name, pid in self._pids.items()}
        self.peak = dict(self.before)
        self._greenlet = gevent.spawn(self._run)

    @staticmethod
    def _rss(pid: int) -> int:
        return sum(rss_kb(p) for p in process_tree(pid) if Path(f"/proc/{p}/status").exists())

    def _run(self) -> None:
        while True:
            gevent.sleep(0.2)
            for name, pid in self._pids.items():
                with contextlib.suppress(OSError, RuntimeError):
                    self.peak[name] = max(self.peak[name], self._rss(pid))

    def stop(self) -> None:
        self._greenlet.kill()

    def per_item_kb(self, name: str, items: int) -> float:
        return (self.peak[name] - self.before[name]) / max(1, items)

    def describe(self, name: str, items: int) -> str:
        return (f"{self.before[name] / 1024:.0f} MB before, peak {self.peak[name] / 1024:.0f} MB "
                f"({self.per_item_kb(name, items):.0f} KB per turn)")


def ms(seconds: list[float], p: float) -> str:
    return f"{percentile(seconds, p) * 1000:8.1f} ms" if seconds else "       - ms"


def bench_n(n: int, args, stack=None) -> dict:
    """One run of N turns; prints the report and returns its figures (bench/load.py tabulates them).
    `stack`: run on that one (its worker pool must hold N turns at once) instead of a fresh one."""
    concurrency = args.concurrency or n
    connections = max(1000, 2 * n + 100)
    words = " ".join(f"w{i:02d}" for i in range(1, args.words + 1))
    delay = 1.0 / args.rate
    print(f"\n=== N = {n} sockets, one turn each | worker: 1 process, WORKER_CONCURRENCY={concurrency} "
          f"| web: 1 gunicorn gevent worker, --worker-connections {connections} | LLM: {args.words} words in "
          f"{len(split_text(words, args.words))} chunks at {args.rate:g} tokens/s per stream "
          f"(scripted stream alone: first delta {2 * delay * 1000:.0f} ms, end {(args.words + 3) * delay * 1000:.0f} ms)")
    started = time.perf_counter()
    with (contextlib.nullcontext(stack) if stack is not None else
          running_stack(worker_concurrency=concurrency, web_worker_connections=connections,
                        llm_process=not args.llm_in_process)) as stack:
        print(f"stack up in {time.perf_counter() - started:.1f} s", flush=True)
        url = ws_url(stack.web, stack.token)
        warm_up(stack, url, args.warmup)
        stack.llm.reset()

        turns = [Turn(i) for i in range(n)]
        opening = time.perf_counter()
        pool = gevent.pool.Pool(args.open_parallel)
        for turn in turns:
            pool.spawn(open_turn, turn, url, 60)
        pool.join()
        opened = [t for t in turns if not t.open_error]
        print(f"opened {len(opened)}/{n} sockets with a started chat in {time.perf_counter() - opening:.1f} s "
              f"({args.open_parallel} at a time)")
        for turn in turns:
            if turn.open_error:
                turn.outcome = "open failed"
        open_errors = collections.Counter(t.open_error for t in turns if t.open_error)
        for text, count in open_errors.most_common(5):
            print(f"    {count:5d} x {text[:160]}")

        if args.llm_in_process:
            stack.llm.enqueue(*[slow_reply(words, delay, chunks=args.words)] * len(opened))
        else:
            stack.llm.reply_slow(words, delay, chunks=args.words, count=len(opened))
        worker_log, web_log = stack.worker_process.log_path, stack.web_process.log_path
        worker_offset, web_offset = log_size(worker_log), log_size(web_log)
        cpu_before = stack_cpu(stack)
        memory = MemorySampler(stack)

        go = gevent.event.Event()
        greenlets = [gevent.spawn(run_turn, t, go, "Say twenty words.", args.timeout) for t in opened]
        gevent.sleep(0.1)  # every greenlet is parked on `go`
        wall_start = time.perf_counter()
        go_clock = time.time()
        go.set()
        while len(gevent.joinall(greenlets, timeout=10)) < len(greenlets):
            ended = sum(g.ready() for g in greenlets)
            print(f"  ... {time.perf_counter() - wall_start:5.0f} s: {ended}/{len(greenlets)} turns ended or "
                  f"timed out", flush=True)
        cpu_after = stack_cpu(stack)
        memory.stop()
        ends = [t.ended_at for t in opened if t.ended_at]
        wall = (max(ends) - wall_start) if ends else float("nan")
        gevent.sleep(0.5)  # let the worker flush its last log lines
        close_all([t.ws for t in opened])

        outcomes = collections.Counter(t.outcome for t in turns)
        codes = collections.Counter(t.error_code for t in turns if t.outcome == "error")
        done = [t for t in turns if t.outcome == "done"]
        first = [t.first_delta_at - t.sent_at for t in done if t.first_delta_at]
        to_done = [t.ended_at - t.sent_at for t in done]
        analysis = analyse(opened, words)
        errors = n - len(done)

        print(f"turns: {len(done)} done, {outcomes.get('error', 0)} error"
              + "".join(f", {c} {k}" for k, c in sorted(outcomes.items()) if k not in ("done", "error")))
        if codes:
            print("  error codes: " + ", ".join(f"{code} x {count}" for code, count in codes.most_common()))
        messages = collections.Counter(t.events[-1].get("message") or t.events[-1].get("error") for t in turns
                                       if t.outcome == "error" and t.events)
        for text, count in messages.most_common(3):
            print(f"    {count:5d} x message {text!r}")
        print(f"lost text: {analysis.lost_turns} done turns missing text ({analysis.lost_chars} chars)")
        print(f"duplicated: {analysis.duplicate_seq} repeated seq in {analysis.duplicate_seq_turns} turns; "
              f"{analysis.repeated_text_turns} done turns with extra/repeated text ({analysis.repeated_chars} chars)")
        print(f"seq gaps: {analysis.gap_numbers} missing numbers in {analysis.gap_turns} turns; "
              f"events_lost events: {analysis.events_lost_events}")
        for example in analysis.examples:
            print(f"    {example[:200]}")
        first_event = [t.first_event_at - t.sent_at for t in done if t.first_event_at]
        print(f"time to first event (`thinking`): p50 {ms(first_event, 50)}  p99 {ms(first_event, 99)}  "
              f"max {ms(first_event, 100)}")
        print(f"time to first delta (done turns): p50 {ms(first, 50)}  p99 {ms(first, 99)}  "
              f"max {ms(first, 100)}")
        print(f"time to done:                     p50 {ms(to_done, 50)}  p99 {ms(to_done, 99)}  "
              f"max {ms(to_done, 100)}")
        failed_at = [t.ended_at - t.sent_at for t in turns if t.outcome == "error"]
        if failed_at:
            print(f"time to the error ending:         p50 {ms(failed_at, 50)}  p99 {ms(failed_at, 99)}")
        unended = [t for t in opened if t.outcome not in ENDINGS]
        if unended:
            shapes = collections.Counter(
                "no event at all" if not t.events else
                f"{sum(e.get('type') == 'content' for e in t.events)} of {args.words} deltas, then nothing"
                if any(e.get("type") == "content" for e in t.events) else
                f"only {[e.get('type') for e in t.events]}" for t in unended)
            print(f"  turns without an ending ({len(unended)}): "
                  + "; ".join(f"{count} x {shape}" for shape, count in shapes.most_common()))
        sent = [t.sent_at - wall_start for t in opened if t.sent_at]
        clock = time.strftime("%H:%M:%S", time.localtime(go_clock)) + f".{int(go_clock % 1 * 1000):03d}"
        print(f"messages sent from {clock} (wall clock, to match the logs) over {max(sent) * 1000:.0f} ms")
        print(f"wall time (send of the first message to the last ending received): {wall:.2f} s")
        print("CPU seconds during the turns: " + ", ".join(
            f"{name} {cpu_after[name] - cpu_before[name]:.1f}" for name in cpu_after))

        if args.llm_in_process:
            problems = [f"unconsumed reply: {r.describe()}" for r in stack.llm.pending_replies()]
            unexpected = [r for r in stack.llm.requests if r.unexpected]
            llm = {"chat_requests": len(stack.llm.chat_requests()), "pending": len(problems),
                   "unexpected": len(unexpected), "problems": problems + [str(r) for r in unexpected]}
        else:
            llm = stack.llm.status()  # what llm.assert_complete() checks
        llm_state = ("complete (every scripted reply consumed, no unexpected request)" if not llm["problems"] else
                     f"NOT complete: {llm['pending']} unconsumed replies, {llm['unexpected']} unexpected requests")
        print(f"scripted LLM: {llm['chat_requests']} chat requests; {llm_state}")
        for line in summarize_log(worker_log, worker_offset).render("worker"):
            print(line)
        for line in summarize_log(web_log, web_offset).render("web"):
            print(line)

        keep_logs(stack, args.keep_logs, f"turns-{n}")
        lost = analysis.lost_turns
        duplicated = analysis.duplicate_seq + analysis.repeated_text_turns
        met = errors == 0 and lost == 0 and duplicated == 0
        print(f"GOAL N={n}: 0 errors, 0 lost, 0 duplicated -> RESULT: {errors} errors (not done), {lost} lost, "
              f"{duplicated} duplicated  [{'MET' if met else 'NOT MET'}]")
        deltas = sum(e.get("type") == "content" for t in opened for e in t.events)
        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        print(f"memory during the turns: worker {memory.describe('worker', len(opened))}; "
              f"web {memory.describe('web', len(opened))}")
        return {"n": n, "opened": len(opened), "done": len(done), "errors": errors, "error_codes": dict(codes),
                "lost": lost, "duplicated": duplicated, "seq_gaps": analysis.gap_numbers,
                "events_lost": analysis.events_lost_events, "deltas": deltas,
                "ttfd_p50_ms": percentile(first, 50) * 1000 if first else None,
                "ttfd_p99_ms": percentile(first, 99) * 1000 if first else None,
                "done_p50_ms": percentile(to_done, 50) * 1000 if to_done else None,
                "done_p99_ms": percentile(to_done, 99) * 1000 if to_done else None,
                "wall_s": wall, "cpu_s": cpu,
                "worker_kb_per_running_turn": memory.per_item_kb("worker", len(opened)),
                "web_kb_per_streaming_socket": memory.per_item_kb("web", len(opened)),
                "tracebacks": summarize_log(worker_log, worker_offset).tracebacks
                + summarize_log(web_log, web_offset).tracebacks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, nargs="+", default=[100, 500], help="N values to run")
    parser.add_argument("--rate", type=float, default=50, help="tokens (chunks) per second per stream")
    parser.add_argument("--words", type=int, default=20, help="words per answer (one chunk each)")
    parser.add_argument("--concurrency", type=int, default=0, help="worker gevent pool (default: N)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a turn may take to end")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the web and worker logs there")
    parser.add_argument("--llm-in-process", action="store_true",
                        help="run the scripted LLM on threads (greenlets) of this process instead of a child process "
                             "(its select() fails once this process holds file descriptors above 1023, i.e. N > ~450)")
    parser.add_argument("--open-parallel", type=int, default=50, help="sockets opened at a time")
    parser.add_argument("--warmup", type=int, default=3, help="sequential warm-up turns")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 3 * max(args.sockets) + 500  # client sockets + the LLM's connections + slack
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    # `kill -USR1 <pid>` prints every greenlet's stack, to see where a run hangs.
    gevent.signal_handler(signal.SIGUSR1, gevent.util.print_run_info)
    print(f"bench.turns: {os.cpu_count()} CPUs; figures are noisy on a shared machine")
    for n in args.sockets:
        bench_n(n, args)


if __name__ == "__main__":
    main()
