"""The `approve` and `deny` frames (docs/approval.md): record the owner's answer, ring the worker.

Only the conversation's owner answers: the conversation must be started on this socket (which
checked that it is this caller's) and the approval's conversation must have this caller's user id.
Anything else, an unknown id included, is APPROVAL_NOT_FOUND: another user learns nothing about
whether an approval exists. An approval that is no longer pending is APPROVAL_CLOSED.
"""
from __future__ import annotations

import logging
from collections.abc import Collection

import redis

from app.approvals import signal, store
from app.auth.tokens import Principal
from app.chat.frames import ApprovalAnswer
from app.chat.hub import ChatHub
from app.protocol import Code, ProtocolError

__all__ = ["answer_approval"]

log = logging.getLogger(__name__)


def answer_approval(hub: ChatHub, principal: Principal, request: ApprovalAnswer, *, attached: Collection[str]) -> None:
    with hub.runtime.db.connection() as conn:
        found = store.get(conn, request.approval_id)
        if (found is None or found.conversation_id not in attached
                or (request.conversation_id is not None and request.conversation_id != found.conversation_id)):
            conn.rollback()
            raise ProtocolError(Code.APPROVAL_NOT_FOUND, conversation_id=request.conversation_id)
        try:
            store.answer(conn, request.approval_id, approved=request.approved, user_id=principal.user_id,
                         reason=request.reason)
        except store.Answered as exc:
            conn.rollback()
            code = Code.APPROVAL_CLOSED if exc.why == "closed" else Code.APPROVAL_NOT_FOUND
            raise ProtocolError(code, conversation_id=found.conversation_id) from None
        conn.commit()
    try:
        signal.ring(hub.runtime.redis, request.approval_id)
    except redis.RedisError as exc:
        # Recorded: the worker reads PostgreSQL again within seconds and finds it.
        log.warning("could not ring the worker for approval %s: %s", request.approval_id, exc)
    # What the client sees next is the worker's `approval_result` on the conversation's stream.
