"""Planning an attempt: everything it needs, read once from the database into a frozen `TurnPlan`.

The plan decides who the model-written SQL runs as, which tools are offered, what the model is
told and which provider answers; running the attempt (workers/turn.py) only carries it out.
A refusal found while planning (the chatbot was disabled meanwhile, a retry after a committed
write) is a ProtocolError, which becomes the turn's ending.
"""
from __future__ import annotations

import secrets as random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from psycopg import Connection

from app import protocol
from app.chat.records import StoredMessage, TurnContext
from app.chat.schema_retrieval import SchemaCandidates
from app.chat.templates import load_settings, missing, missing_error, render, scopes_of
from app.chat.turns import history, quota_key
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.knowledge import retrieval
from app.mcp_schema import TABLE_TOOLS
from app.protocol import Code, ProtocolError, Step
from app.providers.base import CompletionOptions, Provider
from app.settings_store.turn_secrets import NO_TURN_SECRETS, TurnSecrets, turn_secrets
from app.sql.audit import turn_wrote_data
from app.sql.guard import AccessPolicy
from app.tools.sql_tool import chatbot_access_policy
from workers.prompt import PromptInput, build_messages

if TYPE_CHECKING:
    from workers.services import WorkerServices

@dataclass(frozen=True)
class EndUser:
    """Whom tools act for. Model-written SQL runs as `authenticated` for a signed-in user (admins
    included) and as `anon` for everyone else, service-key callers too: never with more than an
    end user's rights."""

    user_id: str | None
    role: str
    claims: dict = field(hash=False)


@dataclass(frozen=True)
class TurnLimits:
    max_tool_rounds: int
    deadline: float             # time.monotonic() value
    max_tokens: int
    daily_tokens: int           # @fluxbase:token-budget
    quota_key: str              # whose budget: see app/chat/request_limits.py caller_identity


@dataclass(frozen=True)
class TurnPlan:
    started: TurnContext
    chatbot: chatbots.ChatbotRecord
    end_user: EndUser
    history: tuple[StoredMessage, ...]
    tool_definitions: tuple[dict, ...]   # what the chatbot declares; the registry offers those it can run
    offered_tools: tuple[str, ...]
    prompt: PromptInput
    provider: Provider
    options: CompletionOptions
    limits: TurnLimits
    secrets: TurnSecrets = NO_TURN_SECRETS   # what http_get may fill in, and what is scrubbed from the turn
    # Set when the chatbot may read too many tables to describe them all: workers/schema_step.py picks some.
    schema_candidates: SchemaCandidates | None = None

    @property
    def messages(self) -> list[dict]:
        return build_messages(self.prompt, self.history, self.started.user_content)


def end_user_of(user_id: str | None, user_role: str) -> EndUser:
    role = "authenticated" if user_role in ("authenticated", "admin") and user_id else "anon"
    claims = {"role": role, **({"sub": user_id} if user_id else {})}
    return EndUser(user_id, role, claims)


def build_plan(conn: Connection, services: WorkerServices, started: TurnContext) -> TurnPlan:
    settings = services.settings
    turn, conversation = started.turn, started.conversation
    if turn.attempts > 1 and turn_wrote_data(conn, turn.id):
        raise ProtocolError(Code.INTERNAL_ERROR, "The answer was interrupted after it changed data; it is not "
                                                 "repeated. Check the data and ask again.")
    chatbot = chatbots.get_record(conn, conversation.chatbot_id, policy=server_policy(settings))
    if chatbot is None or not chatbot.enabled:
        raise ProtocolError(Code.CHATBOT_NOT_FOUND)
    config = chatbot.config
    end_user = end_user_of(conversation.user_id, conversation.user_role)
    offered = tuple(tool["name"] for tool in services.registry.offered(list(chatbot.tools)))
    # Every key the prompt names, and the required ones; a required one deleted since start_chat ends the turn.
    required = list(config.get("required_settings", []))
    scopes = scopes_of(chatbot.system_prompt, required)
    template_settings = load_settings(conn, scopes, conversation.user_id)
    absent = missing(required, scopes, template_settings)
    if absent:
        raise missing_error(absent, scopes)
    policy = chatbot_access_policy(config)
    schema = candidates = None
    if policy is not None and TABLE_TOOLS.intersection(offered):
        candidates = schema_candidates(conn, services, chatbot, policy, end_user.role)
    if candidates is None and policy is not None and TABLE_TOOLS.intersection(offered):
        # @fluxbase:use-mcp-schema: the MCP server's cached resource, kept until the catalog changes.
        schema = (services.mcp_schema.text(conn, policy, end_user.role) if config.get("use_mcp_schema") else
                  services.schema_cache.describe(conn, (chatbot.id, chatbot.version, end_user.role), policy,
                                                 end_user.role))
    prompt = PromptInput(
        chatbot_prompt=render(chatbot.system_prompt, user_id=conversation.user_id, namespace=chatbot.namespace,
                              settings=template_settings),
        response_language=config["response_language"], now=datetime.now(timezone.utc), tool_names=offered,
        schema_description=schema)
    return TurnPlan(
        started=started, chatbot=chatbot, end_user=end_user,
        history=tuple(history(conn, conversation.id, before_turn=turn.id)),
        tool_definitions=tuple(chatbot.tools), offered_tools=offered, prompt=prompt,
        provider=services.provider_for(conn, config.get("provider"), pinned=conversation.provider_name),
        options=CompletionOptions(model=config.get("model"), max_tokens=config["max_tokens"],
                                  temperature=config["temperature"]),
        limits=TurnLimits(max_tool_rounds=settings.max_tool_rounds,
                          deadline=time.monotonic() + settings.turn_timeout_seconds,
                          max_tokens=config["max_tokens"], daily_tokens=config["daily_token_budget"],
                          quota_key=quota_key(conn, turn.id) or _fallback_quota_key(conversation)),
        secrets=turn_secrets(template_settings, scopes, settings.encryption_key), schema_candidates=candidates)


def schema_candidates(conn: Connection, services: WorkerServices, chatbot: chatbots.ChatbotRecord,
                      policy: AccessPolicy, role: str) -> SchemaCandidates | None:
    """Every table the end user may read through this chatbot, when there are more than
    SCHEMA_RETRIEVAL_MIN_TABLES of them (retrieval then chooses which to describe); else None."""
    threshold = services.settings.schema_retrieval_min_tables
    if threshold <= 0:
        return None
    catalog = services.schema_catalog.catalog(conn, (chatbot.id, chatbot.version, role), policy, role)
    return SchemaCandidates(catalog, policy) if len(catalog) > threshold else None


def _fallback_quota_key(conversation) -> str:
    # A turn queued before its key was recorded: the user, or (anonymous) its conversation alone.
    return f"user:{conversation.user_id}" if conversation.user_id else f"conversation:{conversation.id}"


def with_knowledge(services: WorkerServices, plan: TurnPlan, emit: Callable[[dict], object]) -> TurnPlan:
    """The plan with the passages of the chatbot's knowledge bases that match the user's message
    (app/knowledge/retrieval.py). A chatbot with no bases is returned as it is, without a progress
    step; a base that cannot be searched is named in the prompt and the turn goes on without it."""
    config = plan.chatbot.config
    names = retrieval.linked_bases(config)
    if not names:
        return plan
    emit(protocol.progress(Step.SEARCHING_KNOWLEDGE, "Searching the knowledge base..."))
    question, answer = last_exchange(plan.history)
    found = retrieval.retrieve(
        services.runtime.db.connection, services.settings, namespace=plan.chatbot.namespace, names=names,
        query=retrieval.query_text(plan.started.user_content, question, answer), user_id=plan.end_user.user_id,
        max_chunks=int(config.get("rag_max_chunks") or 5), threshold=float(config.get("rag_similarity_threshold", 0.7)))
    prompt = replace(plan.prompt, knowledge=found.passages, knowledge_unavailable=found.failed,
                     knowledge_marker=random.token_hex(6))
    return replace(plan, prompt=prompt)


def last_exchange(history: Sequence[StoredMessage]) -> tuple[str | None, str | None]:
    """The previous user message and the answer it got (its last assistant text), if any."""
    question = answer = None
    for row in reversed(history):
        if row.role == "assistant" and row.content and answer is None and question is None:
            answer = row.content
        elif row.role == "user":
            question = row.content
            break
    return question, answer
