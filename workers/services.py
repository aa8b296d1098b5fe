"""What a worker process builds once and every turn shares: bus, tools, schema cache, providers, the
cancel subscription and the lease keeper."""
from __future__ import annotations

from functools import cached_property

from psycopg import Connection
from psycopg_pool import ConnectionPool

from app.chat.schema import SchemaCache
from app.chat.schema_catalog import CatalogCache
from app.chat.schema_retrieval import SchemaRetriever
from app.chat.table_embeddings import TableEmbeddings
from app.chat.token_budget import TokenBudget
from app.chat.turns import renew_leases
from app.db.connect import owner_pool
from app.knowledge.embedders import local_embedder
from app.knowledge.retrieval import off_hub
from app.mcp_schema import SchemaResources
from app.metrics import NO_METRICS, Metrics
from app.providers.base import Provider
from app.providers.registry import ClientLimits
from app.providers.repository import key_box
from app.providers.selection import ProviderClients, choose_for_turn
from app.runtime import Runtime
from app.secrets.sealing import SecretBox
from app.streaming.bus import StreamBus
from app.tools.base import ToolServices
from app.tools.registry import ToolRegistry, default_registry
from app.tools.services import tool_services_for
from config import Settings
from workers.cancellation import CancelHub
from workers.turn_lock import LEASE_SECONDS, LeaseKeeper

# Redis connections a worker may use beyond one per greenlet: the cancel subscription, the lease
# keeper, the heartbeat, housekeeping.
_REDIS_HEADROOM = 8
# Hundreds of turns share DB_POOL_SIZE connections: a turn queues for one rather than failing
# (measured: 500 concurrent turns on 10 connections waited more than 5 s at the start).
WORKER_DB_WAIT_SECONDS = 30


def worker_runtime(settings: Settings) -> Runtime:
    """Every greenlet may publish at the same moment, so the Redis pool is sized by the concurrency."""
    return Runtime(settings, redis_connections=settings.worker_concurrency + _REDIS_HEADROOM,
                   client_name="fluxbase-worker",
                   db_wait_seconds=max(WORKER_DB_WAIT_SECONDS, settings.db_acquire_timeout_seconds))


class WorkerServices:
    def __init__(self, runtime: Runtime, metrics: Metrics = NO_METRICS):
        self.runtime = runtime
        self.settings = runtime.settings
        self.metrics = metrics

    @property
    def bus(self) -> StreamBus:
        return self.runtime.bus

    @cached_property
    def registry(self) -> ToolRegistry:
        return default_registry()

    @cached_property
    def tool_services(self) -> ToolServices:
        return tool_services_for(self.runtime)

    @cached_property
    def schema_cache(self) -> SchemaCache:
        return SchemaCache(self.settings.schema_cache_seconds)

    @cached_property
    def schema_catalog(self) -> CatalogCache:
        """Full table descriptions for schema retrieval (app/chat/schema_catalog.py)."""
        return CatalogCache(self.settings.schema_cache_seconds)

    @cached_property
    def schema_retriever(self) -> SchemaRetriever:
        """Ranks a large schema's tables for a turn; its table embeddings are computed once (migration 0019)."""
        return SchemaRetriever(TableEmbeddings(self.runtime.db.connection, local_embedder, run=off_hub))

    @cached_property
    def mcp_schema(self) -> SchemaResources:
        """The schema cache the MCP server's resources read too (`@fluxbase:use-mcp-schema`)."""
        return SchemaResources(self.runtime.redis, self.settings.mcp_schema_check_seconds)

    @cached_property
    def token_budget(self) -> TokenBudget:
        return TokenBudget.for_turns(self.runtime.redis, self.settings.turn_timeout_seconds)

    @cached_property
    def cancel_hub(self) -> CancelHub:
        return CancelHub(self.runtime.redis)

    @cached_property
    def leases(self) -> LeaseKeeper:
        return LeaseKeeper(self.runtime.redis, self._renew_durable_leases)

    @cached_property
    def _lease_db(self) -> ConnectionPool:
        # A connection of its own: behind hundreds of turns queueing for the shared pool, a renewal
        # would wait past the lease it renews.
        return owner_pool(self.settings, "leases", wait_seconds=LEASE_SECONDS / 3, max_size=1)

    def _renew_durable_leases(self, positions: dict[str, int]) -> None:
        with self._lease_db.connection() as conn:
            renew_leases(conn, positions, lease_seconds=LEASE_SECONDS)
            conn.commit()

    @cached_property
    def provider_clients(self) -> ProviderClients:
        return ProviderClients(ClientLimits(self.settings.llm_timeout_seconds, self.settings.llm_max_retries,
                                            self.settings.llm_retry_seconds))

    @cached_property
    def provider_keys(self) -> SecretBox:
        return key_box(self.settings.encryption_key)

    def provider_for(self, conn: Connection, provider_name: str | None, *, pinned: str | None = None) -> Provider:
        """Read for every turn: an admin's change applies from the next turn on (app/providers/selection.py).
        `pinned`: the conversation's pin, which wins over `provider_name` (app/providers/pinning.py)."""
        choice = choose_for_turn(conn, self.settings, self.provider_keys, provider_name, pinned=pinned)
        return self.provider_clients.get(choice)

    def close(self) -> None:
        for name in ("cancel_hub", "leases"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.stop()
        lease_db = self.__dict__.pop("_lease_db", None)
        if lease_db is not None:
            lease_db.close()
        self.runtime.close()
