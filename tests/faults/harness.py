"""What the fault tests check about the events one client received, and small tools they share."""
from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterable

from tests.conftest import ALICE, token_for
from tests.support.chat_client import ChatClient

ENDINGS = ("done", "error", "cancelled")


def words(count: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(count))


def connect(web: str, user: str = ALICE) -> ChatClient:
    return ChatClient(web, token_for(user))


def start(client: ChatClient) -> str:
    started = client.start_chat("shop", namespace="tests")
    assert started["type"] == "chat_started", started
    return started["conversation_id"]


def of(events: Iterable[dict], conversation_id: str) -> list[dict]:
    return [e for e in events if e.get("conversation_id") == conversation_id]


def endings(events: Iterable[dict]) -> list[dict]:
    return [e for e in events if e.get("type") in ENDINGS and "message_id" in e]


def delta_text(events: Iterable[dict], message_id: str | None = None) -> str:
    return "".join(e["delta"] for e in events
                   if e.get("type") == "content" and (message_id is None or e.get("message_id") == message_id))


def shown(events: list[dict]) -> str:
    """What a client ends up showing for the turn that ended last: the ending's `content` after a loss,
    else the deltas of the ending's message (a retried attempt has its own message id)."""
    ending = endings(events)[-1]
    if ending.get("recovered"):
        return ending["content"]
    return delta_text(events, ending["message_id"])


def numbering_problems(events: Iterable[dict]) -> list[str]:
    """Numbers must only go up: a repeated or backward seq is a duplicate or a reordering."""
    seqs = [e["seq"] for e in events if "message_id" in e and e.get("type") != "events_lost"]
    problems = []
    for before, after in zip(seqs, seqs[1:]):
        if after <= before:
            problems.append(f"seq {after} after {before}")
    return problems


def until_ending(client: ChatClient, conversation_id: str, timeout: float) -> dict:
    return client.until(lambda e: e.get("type") in ENDINGS and e.get("conversation_id") == conversation_id
                        and "message_id" in e, timeout)[-1]


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def in_threads(jobs: Iterable[Callable[[], object]]) -> list[object]:
    """Run each job in its own thread; returns their results (or the exception each raised), in order."""
    jobs = list(jobs)
    results: list[object] = [None] * len(jobs)

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            results[index] = job()
        except BaseException as exc:  # reported, not raised: one run's failure is a row's count
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
