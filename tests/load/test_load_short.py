"""The load suite's short version (`make load` runs it at full size): 50 concurrent streaming turns, 500 idle
sockets and the relay at 20 streams, on a stack of their own in a child process (bench/load.py patches with
gevent, which this test process must not be). Only the invariants are asserted, never a timing: a busy
machine makes latencies longer, not deltas lost."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import ROOT


def test_the_short_load_suite_loses_nothing_and_errs_nowhere(tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, "-m", "bench.load", "--short", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.exists(), f"bench.load did not finish (exit {run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    figures = json.loads(out.read_text())
    turns, idle = figures["turns"], figures["idle"]
    assert turns["n"] == 50 and turns["opened"] == 50
    assert (turns["done"], turns["errors"], turns["error_codes"]) == (50, 0, {}), run.stdout[-4000:]
    assert (turns["lost"], turns["duplicated"], turns["events_lost"]) == (0, 0, 0), run.stdout[-4000:]
    assert turns["tracebacks"] == 0, run.stdout[-4000:]
    assert idle["sockets"] == 500
    assert (idle["opened"], idle["still_open"], idle["probe_answered"]) == (500, 500, 500), run.stdout[-4000:]
    assert idle["fresh_turns_ok"], run.stdout[-4000:]
    relay = figures["relay"]
    # Each reader counts characters until every published one arrived (merged deltas carry several).
    assert set(relay) == {"1", "20"} and all(r["events"] > 0 for r in relay.values())
    assert "load suite summary" in run.stdout
