"""Ordered SQL migrations, applied once each, safe to run from several processes at once."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from app.db.connect import connect_owner
from config import Settings

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process that migrates.
_LOCK_KEY = 0x466C7578  # "Flux"


class MigrationError(Exception):
    """A migration failed or the database lacks what the server needs."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    folder = resources.files("app.db") / "migrations"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text()))
    return found


def _check_vector(conn: psycopg.Connection) -> None:
    row = conn.execute("select 1 from pg_available_extensions where name = 'vector'").fetchone()
    if row is None:
        raise MigrationError(
            "the PostgreSQL server has no `vector` extension (pgvector). Install it on the database server "
            "(e.g. `apt-get install postgresql-16-pgvector`, or build it from github.com/pgvector/pgvector), "
            "or leave DATABASE_URL unset to use the embedded PostgreSQL that ships with it.")
    version = conn.execute("show server_version_num").fetchone()[0]
    if int(version) < 150000:
        raise MigrationError(f"PostgreSQL 15 or newer is required (server is {version})")


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied_now: list[str] = []
    with connect_owner(settings, autocommit=True) as conn:
        _check_vector(conn)
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("create schema if not exists ai")
            conn.execute("""create table if not exists ai.schema_migrations (
                version text primary key, name text not null, checksum text not null,
                applied_at timestamptz not null default now())""")
            done = {row[0]: row[2] for row in conn.execute("select version, name, checksum from ai.schema_migrations")}
            for migration in available():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        log.warning("migration %s_%s changed after it was applied", migration.version, migration.name)
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql)
                        conn.execute("insert into ai.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                                     (migration.version, migration.name, migration.checksum))
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {migration.version}_{migration.name} failed: {exc}") from None
                applied_now.append(migration.version)
                log.info("applied migration %s_%s", migration.version, migration.name)
            _set_authenticator_password(conn, settings)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _set_authenticator_password(conn: psycopg.Connection, settings: Settings) -> None:
    if not settings.authenticator_password:
        return
    conn.execute(sql.SQL("alter role authenticator password {}").format(sql.Literal(settings.authenticator_password)))
