"""The load suite (`make load`): the issue's load scenarios on ONE web and ONE worker process, one summary table.

    .venv/bin/python -m bench.load                 # 500 streaming turns, 10,000 idle sockets, relay at 100 streams
    .venv/bin/python -m bench.load --short         # 50 turns, 500 idle sockets, relay at 20 streams (make test)
    .venv/bin/python -m bench.load --json out.json # the figures as JSON too

It runs the existing benchmarks' own functions on one stack (bench/stack.py: embedded PostgreSQL and Redis,
the scripted LLM in a process of its own, one Celery worker whose gevent pool holds every turn at once, one
gunicorn gevent web worker): bench/relay.py (publish-to-socket latency), bench/turns.py (N sockets each
streaming one 20-word answer at --rate tokens/s), then bench/idle.py (idle sockets held --hold seconds, with
fresh turns through them). Their detailed reports print as they go; the table comes last.

Goals (issue 14, this 2-core machine): 500 concurrent streaming turns with 0 errors; 10,000 idle sockets held;
relay p99 under 5 ms at 100 streams; 0 lost and 0 duplicated deltas. Exit status 1 when one is not met.
The machine's load average is printed with each scenario: the client, the scripted LLM and the system under
test share its CPUs, so a busy machine shows as higher latencies, not as the server's cost.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.idle import run_idle  # noqa: E402
from bench.relay import run_relay  # noqa: E402
from bench.stack import running_stack  # noqa: E402
from bench.turns import bench_n  # noqa: E402

FULL = {"turns": 500, "sockets": 10_000, "relay_streams": 100, "hold": 60.0, "fresh_turns": 3, "relay_events": 200}
SHORT = {"turns": 50, "sockets": 500, "relay_streams": 20, "hold": 5.0, "fresh_turns": 1, "relay_events": 40}
RELAY_P99_GOAL_MS = 5.0


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(options) -> dict:
    """Every scenario on one stack; returns {"relay", "turns", "idle", "load"} figures."""
    figures: dict = {"load": {}, "config": vars(options).copy()}
    connections = options.sockets + 2 * options.turns + 1000
    started = time.perf_counter()
    with running_stack(worker_concurrency=options.turns, web_worker_connections=connections,
                       llm_process=True) as stack:
        print(f"bench.load: {os.cpu_count()} CPUs; stack up in {time.perf_counter() - started:.1f} s; "
              f"load average {load_average()}", flush=True)

        print(f"\n=== relay latency at 1 and {options.relay_streams} streams", flush=True)
        figures["load"]["relay"] = load_average()
        figures["relay"] = run_relay(stack, (1, options.relay_streams), options.relay_events)

        turns_args = SimpleNamespace(concurrency=options.turns, words=options.words, rate=options.rate, timeout=60,
                                     keep_logs=None, llm_in_process=False, open_parallel=50, warmup=3)
        figures["load"]["turns"] = load_average()
        before = backend_counters(stack)
        figures["turns"] = bench_n(options.turns, turns_args, stack=stack)
        after = backend_counters(stack)
        figures["backends"] = {name: after[name] - before.get(name, 0) for name in after}
        figures["backends"]["turns"] = options.turns + turns_args.warmup  # bench_n warms up on this stack first

        print(f"\n=== {options.sockets} idle sockets, held {options.hold:g} s", flush=True)
        idle_args = SimpleNamespace(sockets=options.sockets, hold=options.hold, open_parallel=200,
                                    fresh_turns=options.fresh_turns, rate=options.rate, deflate=False)
        figures["load"]["idle"] = load_average()
        figures["idle"] = run_idle(idle_args, stack=stack)
        figures["load"]["end"] = load_average()
    return figures


def backend_counters(stack) -> dict[str, float]:
    """Redis's own CPU seconds and commands processed, PostgreSQL's transactions: what the turns cost the
    shared services, to size them (the CPU of PostgreSQL is the services' total minus Redis's)."""
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        cpu, stats, commands = client.info("cpu"), client.info("stats"), client.info("commandstats")
    finally:
        client.close()
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
        commits = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                               "WHERE datname = current_database()").fetchone()[0]
    return {"redis_cpu_s": cpu["used_cpu_sys"] + cpu["used_cpu_user"],
            "redis_commands": stats["total_commands_processed"], "pg_transactions": commits,
            **{f"redis {name.removeprefix('cmdstat_')}": value["calls"] for name, value in commands.items()}}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def goals(figures: dict) -> list[tuple[str, bool]]:
    turns, idle, relay = figures["turns"], figures["idle"], figures["relay"]
    wide = relay[max(relay)]
    return [
        (f"{turns['n']} concurrent streaming turns, 0 errors", turns["errors"] == 0),
        ("0 lost, 0 duplicated deltas", turns["lost"] == 0 and turns["duplicated"] == 0),
        (f"{idle['sockets']} idle sockets held and answering",
         idle["still_open"] == idle["sockets"] and idle["probe_answered"] == idle["sockets"] and idle["fresh_turns_ok"]),
        (f"relay p99 < {RELAY_P99_GOAL_MS:g} ms at {max(relay)} streams", wide["p99_ms"] < RELAY_P99_GOAL_MS),
    ]


def table(figures: dict) -> list[str]:
    turns, idle, relay = figures["turns"], figures["idle"], figures["relay"]
    narrow, wide = relay[min(relay)], relay[max(relay)]
    met = dict(goals(figures))
    verdict = {True: "MET", False: "NOT MET"}
    keys = list(met)
    cpu = turns["cpu_s"]
    backends = figures["backends"]
    n = max(1, backends["turns"])
    server_cpu = cpu["web"] + cpu["worker"] + cpu["postgres + redis"]
    published = turns["done"] * figures["config"]["words"]  # one delta per scripted chunk, one chunk per word
    rows = [
        ("streaming turns", keys[0], f"{turns['done']}/{turns['n']} done, {turns['errors']} errors"
         + (f" ({', '.join(f'{c} x {k}' for k, c in turns['error_codes'].items())})" if turns["error_codes"] else ""),
         verdict[met[keys[0]]]),
        ("lost / duplicated deltas", keys[1], f"{turns['lost']} lost, {turns['duplicated']} duplicated, "
         f"{turns['events_lost']} events_lost ({turns['seq_gaps']} seqs merged into a later delta for a slow "
         f"reader)", verdict[met[keys[1]]]),
        ("time to first delta", "(reported)", f"p50 {_ms(turns['ttfd_p50_ms'])}, p99 {_ms(turns['ttfd_p99_ms'])}", ""),
        (f"time to done ({figures['config']['words']} words)", "(reported)", f"p50 {_ms(turns['done_p50_ms'])}, p99 {_ms(turns['done_p99_ms'])}",
         ""),
        ("idle sockets", keys[2], f"{idle['opened']} opened, {idle['still_open']} open after {idle['held_s']:.0f} s, "
         f"{idle['probe_answered']} answered, fresh turns {'ok' if idle['fresh_turns_ok'] else 'FAILED'}",
         verdict[met[keys[2]]]),
        ("relay latency", keys[3], f"1 stream p50 {narrow['p50_ms']:.2f} / p99 {narrow['p99_ms']:.2f} ms; "
         f"{max(relay)} streams p50 {wide['p50_ms']:.2f} / p99 {wide['p99_ms']:.2f} ms", verdict[met[keys[3]]]),
        ("memory per idle socket", "(reported)", f"{idle['web_kb_per_idle_socket']:.1f} KB (web worker VmRSS)", ""),
        ("memory per running turn", "(reported)", f"worker {turns['worker_kb_per_running_turn']:.0f} KB, web "
         f"{turns['web_kb_per_streaming_socket']:.0f} KB per streaming socket (peak VmRSS growth)", ""),
        ("CPU per 1,000 deltas", "(reported)", f"{server_cpu * 1000 / max(1, published):.2f} s server side "
         f"(web {cpu['web']:.1f} s, worker {cpu['worker']:.1f} s, postgres + redis {cpu['postgres + redis']:.1f} s "
         f"for {published} deltas published, {turns['deltas']} received after merging)", ""),
        ("shared services per turn", "(reported)",
         f"Redis {backends['redis_commands'] / n:.0f} commands and {backends['redis_cpu_s'] * 1000 / n:.2f} ms CPU "
         f"({backends['redis_cpu_s'] * 1000 / max(1, published) * 1000:.0f} ms per 1,000 deltas); PostgreSQL "
         f"{backends['pg_transactions'] / n:.1f} transactions and "
         f"{(cpu['postgres + redis'] - backends['redis_cpu_s']) * 1000 / n:.2f} ms CPU", ""),
        ("wall time, N turns", "(reported)", f"{turns['wall_s']:.2f} s; log tracebacks {turns['tracebacks']}", ""),
        ("load average (1/5/15 min)", "(context)", f"relay {figures['load']['relay']}; turns {figures['load']['turns']}; "
         f"idle {figures['load']['idle']}; end {figures['load']['end']}", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    line = "+".join("-" * (w + 2) for w in widths) + "+---------"
    out = [line, " | ".join(h.ljust(w) for h, w in zip(("measure", "goal", "result"), widths)) + " | verdict", line]
    out += [" | ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + f" | {row[3]}" for row in rows]
    out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the short version `make test` runs")
    parser.add_argument("--turns", type=int, help=f"concurrent streaming turns (default {FULL['turns']})")
    parser.add_argument("--sockets", type=int, help=f"idle sockets (default {FULL['sockets']})")
    parser.add_argument("--relay-streams", type=int, help=f"relay streams (default {FULL['relay_streams']})")
    parser.add_argument("--hold", type=float, help=f"seconds the idle sockets are held (default {FULL['hold']:g})")
    parser.add_argument("--rate", type=float, default=50, help="tokens/s per stream (default 50)")
    parser.add_argument("--words", type=int, default=20, help="words (deltas) per streamed answer (default 20)")
    parser.add_argument("--json", metavar="PATH", help="write the figures there as JSON")
    args = parser.parse_args()
    preset = SHORT if args.short else FULL
    for name, value in preset.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    figures = run(args)
    print("\n=== load suite summary" + (" (short version)" if args.short else ""))
    for line in table(figures):
        print(line)
    backends = figures["backends"]
    busiest = sorted(((k, v) for k, v in backends.items() if k.startswith("redis ")), key=lambda kv: -kv[1])[:8]
    print(f"Redis commands per turn, the most frequent ({backends['turns']} turns): "
          + ", ".join(f"{name.removeprefix('redis ')} {calls / backends['turns']:.1f}" for name, calls in busiest))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2, default=str)
    sys.stdout.flush()
    if not all(ok for _, ok in goals(figures)):
        sys.exit(1)


if __name__ == "__main__":
    main()
