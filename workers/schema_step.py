"""Schema retrieval in a turn: for a chatbot that may read more than SCHEMA_RETRIEVAL_MIN_TABLES tables,
the prompt describes only those relevant to the conversation (app/chat/schema_retrieval.py) and the
model is offered `describe_table` for the others.

The plan (workers/plan.py) reads the catalog and leaves `schema_candidates` set instead of describing
every table; `with_schema` then embeds the query off the hub, with no pool connection held while the
model runs (a first turn over a new schema also embeds its tables, once: app/chat/table_embeddings.py).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from app.chat.records import StoredMessage
from app.chat.schema_catalog import TableInfo, display_name, prompt_line
from app.chat.schema_retrieval import RetrievalLimits, SchemaSelection
from app.knowledge.retrieval import query_text
from app.sql.guard import AccessPolicy, check_sql
from app.tools.describe_table import DESCRIBE_TABLE, resolve_table
from workers.plan import TurnPlan, last_exchange

if TYPE_CHECKING:
    from workers.services import WorkerServices

log = logging.getLogger(__name__)

# The other tables' names are listed when they fit in this many characters (about 400 tokens); past it
# the prompt gives only their number. Measured in docs/schema_retrieval.md: 500 names cost ~3,600 tokens.
OTHER_NAMES_CHARS = 1_600
# Tables a conversation used are kept described, the most recent first, up to this many.
MAX_USED_TABLES = 8


def with_schema(services: WorkerServices, plan: TurnPlan) -> TurnPlan:
    """The plan with the retrieved tables described and `describe_table` offered; unchanged when the
    chatbot's tables are few enough to describe them all."""
    candidates = plan.schema_candidates
    if candidates is None:
        return plan
    question, answer = last_exchange(plan.history)
    settings = services.settings
    limits = RetrievalLimits(max_tables=settings.schema_retrieval_max_tables)
    used = tables_used(plan.history, candidates.policy, candidates.catalog)
    selection = services.schema_retriever.retrieve(
        candidates.catalog, query_text(plan.started.user_content, question, answer), used, limits)
    log.info("schema retrieval: %d of %d tables described in %.0f ms", len(selection.tables), selection.total,
             selection.seconds * 1000)
    text = describe_selection(candidates.catalog, selection, candidates.policy.default_schema)
    definitions = plan.tool_definitions
    if DESCRIBE_TABLE.name not in plan.offered_tools and DESCRIBE_TABLE.name in services.registry:
        definitions = (*definitions, services.registry.definition(DESCRIBE_TABLE.name))
    offered = tuple(dict.fromkeys((*plan.offered_tools, DESCRIBE_TABLE.name)))
    prompt = replace(plan.prompt, schema_description=text, tool_names=offered)
    return replace(plan, prompt=prompt, tool_definitions=definitions, offered_tools=offered)


def describe_selection(catalog: dict[tuple[str, str], TableInfo], selection: SchemaSelection,
                       default_schema: str, other_names_chars: int = OTHER_NAMES_CHARS) -> str:
    lines = [prompt_line(catalog[key], default_schema) for key in selection.tables]
    others = sorted(display_name(key, default_schema) for key in catalog if key not in set(selection.tables))
    if not others:
        return "\n".join(lines)
    note = (f"These are {len(selection.tables)} of the {selection.total} tables you may use, chosen for this "
            f"conversation. Before using any other table, call describe_table with its name to see its columns.")
    listed = ", ".join(others)
    if len(listed) <= other_names_chars:
        note += f" The other tables: {listed}."
    else:
        note += f" {len(others)} other tables exist; ask describe_table about the one you need by its likely name."
    return "\n".join(lines) + "\n" + note


def tables_used(history: Sequence[StoredMessage], policy: AccessPolicy,
                catalog: dict[tuple[str, str], TableInfo]) -> list[tuple[str, str]]:
    """Tables earlier tool calls of this conversation touched (SQL, the table tools, describe_table), the most
    recent first, among those the catalog holds."""
    found: list[tuple[str, str]] = []
    for message in reversed(history):
        if message.role != "assistant" or not message.tool_calls:
            continue
        calls = message.tool_calls if isinstance(message.tool_calls, list) else json.loads(message.tool_calls)
        for call in reversed(calls):
            for key in _call_tables(call, policy):
                if key in catalog and key not in found:
                    found.append(key)
        if len(found) >= MAX_USED_TABLES:
            break
    return found[:MAX_USED_TABLES]


def _call_tables(call: dict, policy: AccessPolicy) -> list[tuple[str, str]]:
    try:
        arguments = json.loads(call.get("arguments") or "{}")
    except (json.JSONDecodeError, RecursionError, TypeError):
        return []
    if not isinstance(arguments, dict):
        return []
    if call.get("name") == "execute_sql" and isinstance(arguments.get("sql"), str):
        try:
            return sorted(check_sql(arguments["sql"], policy).tables)
        except Exception:  # noqa: BLE001 - a refused or unparsable statement used no table
            return []
    table = arguments.get("table")
    if isinstance(table, str):
        key = resolve_table(table, policy)
        return [key] if key else []
    return []
