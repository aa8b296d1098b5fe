"""The approval step of a turn (docs/approval.md): before a tool call runs, allow it, refuse it
(`deny`), or (`ask`) preview it, store it, tell the client, and wait for the owner's answer.

The registry calls the gate after a call's arguments and scope were checked (ToolContext.approval).
Waiting does not count against the turn's time limit (the loop's deadline moves on by the time
spent waiting), but one turn waits at most APPROVAL_TIMEOUT_SECONDS in all: the task's hard time
limit (app/jobs.py) allows for that much and no more. A cancel ends the wait at once.

What runs once approved is the call that was previewed: its stored arguments, never a new model
answer; the row's `executed_at`, set in one guarded statement, lets exactly one attempt run it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis

from app import protocol
from app.approvals import signal, store
from app.approvals.preview import NotPreviewable, preview_call, sql_operation
from app.chatbots.approval_rules import ALLOW, DENY, call_operation, mode_for
from app.tools.base import ToolContext
from workers.cancellation import TurnCancellation

__all__ = ["ApprovalGate", "RECHECK_SECONDS"]

log = logging.getLogger(__name__)

# The longest one wait on the doorbell lasts before PostgreSQL is read again: what a lost
# signal costs, and how long a Redis connection is held by one BLPOP.
RECHECK_SECONDS = 2.0
_SQL_TOOLS = frozenset({"execute_sql", "insert_record", "update_record", "delete_record"})
_PREVIEWED = _SQL_TOOLS | {"http_get", "invoke_function"}


class ApprovalGate:
    def __init__(self, *, db, redis_client: redis.Redis, force_ask_writes: bool, timeout_seconds: float,
                 emit: Callable[[dict], object], cancellation: TurnCancellation,
                 on_waited: Callable[[float], None] = lambda seconds: None,
                 required: Callable[[str], Sequence[str]] = lambda tool: ()):
        self._db = db
        self._redis = redis_client
        self._force = force_ask_writes
        self._timeout = float(timeout_seconds)
        self._emit = emit
        self._cancellation = cancellation
        self._on_waited = on_waited
        self._required = required   # a tool's required arguments, from its JSON schema
        self._lock = threading.Lock()
        self._budget = float(timeout_seconds)   # seconds of waiting this turn has left
        self._waiting = 0
        self._since = 0.0

    def expire_earlier_attempts(self, turn_id: str) -> None:
        """An earlier attempt of this turn died while waiting: its approvals can never run now."""
        with self._db.connection() as conn:
            expired = store.expire_turn(conn, turn_id)
            conn.commit()
        # The client was shown them: close each, or it would keep offering an answer that can only fail.
        for approval_id in expired:
            self._emit(protocol.approval_result(approval_id, store.EXPIRED))
        if expired:
            log.info("expired %d approval(s) left pending by an earlier attempt", len(expired))

    def __call__(self, tool: str, arguments: dict, ctx: ToolContext) -> str | None:
        operation = sql_operation(ctx, arguments) if tool == "execute_sql" else call_operation(tool, arguments)
        if tool == "execute_sql" and operation is None:
            return None  # the guard refuses it: the tool says so, audited, as it always did
        mode = mode_for(ctx.chatbot_config, tool, operation, force_ask_writes=self._force)
        if mode == ALLOW:
            return None
        what = f"{tool}" + (f" ({operation})" if operation else "")
        if mode == DENY:
            text = f"Error: {what} is denied by this assistant's approval policy; nothing was run. Do not retry it."
            self._show_refusal(tool, arguments, text)
            return text
        return self._ask(tool, arguments, ctx, what)

    # -- ask ------------------------------------------------------------------------------------

    def _ask(self, tool: str, arguments: dict, ctx: ToolContext, what: str) -> str | None:
        if self._cancellation.cancelled:
            return "Error: cancelled by the user"
        # A call previewed only by its arguments (storage, jobs) that lacks one it needs would fail once
        # approved: the user is not asked, and nothing runs. The other tools' previews check their own.
        missing = [] if tool in _PREVIEWED else [name for name in self._required(tool)
                                                  if arguments.get(name) in (None, "")]
        if missing:
            text = (f"Error: {', '.join(f'`{name}`' for name in missing)} is required for {tool}; "
                    "nothing was run and the user was not asked")
            self._show_refusal(tool, arguments, text)
            return text
        try:
            preview = preview_call(ctx, tool, arguments)
        except NotPreviewable as exc:
            if exc.refused:
                return None  # the tool's own checks refuse it, audited and shown as they always are
            text = f"Error: {exc.reason} (found while preparing the approval request; nothing was changed)"
            self._show_refusal(tool, arguments, text)
            return text
        with self._lock:
            seconds = min(self._timeout, self._budget)
        if seconds <= 1:
            return f"Error: {what} needs the user's approval, and this answer has waited as long as it may; ask again."
        with self._db.connection() as conn:
            approval = store.create(conn, conversation_id=ctx.conversation_id, turn_id=ctx.turn_id, tool=tool,
                                    arguments=arguments, statement=preview.statement, preview=preview.data,
                                    expires_in_seconds=seconds)
            conn.commit()
        scrub = ctx.scrub or (lambda text: text)
        self._emit(protocol.approval_required(
            approval.id, tool, scrub(preview.description), sql=scrub(preview.sql) if preview.sql else None,
            preview=preview.data, expires_at=approval.expires_at.isoformat()))
        decision, reason = self._wait(approval.id, seconds)
        self._emit(protocol.approval_result(approval.id, decision, reason))
        if decision == store.APPROVED:
            with self._db.connection() as conn:
                claimed = store.claim_run(conn, approval.id)
                conn.commit()
            if not claimed:
                return "Error: this approved call was already run; it is not run again"
            return None
        if decision == store.DENIED:
            why = f" Their reason: {reason}" if reason else ""
            return (f"Error: the user did not approve {what}; nothing was run.{why} "
                    "Do not retry it unless the user asks for it again.")
        if decision == "cancelled":
            return "Error: cancelled by the user"
        return (f"Error: the user did not approve {what} in time (the request expired); nothing was run. "
                "Tell the user, and do not retry it unless they ask again.")

    def _wait(self, approval_id: str, seconds: float) -> tuple[str, str | None]:
        deadline = time.monotonic() + seconds
        unregister = self._cancellation.on_cancel(lambda: self._ring(approval_id, "cancelled"))
        self._began()
        try:
            while True:
                if self._cancellation.cancelled:
                    with self._db.connection() as conn:
                        closed = store.expire(conn, approval_id)
                        conn.commit()
                    if closed is not None:
                        return "cancelled", None
                left = deadline - time.monotonic()
                if left <= 0:
                    with self._db.connection() as conn:
                        closed = store.expire(conn, approval_id)
                        conn.commit()
                    if closed is not None:
                        return store.EXPIRED, None
                else:
                    try:
                        signal.wait(self._redis, approval_id, min(left, RECHECK_SECONDS))
                    except redis.RedisError as exc:
                        # PostgreSQL still has the answer: read it at the same pace without the doorbell.
                        log.warning("approval doorbell unavailable: %s", exc)
                        threading.Event().wait(min(left, RECHECK_SECONDS))
                with self._db.connection() as conn:
                    current = store.get(conn, approval_id)
                    conn.commit()
                if current is None:
                    return store.EXPIRED, None  # deleted with its conversation
                if current.status != store.PENDING:
                    return current.status, current.reason
        finally:
            unregister()
            self._ended()

    def _ring(self, approval_id: str, what: str) -> None:
        try:
            signal.ring(self._redis, approval_id, what)
        except redis.RedisError:
            pass  # the wait reads PostgreSQL every RECHECK_SECONDS anyway

    # -- time spent waiting ---------------------------------------------------------------------

    def _began(self) -> None:
        with self._lock:
            if self._waiting == 0:
                self._since = time.monotonic()
            self._waiting += 1

    def _ended(self) -> None:
        # Calls of one round wait side by side: the time is counted once, when the last one ends.
        with self._lock:
            self._waiting -= 1
            if self._waiting:
                return
            waited = time.monotonic() - self._since
            self._budget -= waited
        self._on_waited(waited)

    def _show_refusal(self, tool: str, arguments: dict, text: str) -> None:
        reason = text.removeprefix("Error: ")
        if tool == "execute_sql":
            self._emit(protocol.query_result(str(arguments.get("sql") or "")[:20_000], error=reason))
        elif tool in _SQL_TOOLS:
            self._emit(protocol.query_result(f"{tool} {arguments.get('table')}"[:200], error=reason))
        else:
            self._emit(protocol.tool_result(tool, error=reason))
