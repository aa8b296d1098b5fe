"""Sync chatbot definitions into ai.chatbots: one implementation behind three doors.

    start-up   app/wsgi.py -> sync_on_start(settings)            (CHATBOTS_SYNC_ON_START)
    CLI        fluxbase chatbots sync -> sync_directory(...)
    REST       POST /api/v1/admin/ai/chatbots/sync -> sync_payload(...) or sync_directory(...)

Rules (docs/chatbots.md explains them to users):

- The content hash (sha256 of the file's bytes) decides: same hash -> unchanged, new name ->
  created, other hash -> updated with `version + 1`. Admin config overrides and `enabled` are
  kept on update; a sync never re-enables a chatbot an admin disabled. One exception: a file
  whose hash is unchanged is still updated when this server would offer it a different set of
  tools than the stored one (the server gained or lost a tool since the last sync).
- Every created or updated row stores the definition's text as parsed (`code`, shown by the admin
  API). A row synced before that column existed (code NULL) gets it at its next sync even when
  unchanged: written in place, still reported `unchanged`, no new version (`repo.fill_code`).
- A tool the chatbot names that this server cannot run is not an error: the model is not
  offered it, and the report lists it in `warnings` (`{name, warning}`, one per tool).
- One broken definition is reported in `errors` and skipped; the others still sync, and the
  broken one is never deleted by delete_missing (its old, working version stays).
- delete_missing, directory sync: per namespace in scope, deletes `source='filesystem'`
  chatbots that have no file; chatbots pushed through the API are left alone.
  delete_missing, payload sync: deletes every chatbot of the namespace not in the payload.
- Scope of a directory sync: the given namespace, or every namespace that has at least one
  definition (or a broken one) under the directory.
- A payload item may carry the keys of Fluxbase's SDK `ChatbotSpec` besides `name` and `code`
  (`SPEC_ANNOTATIONS`). Each one that maps onto an annotation fills in that annotation when the
  code does not have it; an annotation written in the code wins. Values are validated like the
  annotation (`spec_values`). Keys with no annotation (`SPEC_IGNORED`: enabled, original_code,
  bundling flags) are accepted and ignored: a sync never changes `enabled`. The content hash then
  covers the code and the spec values sent, so changing only a spec value is an update.
- Everything happens in one transaction under a transaction-level advisory lock, so
  concurrent syncs (several web workers starting at once) run one after the other; each
  chatbot gets a savepoint so a database error on one does not undo the others. A dry run
  does all of it and rolls back, so it reports exactly what a real run would do.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from app.chatbots import repository as repo
from app.chatbots.annotations import ConfigError
from app.chatbots.discovery import (
    DEFAULT_NAMESPACE,
    MAX_FILE_BYTES,
    DiscoveryError,
    scan_chatbots,
)
from app.chatbots.kb_warnings import knowledge_base_warnings
from app.chatbots.spec import is_valid_name, parse_chatbot, tool_warnings
from app.chatbots.spec_payload import spec_values
from app.chatbots.tsparse import ChatbotDefinitionError
from app.db.connect import connect_owner
from app.tools.registry import ToolRegistry, default_registry
from config import Settings

__all__ = ["SyncReport", "sync_directory", "sync_on_start",
           "sync_payload"]

log = logging.getLogger(__name__)

# Any constant works; every process that syncs must use the same one. ("FbCb")
_SYNC_LOCK_KEY = 0x46624362
_KINDS = ("created", "updated", "deleted", "unchanged")

@dataclass(frozen=True)
class SyncReport:
    namespace: str | None  # the namespace synced; None when a directory sync covered several
    namespaces: tuple[str, ...]
    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]
    errors: tuple[Mapping[str, str], ...] = field(hash=False)
    dry_run: bool
    # Synced, but something it asks for is not offered to the model (a tool this server cannot run).
    warnings: tuple[Mapping[str, str], ...] = field(default=(), hash=False)

    @property
    def summary(self) -> dict[str, int]:
        return {**{kind: len(getattr(self, kind)) for kind in _KINDS}, "errors": len(self.errors)}

    @property
    def details(self) -> dict[str, list[str]]:
        return {kind: list(getattr(self, kind)) for kind in _KINDS}

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        """One line for people (Fluxbase's SDK shows the sync answer's `message`)."""
        counts = ", ".join(f"{n} {kind}" for kind, n in self.summary.items())
        return ("Dry run - no changes made" if self.dry_run else "Sync completed") + f": {counts}"

    def to_dict(self) -> dict[str, Any]:
        """The answer of POST /api/v1/admin/ai/chatbots/sync (PROTOCOL.md section 5)."""
        return {
            "namespace": self.namespace,
            "summary": self.summary,
            "details": self.details,
            "errors": [dict(error) for error in self.errors],
            "warnings": [dict(warning) for warning in self.warnings],
            "dry_run": self.dry_run,
        }

    def summary_line(self) -> str:
        counts = ", ".join(f"{n} {kind}" for kind, n in self.summary.items())
        if self.warnings:
            counts += f", {len(self.warnings)} warnings"
        return ("dry run: " if self.dry_run else "") + counts


@dataclass(frozen=True)
class _Candidate:
    namespace: str
    name: str
    code: bytes
    where: str | None  # the file path, for error messages; None for payload items
    # Annotation values from a payload item's spec keys, for annotations the code does not have.
    fallbacks: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class _Problem:
    namespace: str | None
    name: str | None  # None: cannot tell which chatbot, so delete_missing skips the namespace
    message: str


@dataclass
class _Outcome:
    """Mutable collector while a sync runs; frozen into a SyncReport at the end."""

    labels: dict[tuple[str, str], str]
    lists: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in _KINDS})
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def add(self, kind: str, namespace: str, name: str) -> None:
        self.lists[kind].append(self.labels.get((namespace, name), name))

    def warn(self, namespace: str, name: str, messages: Iterable[str]) -> None:
        label = self.labels.get((namespace, name), name)
        self.warnings.extend({"name": label, "warning": message} for message in messages)

    def fail(self, namespace: str | None, name: str | None, message: str) -> None:
        label = name if namespace is None or name is None else self.labels.get((namespace, name), name)
        self.errors.append({"name": label or "", "error": message})


# -- the doors -------------------------------------------------------------------------


def sync_directory(settings: Settings, *, directory: str | Path | None = None, namespace: str | None = None,
                   delete_missing: bool = False, dry_run: bool = False, conn: psycopg.Connection | None = None,
                   registry: ToolRegistry | None = None) -> SyncReport:
    """Sync the definition files under `directory` (default CHATBOTS_DIR) as source 'filesystem'.

    `registry` holds the tools this server runs (default: the built-in ones).
    """
    root = Path(directory) if directory is not None else settings.chatbots_dir
    candidates: list[_Candidate] = []
    problems: list[_Problem] = []
    if namespace is not None and not is_valid_name(namespace):
        problems.append(_Problem(None, namespace, f"invalid namespace {str(namespace)[:80]!r}"))
        return _report(namespace, (), _Outcome({}), problems, dry_run)
    try:
        scan = scan_chatbots(root)
    except DiscoveryError as exc:
        # Without a complete listing nothing can be synced, and nothing may be deleted.
        problems.append(_Problem(None, exc.name or str(root), str(exc)))
        return _report(namespace, (namespace,) if namespace else (), _Outcome({}), problems, dry_run)
    for source in scan.sources:
        if namespace is None or source.namespace == namespace:
            candidates.append(_Candidate(source.namespace, source.name, source.code, source.path))
    for error in scan.errors:
        if namespace is None or error.namespace in (namespace, None):
            problems.append(_Problem(error.namespace, error.name, str(error)))
    if namespace is not None:
        scope = (namespace,)
    else:
        scope = tuple(sorted({c.namespace for c in candidates} | {p.namespace for p in problems if p.namespace}))
    return _run(settings, conn, scope, candidates, problems, source="filesystem",
                delete_sources=("filesystem",) if delete_missing else None, dry_run=dry_run,
                registry=registry if registry is not None else default_registry())


def sync_payload(settings: Settings, *, namespace: str = DEFAULT_NAMESPACE, chatbots: Sequence[Mapping[str, Any]],
                 delete_missing: bool = False, dry_run: bool = False, conn: psycopg.Connection | None = None,
                 registry: ToolRegistry | None = None) -> SyncReport:
    """Sync definitions sent as `[{name, code, ...spec keys}]` into one namespace as source 'api'.

    The caller checks the payload's shape (dicts with string `name` and `code`); bad names,
    oversized code, duplicate names and invalid spec values (`spec_values`) are reported per
    chatbot like parse errors.
    """
    if not is_valid_name(namespace):
        problem = _Problem(None, namespace, f"invalid namespace {str(namespace)[:80]!r}")
        return _report(namespace, (), _Outcome({}), [problem], dry_run)
    candidates: list[_Candidate] = []
    problems: list[_Problem] = []
    counts: dict[str, int] = {}
    for item in chatbots:
        counts[item["name"]] = counts.get(item["name"], 0) + 1
    for item in chatbots:
        name, code = item["name"], item["code"].encode("utf-8", errors="surrogatepass")
        if not is_valid_name(name):
            problems.append(_Problem(namespace, name, f"invalid chatbot name {str(name)[:80]!r}: use lower-case letters, "
                                                      "digits, '-' and '_' (1-63 characters)"))
        elif counts[name] > 1:
            if name not in {p.name for p in problems}:
                problems.append(_Problem(namespace, name, f"chatbot {name!r} appears {counts[name]} times in the payload"))
        elif len(code) > MAX_FILE_BYTES:
            problems.append(_Problem(namespace, name, f"{name}: code is larger than {MAX_FILE_BYTES} bytes"))
        else:
            try:
                fallbacks = spec_values(item)
            except ConfigError as exc:
                problems.append(_Problem(namespace, name, f"{name}: {exc.key}: {exc.message}"))
                continue
            candidates.append(_Candidate(namespace, name, code, None, fallbacks))
    return _run(settings, conn, (namespace,), candidates, problems, source="api",
                delete_sources=("filesystem", "api") if delete_missing else None, dry_run=dry_run,
                registry=registry if registry is not None else default_registry())


def sync_on_start(settings: Settings) -> SyncReport | None:
    """The start-up door: sync CHATBOTS_DIR when enabled; never raises (the web process must come up)."""
    if not settings.chatbots_sync_on_start:
        return None
    try:
        report = sync_directory(settings)
    except Exception:  # noqa: BLE001 - a failed sync is logged; serving the existing chatbots beats not serving
        log.exception("chatbot sync at start-up failed; serving the chatbots already in the database")
        return None
    log.info("chatbot sync from %s: %s", settings.chatbots_dir, report.summary_line())
    for error in report.errors:
        log.warning("chatbot %s not synced: %s", error["name"], error["error"])
    for warning in report.warnings:
        log.warning("chatbot %s: %s", warning["name"], warning["warning"])
    return report


# -- the one implementation ---------------------------------------------------------------


def _run(settings: Settings, conn: psycopg.Connection | None, scope: tuple[str, ...],
         candidates: list[_Candidate], problems: list[_Problem], *, source: str,
         delete_sources: tuple[str, ...] | None, dry_run: bool, registry: ToolRegistry) -> SyncReport:
    single = len(scope) <= 1
    labels = {(c.namespace, c.name): c.name if single else f"{c.namespace}/{c.name}" for c in candidates}
    labels.update({(p.namespace, p.name): p.name if single else f"{p.namespace}/{p.name}"
                   for p in problems if p.namespace and p.name})
    outcome = _Outcome(labels)
    # Parse before taking the lock: parsing is the slow part and needs no database.
    drafts = []
    for candidate in candidates:
        try:
            drafts.append(_draft(candidate, registry))
        except ChatbotDefinitionError as exc:
            problems.append(_Problem(candidate.namespace, candidate.name, str(exc)))
    with _connection(settings, conn) as db:
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SYNC_LOCK_KEY,))
                for draft in drafts:
                    _apply_one(db, draft, source, outcome, problems, registry)
                if delete_sources is not None:
                    _delete_missing(db, scope, drafts, problems, delete_sources, outcome)
                if dry_run:
                    raise psycopg.Rollback()
        except psycopg.Error as exc:
            log.exception("chatbot sync failed")
            problems.append(_Problem(None, None, f"database error, nothing was synced: {exc}"))
            outcome = _Outcome(labels)
    return _report(scope[0] if single and scope else None, scope, outcome, problems, dry_run)


def _draft(candidate: _Candidate, registry: ToolRegistry) -> repo.ChatbotDraft:
    spec = parse_chatbot(candidate.code, name=candidate.name, namespace=candidate.namespace, path=candidate.where,
                         registry=registry, fallbacks=candidate.fallbacks)
    draft = repo.draft_from_spec(spec)
    if not candidate.fallbacks:
        return draft  # the hash of the code alone, as for a file
    # The spec values are part of the definition: a change to one alone must be an update.
    spec_json = json.dumps(dict(candidate.fallbacks), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(candidate.code + b"\0" + spec_json.encode("utf-8", errors="surrogatepass"))
    return dataclasses.replace(draft, content_hash=digest.hexdigest())


def _apply_one(db: psycopg.Connection, draft: repo.ChatbotDraft, source: str, outcome: _Outcome,
               problems: list[_Problem], registry: ToolRegistry) -> None:
    try:
        with db.transaction():  # a savepoint: one failing chatbot does not undo the others
            current = repo.get_by_name(db, draft.namespace, draft.name, for_update=True)
            if current is None:
                row = repo.insert(db, draft, source=source, registry=registry)
                kind = "created"
            elif repo.is_current(current, draft, registry):
                row, kind = repo.fill_code(db, current, draft.code), "unchanged"
            else:
                row = repo.update_definition(db, current, draft, source=source, registry=registry)
                kind = "updated"
    except ConfigError as exc:
        problems.append(_Problem(draft.namespace, draft.name,
                                 f"{draft.name}: conflicts with an admin config override: {exc}"))
        return
    except psycopg.errors.UniqueViolation:
        # Unreachable under the advisory lock unless a writer skips it (e.g. a hand-made INSERT).
        problems.append(_Problem(draft.namespace, draft.name, f"{draft.name}: was created concurrently; sync again"))
        return
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
        # Data PostgreSQL refuses (a NUL character in the prompt, ...): this chatbot only.
        # Connection-level failures are not caught here; they end the whole sync.
        problems.append(_Problem(draft.namespace, draft.name, f"{draft.name}: the database refused it: {exc}"))
        return
    outcome.add(kind, draft.namespace, draft.name)
    # From the row as stored, so admin overrides (an mcp_tools edit) count like the file does.
    outcome.warn(draft.namespace, draft.name, tool_warnings(row.config, row.file_tools, registry, row.tools))
    outcome.warn(draft.namespace, draft.name, knowledge_base_warnings(db, row.namespace, row.config))


def _delete_missing(db: psycopg.Connection, scope: Iterable[str], drafts: list[repo.ChatbotDraft],
                    problems: list[_Problem], sources: tuple[str, ...], outcome: _Outcome) -> None:
    for namespace in scope:
        if any(p.namespace in (namespace, None) and p.name is None for p in problems):
            continue  # an error we cannot pin to a name might hide any chatbot of this namespace
        keep = {d.name for d in drafts if d.namespace == namespace}
        keep |= {p.name for p in problems if p.namespace == namespace}
        for row in repo.names_in_namespace(db, namespace):
            if row["name"] not in keep and row["source"] in sources:
                repo.delete(db, row["id"])
                outcome.add("deleted", namespace, row["name"])


def _report(namespace: str | None, scope: tuple[str, ...], outcome: _Outcome, problems: list[_Problem],
            dry_run: bool) -> SyncReport:
    for problem in problems:
        outcome.fail(problem.namespace, problem.name, problem.message)
    return SyncReport(
        namespace=namespace, namespaces=scope,
        **{kind: tuple(outcome.lists[kind]) for kind in _KINDS},
        errors=tuple(outcome.errors), dry_run=dry_run, warnings=tuple(outcome.warnings),
    )


@contextlib.contextmanager
def _connection(settings: Settings, conn: psycopg.Connection | None) -> Iterator[psycopg.Connection]:
    if conn is not None:
        yield conn
        return
    with connect_owner(settings) as own:
        yield own
