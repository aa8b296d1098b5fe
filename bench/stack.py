"""Starts the whole system on free loopback ports for a benchmark, and stops it afterwards.

Also small helpers the benchmarks share: percentiles, a process's resident memory and CPU time, the
gunicorn worker behind the arbiter, and a summary of the errors in a process's log.
"""
from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.auth.tokens import mint
from app.chatbots.sync_service import sync_payload
from app.db.migrate import migrate
from app.demo.loader import ALICE, load_demo
from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from bench.llm_process import RemoteLLM
from config import Settings
from tests.support.llm_server import ScriptedLLM
from tests.support.processes import (
    ROOT,
    ManagedProcess,
    free_port,
    http_ok,
    start_embeddings_worker,
    start_web,
    start_worker,
    wait_until,
)

BENCH_BOT = """/**
 * Bench Bot
 *
 * @fluxbase:description Benchmark chatbot
 * @fluxbase:allowed-tables products
 * @fluxbase:max-turns 100000
 * @fluxbase:rate-limit 600
 * @fluxbase:daily-limit 100000
 * @fluxbase:token-budget 10000000
 */
export default `You are a benchmark.`;
"""


@dataclass
class Stack:
    web: str
    settings: Settings
    llm: ScriptedLLM | RemoteLLM
    token: str
    root: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    web_process: ManagedProcess | None = None      # the gunicorn arbiter (see gunicorn_worker_pid)
    worker_process: ManagedProcess | None = None   # the celery worker
    embeddings_process: ManagedProcess | None = None  # the embeddings worker, when asked for


@contextlib.contextmanager
def running_stack(worker_concurrency: int = 100, web_workers: int = 1, *, web_worker_connections: int | None = None,
                  web_args: Sequence[str] = (), extra_env: Mapping[str, str] | None = None,
                  llm_process: bool = False, llm_routed_delay: float | None = None, embeddings: bool = False):
    """PostgreSQL, Redis, the scripted LLM, one Celery worker (gevent pool of `worker_concurrency`) and one
    gunicorn gevent web worker; `web_worker_connections` becomes `--worker-connections` (and
    WEB_WORKER_CONNECTIONS), `extra_env` is added to every process's environment. `llm_process` runs the
    scripted LLM in a child process (bench/llm_process.py) instead of threads of this one; `llm_routed_delay`
    makes it bench/soak_llm.py's RoutedLLM (a child process too). `embeddings` also starts the embeddings worker."""
    if web_workers != 1:
        raise ValueError("the benchmarks run one web worker process")
    root = Path(tempfile.mkdtemp(prefix="fluxbase-bench-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    rd = EmbeddedRedis(root / "redis", free_port())
    llm = (RemoteLLM(root / "llm.log", routed_delay=llm_routed_delay) if llm_process or llm_routed_delay is not None
           else ScriptedLLM(api_key="bench-key"))
    processes: list[ManagedProcess] = []
    try:
        pg.start()
        pg.ensure_database("bench")
        rd.start()
        llm.start()
        env = {**os.environ, "DATABASE_URL": pg.url("bench"), "REDIS_URL": rd.url, "DATA_DIR": str(root / "data"),
               "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "bench-key", "OPENAI_MODEL": "bench",
               "LLM_MAX_RETRIES": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
               "CHATBOTS_DIR": str(ROOT / "chatbots"), "WORKER_CONCURRENCY": str(worker_concurrency),
               # One benchmark user opens every socket's conversation at once.
               "CONVERSATIONS_PER_MINUTE": "100000", "WS_FRAMES_PER_SECOND": "10000"}
        args = list(web_args)
        if web_worker_connections is not None:
            env["WEB_WORKER_CONNECTIONS"] = str(web_worker_connections)
            args += ["--worker-connections", str(web_worker_connections)]
        env.update(extra_env or {})
        settings = Settings.from_env(env)
        migrate(settings)
        load_demo(settings)
        report = sync_payload(settings, namespace="bench", chatbots=[{"name": "bench", "code": BENCH_BOT}],
                              delete_missing=False, dry_run=False)
        assert not report.errors, report.errors
        worker = start_worker(env, root, "bench-worker", concurrency=worker_concurrency)
        processes.append(worker)
        embeddings_worker = None
        if embeddings:
            embeddings_worker = start_embeddings_worker(env, root, "bench-embeddings")
            processes.append(embeddings_worker)
            wait_until(lambda: not embeddings_worker.alive() or " ready." in embeddings_worker.log_text(), 60,
                       "the embeddings worker")
            assert embeddings_worker.alive(), embeddings_worker.log_text()
        port = free_port()
        web = start_web(env, root, port, extra_args=args)
        processes.append(web)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: not web.alive() or http_ok(f"{base}/health"), 60, "the web process")
        assert web.alive(), web.log_text()
        yield Stack(base, settings, llm, mint(settings.jwt_secret, role="authenticated", user_id=ALICE,
                                              ttl_seconds=24 * 3600),
                    root=root, env=env, web_process=web, worker_process=worker,
                    embeddings_process=embeddings_worker)
    finally:
        for proc in reversed(processes):
            proc.stop()
        llm.stop()
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- processes ---------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return kids


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children(current)
    return tree


def gunicorn_worker_pid(arbiter_pid: int) -> int:
    """The (single) gunicorn worker process: the arbiter's child running the app."""
    kids = wait_until(lambda: children(arbiter_pid), 30, "the gunicorn worker")
    return kids[0]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (threads included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


# -- logs ----------------------------------------------------------------------------------------------

_RECORD_START = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d|\[\d{4}-|\[\w+/)")  # a new log record
_FRAME_LINE = re.compile(r'^  File "([^"]+)", line (\d+), in (\S+)')
_EXCEPTION_LINE = re.compile(r"^((?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Timeout|Interrupt)\b.*)$")


@dataclass
class LogSummary:
    lines: int
    error_lines: int       # lines containing "Error"
    tracebacks: int        # lines containing "Traceback"
    exceptions: list[tuple[str, int]]  # the final exception line of each traceback, most frequent first

    def render(self, name: str, top: int = 6) -> list[str]:
        out = [f"{name} log: {self.lines} lines, {self.error_lines} containing 'Error', "
               f"{self.tracebacks} containing 'Traceback'" + ("; final exception of each traceback:" if self.exceptions else "")]
        for text, count in self.exceptions[:top]:
            out.append(f"    {count:6d} x {text[:200]}")
        if len(self.exceptions) > top:
            out.append(f"    ... and {len(self.exceptions) - top} other exception lines")
        return out


def summarize_log(path: Path, offset: int = 0) -> LogSummary:
    """Counts in the log from byte `offset` on (to look at one phase of a run)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        text = ""
    lines = text.splitlines()
    # One count per logged traceback: its last exception line (the causes of a chain come before it).
    # Each is shown with the innermost frame of the project's own code in the traceback (where it came from).
    exceptions: collections.Counter[str] = collections.Counter()
    last: str | None = None
    frame: str | None = None
    for line in lines + ["0000-00-00 0"]:
        if _RECORD_START.match(line):
            if last:
                exceptions[f"{last}  [at {frame}]" if frame else last] += 1
            last = frame = None
        elif m := _EXCEPTION_LINE.match(line):
            last = m.group(1).strip()
        elif (m := _FRAME_LINE.match(line)) and m.group(1).startswith(str(ROOT)) and "-packages/" not in m.group(1):
            path = m.group(1)
            with contextlib.suppress(ValueError):
                path = str(Path(path).relative_to(ROOT))
            frame = f"{path}:{m.group(2)} {m.group(3)}"
    return LogSummary(len(lines), sum("Error" in line for line in lines), sum("Traceback" in line for line in lines),
                      exceptions.most_common())


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
