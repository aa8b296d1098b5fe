"""The cancel signal for a running turn, as both sides share it.

The web process sets a key (so a worker that starts the turn later still sees it) and publishes
the turn id on one channel that every worker process follows with a single subscription (so a
running turn hears it at once without holding a Redis connection of its own).
"""
from __future__ import annotations

import redis

CANCEL_CHANNEL = "fluxbase:turn-cancel"
CANCEL_TTL_SECONDS = 3600


def cancel_key(turn_id: str) -> str:
    return f"fluxbase:turn:{turn_id}:cancel"


def request_cancel(client: redis.Redis, turn_id: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.set(cancel_key(turn_id), "1", ex=CANCEL_TTL_SECONDS)
    pipe.publish(CANCEL_CHANNEL, turn_id)
    pipe.execute()


def cancelled_turns(client: redis.Redis, turn_ids: list[str]) -> list[str]:
    """Which of these turns have a cancel request waiting (one round trip)."""
    if not turn_ids:
        return []
    pipe = client.pipeline(transaction=False)
    for turn_id in turn_ids:
        pipe.exists(cancel_key(turn_id))
    return [turn_id for turn_id, found in zip(turn_ids, pipe.execute()) if found]
