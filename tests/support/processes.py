"""Real server processes for tests: embedded PostgreSQL and Redis, a Celery worker, the web app."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll an observable condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        threading.Event().wait(interval)


class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole group: a Celery worker's pool children must die with it."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass
        self._log.close()


def start_worker(env: dict[str, str], log_dir: Path, name: str, concurrency: int = 20) -> ManagedProcess:
    args = [str(BIN / "celery"), "-A", "workers.main", "worker", "-P", "gevent", "--concurrency", str(concurrency),
            "-Q", "fluxbase", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"{name}@%h", "--loglevel", "INFO"]
    # The worker sizes its Redis pool from WORKER_CONCURRENCY, as the Procfile's command line does.
    return ManagedProcess(name, args, {**env, "WORKER_CONCURRENCY": str(concurrency)}, log_dir)


def start_embeddings_worker(env: dict[str, str], log_dir: Path, name: str, concurrency: int = 1) -> ManagedProcess:
    """The embeddings worker as the Procfile's `embeddings` line runs it (prefork pool)."""
    args = [str(BIN / "celery"), "-A", "workers.embeddings_main", "worker", "-P", "prefork", "--concurrency",
            str(concurrency), "--prefetch-multiplier", "1", "-Q", "embeddings", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--hostname", f"{name}@%h", "--loglevel", "INFO"]
    return ManagedProcess(name, args, env, log_dir)


def start_jobs_worker(env: dict[str, str], log_dir: Path, name: str, concurrency: int = 2) -> ManagedProcess:
    """The jobs worker as the Procfile's `jobs` line runs it (prefork pool, the `jobs` queue)."""
    args = [str(BIN / "celery"), "-A", "workers.jobs_main", "worker", "-P", "prefork", "--concurrency",
            str(concurrency), "--prefetch-multiplier", "1", "-Q", "jobs", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--hostname", f"{name}@%h", "--loglevel", "INFO"]
    return ManagedProcess(name, args, env, log_dir)


def start_web(env: dict[str, str], log_dir: Path, port: int, extra_args: Sequence[str] = ()) -> ManagedProcess:
    """One gunicorn gevent worker; `extra_args` go before the app (e.g. `--worker-connections 12000`)."""
    args = [str(BIN / "gunicorn"), "--config", "python:config.gunicorn", "--worker-class", "gevent", "--workers", "1", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "5", *extra_args, "app.wsgi:application"]
    return ManagedProcess("web", args, env, log_dir)


@contextlib.contextmanager
def serving_web(env: dict[str, str], log_dir: Path):
    """A web process on a free port, yielded as its base URL once /health answered 200."""
    port = free_port()
    proc = start_web(env, log_dir, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: not proc.alive() or http_ok(f"{base}/health"), 60, "the web process")
        assert proc.alive(), proc.log_text()
        yield base
    finally:
        proc.stop()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def fluxbase(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the `fluxbase` command line (`python -m app.cli`) as a user would, output captured.

    A wide virtual terminal, so rich tables are not squeezed into 80 columns."""
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env={**env, "COLUMNS": "200"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
