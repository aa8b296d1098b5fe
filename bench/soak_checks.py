"""What the soak checks and prints: the system's state (connections, Redis keys, memory), the invariants
and the report. Imported by bench/soak.py after gevent patching (psycopg must be imported after it)."""
from __future__ import annotations

import collections
import contextlib
import fnmatch

import psycopg
import redis

from app.jobs import EMBEDDINGS_QUEUE, JOBS_QUEUE, QUEUE
from bench.stack import percentile, process_tree, rss_kb
from tests.support.processes import wait_until

# Redis keys that have no TTL by design (everything else must expire by itself):
PERMANENT_KEYS = {
    "_kombu.binding*": "kombu's table of the queues bound to an exchange: one key per exchange, written when a "
                       "queue is declared (a fixed handful)",
    QUEUE: "the Celery turn queue (a list that exists only while tasks wait in it)",
    EMBEDDINGS_QUEUE: "the Celery embeddings queue (same)",
    JOBS_QUEUE: "the Celery jobs queue (same)",
    f"{QUEUE}\x06\x16*": "a priority step of the turn queue (same)",
    f"{EMBEDDINGS_QUEUE}\x06\x16*": "a priority step of the embeddings queue (same)",
    f"{JOBS_QUEUE}\x06\x16*": "a priority step of the jobs queue (same)",
    "unacked": "kombu's hash of delivered, not yet acknowledged tasks (acks_late): an entry lives until its "
               "task is acknowledged, or is restored after the visibility timeout",
    "unacked_index": "kombu's index of the same entries by delivery time",
}


def permanent_reason(key: str) -> str | None:
    for pattern, reason in PERMANENT_KEYS.items():
        if fnmatch.fnmatchcase(key, pattern):
            return reason
    return None


# -- the system's state ------------------------------------------------------------------------------

def pg_connections(database_url: str) -> dict[str, int]:
    """Client backends by "user/application_name/state", this connection excluded."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT usename, coalesce(nullif(application_name, ''), '-'), coalesce(state, '-'), count(*) "
            "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "GROUP BY 1, 2, 3").fetchall()
    return {f"{user}/{app}/{state}": count for user, app, state, count in rows}


def by_user(connections: dict[str, int]) -> dict[str, int]:
    totals: collections.Counter = collections.Counter()
    for key, count in connections.items():
        user, app, _state = key.split("/")
        totals[f"{user}/{app}"] += count
    return dict(totals)


def redis_clients(client: redis.Redis) -> dict[str, int]:
    mine = client.client_id()
    names = collections.Counter((c.get("name") or "-") for c in client.client_list() if int(c["id"]) != mine)
    return dict(names)


def keys_without_ttl(client: redis.Redis) -> tuple[int, list[tuple[str, str]], list[str]]:
    """(keys scanned, permanent keys with why, keys that should expire but have no TTL)."""
    keys = list(client.scan_iter(count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.ttl(key)
    permanent, leaking = [], []
    for key, ttl in zip(keys, pipe.execute()):
        if ttl == -1:
            reason = permanent_reason(key)
            if reason:
                permanent.append((key, reason))
            else:
                leaking.append(key)
    return len(keys), permanent, leaking


def memory(pids: dict[str, int]) -> dict[str, int]:
    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(OSError, RuntimeError):
            out[name] = sum(rss_kb(p) for p in process_tree(pid))
    return out


def quiet(database_url: str, timeout: float = 30) -> None:
    """Until no backend runs a statement or holds a transaction open (bounded: a leak shows in the figures)."""
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not [k for k, n in pg_connections(database_url).items()
                                if n and not k.endswith("/idle")], timeout, "the database quiet", interval=0.5)


def caps(settings) -> dict[str, dict[str, int]]:
    """What the pools may hold at most: PostgreSQL by user/application (two pools of DB_POOL_SIZE in the web,
    the worker and the embeddings worker's pool child), Redis by client name (the worker's pool: its concurrency
    plus headroom; the web's fixed pool; one relay per web process; kombu's broker pools, unnamed, 10 a pool)."""
    db = settings.db_pool_size * 3
    return {"pg": {"*": db},
            "redis": {"fluxbase-worker": 2 * (settings.worker_concurrency + 8), "fluxbase-web": 64,
                      "fluxbase-relay": 2, "*": 60}}


# -- the report ----------------------------------------------------------------------------------------

def windows(figures: dict) -> list[dict]:
    width = figures["window"]
    rows: dict[int, dict] = {}
    for s in figures["samples"]:
        index = int(s["started"] // width)
        row = rows.setdefault(index, {"index": index, "kinds": collections.Counter(), "errors": 0, "ttfd": [],
                                      "notes": 0})
        row["kinds"][s["kind"]] += 1
        row["errors"] += bool(s["error"])
        row["notes"] += bool(s["note"])
        if s["ttfd"] is not None and s["kind"] in ("text", "sql", "rag"):
            row["ttfd"].append(s["ttfd"] * 1000)
    return [rows[i] for i in sorted(rows)]


LEAK_GOAL = "end <= after warm-up, or a little pool growth within the pools' caps"


def leak_verdict(before: dict[str, int], after: dict[str, int], caps: dict[str, int], turns: int) -> tuple[bool, str]:
    """Pools open connections on demand up to their cap and keep them, so a count a little above the warm-up's
    is a pool that grew; a leak grows with the traffic (one per turn, or per socket) and passes the caps."""
    growth = sum(after.values()) - sum(before.values())
    over = [k for k, n in after.items() if n > caps.get(k, caps.get("*", 0))]
    if over:
        return False, f"above the pool caps: {', '.join(over)}"
    if growth <= 0:
        return True, "no growth"
    if growth <= max(3, turns / 20):
        return True, f"+{growth} over {turns} turns: pool growth within the caps"
    return False, f"+{growth} over {turns} turns: grows with the traffic"


def invariants(figures: dict) -> list[tuple[str, str, str, bool | None]]:
    samples = figures["samples"]
    errors = [s for s in samples if s["error"]]
    rows = [("errors", "0", f"{len(errors)} of {len(samples)} turns"
             + (": " + ", ".join(f"{c} x {e}" for e, c in collections.Counter(s["error"] for s in errors).most_common(4))
                if errors else ""), not errors)]
    tracebacks = figures["tracebacks"]
    rows.append(("tracebacks in the logs", "0", ", ".join(f"{k} {v}" for k, v in tracebacks.items()),
                 not any(tracebacks.values())))
    after = [w for w in windows(figures) if (w["index"] * figures["window"]) >= figures["warmup"] and w["ttfd"]]
    p99s = [percentile(w["ttfd"], 99) for w in after]
    if len(p99s) >= 2:
        spread = max(p99s) / max(1e-9, min(p99s))
        rows.append(("p99 time to first delta, stable", "max/min over windows after warm-up <= 2",
                     f"{min(p99s):.0f}-{max(p99s):.0f} ms over {len(p99s)} windows (x{spread:.2f})", spread <= 2))
    base, end = figures["baseline"], figures["end"]
    if base:
        for name, before in base["rss"].items():
            growth = (end["rss"].get(name, 0) - before) / before * 100
            rows.append((f"RSS growth after warm-up: {name}", "< 5%",
                         f"{before / 1024:.1f} -> {end['rss'].get(name, 0) / 1024:.1f} MB ({growth:+.1f}%)", growth < 5))
    keys = figures["redis_keys"]
    rows.append(("Redis keys without a TTL", "0 (permanent ones excepted)",
                 f"{len(keys['without_ttl'])} of {keys['scanned']} keys"
                 + (f": {', '.join(k for k in keys['without_ttl'][:5])}" if keys["without_ttl"] else "")
                 + f"; {len(keys['permanent'])} permanent", not keys["without_ttl"]))
    if base:
        pg_base, pg_end = by_user(base["pg"]), by_user(end["pg"])
        busy = sum(n for k, n in end["pg"].items() if not k.endswith("/idle"))
        turns = sum(1 for s in samples if s["started"] >= base["at"])
        caps = figures["caps"]
        ok, verdict = leak_verdict(pg_base, pg_end, caps["pg"], turns)
        rows.append(("PostgreSQL connections (pg_stat_activity)", LEAK_GOAL + ", none busy at the end",
                     f"{sum(pg_base.values())} -> {sum(pg_end.values())} ({verdict}); by user/application: "
                     + ", ".join(f"{k} {pg_base.get(k, 0)}->{n}" for k, n in sorted(pg_end.items()))
                     + f"; {busy} not idle", ok and busy == 0))
        rd_base, rd_end = base["redis"], end["redis"]
        ok, verdict = leak_verdict(rd_base, rd_end, caps["redis"], turns)
        rows.append(("Redis clients (CLIENT LIST)", LEAK_GOAL,
                     f"{sum(rd_base.values())} -> {sum(rd_end.values())} ({verdict}); by name: "
                     + ", ".join(f"{k} {rd_base.get(k, 0)}->{n}" for k, n in sorted(rd_end.items())), ok))
    return rows


def table(figures: dict) -> list[str]:
    out = [f"{'window':>13} | {'turns':>5} | {'text':>4} {'sql':>4} {'rag':>4} {'cncl':>4} {'recon':>5} | "
           f"{'errors':>6} | {'TTFD p50':>9} | {'TTFD p99':>9}"]
    out.append("-" * len(out[0]))
    for w in windows(figures):
        k = w["kinds"]
        start = w["index"] * figures["window"]
        ttfd = w["ttfd"]
        out.append(f"{start:5.0f}-{start + figures['window']:5.0f} s | {sum(k.values()):5d} | {k['text']:4d} {k['sql']:4d} "
                   f"{k['rag']:4d} {k['cancel']:4d} {k['reconnect']:5d} | {w['errors']:6d} | "
                   + (f"{percentile(ttfd, 50):6.0f} ms | {percentile(ttfd, 99):6.0f} ms" if ttfd else "     - ms |      - ms"))
    out.append("")
    out.append("resident memory (MB) at each window's end: " + "; ".join(
        f"{at:.0f} s " + " ".join(f"{name} {kb / 1024:.0f}" for name, kb in rss.items()) for at, rss in figures["memory"]))
    out.append("")
    rows = invariants(figures)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out.append(" | ".join(h.ljust(w) for h, w in zip(("invariant", "goal", "result"), widths)) + " | verdict")
    out.append("-" * (sum(widths) + 20))
    for r in rows:
        out.append(" | ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + f" | {'MET' if r[3] else 'NOT MET'}")
    out.append("")
    out.append("Redis keys kept without a TTL by design:")
    reasons = collections.Counter(reason for _key, reason in figures["redis_keys"]["permanent"])
    for reason, count in reasons.items():
        out.append(f"  {count:3d} x {reason}")
    notes = sum(bool(s["note"]) for s in figures["samples"])
    if notes:
        out.append(f"{notes} cancels came after the answer had ended (not errors: nothing was running to cancel)")
    return out
