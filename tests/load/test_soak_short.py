"""The soak suite's short version (`make soak` runs it for 10 minutes): 30 s of mixed traffic (text, SQL, RAG,
cancels, reconnects with resume) on a stack of its own in a child process (bench/soak.py patches with gevent).
Asserted: every turn ended as its kind must, no traceback in any log, no Redis key left without a TTL, and no
connection leak in PostgreSQL or Redis. Not asserted: latencies and memory, which a busy machine moves."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import ROOT

CHECKED = ("errors", "tracebacks in the logs", "Redis keys without a TTL", "PostgreSQL connections (pg_stat_activity)",
           "Redis clients (CLIENT LIST)")


def test_thirty_seconds_of_mixed_traffic_keep_the_invariants(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "-m", "bench.soak", "--seconds", "30", "--sessions", "10",
                          "--window", "10", "--warmup", "10", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.exists(), f"bench.soak did not finish (exit {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    figures = json.loads(out.read_text())
    kinds = {s["kind"] for s in figures["samples"]}
    assert {"text", "sql", "rag", "cancel", "reconnect"} <= kinds, kinds  # every kind of traffic ran
    invariants = {row["name"]: row for row in figures["invariants"]}
    assert set(CHECKED) <= set(invariants), sorted(invariants)
    failed = [f"{name}: {invariants[name]['result']}" for name in CHECKED if not invariants[name]["ok"]]
    assert not failed, "\n".join(failed) + "\n" + run.stdout[-3000:]
    assert figures["redis_keys"]["scanned"] > 0
