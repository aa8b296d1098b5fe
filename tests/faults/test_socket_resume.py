"""Fault 5: a socket dropped at random points of streaming answers and resumed from the last seq it
saw, over and over (50 times in the short suite, 500 in the full one). Half the drops are a TCP
shutdown with no close frame (a network loss), half a clean close. Every turn's events are compared
with the server's record of them (the conversation's replay stream in Redis, read as the turn ends):
0 lost, 0 duplicated, the text identical."""
from __future__ import annotations

import socket

import psycopg

from app.streaming.bus import StreamBus
from tests.faults import harness


def compare(record: list[dict], received: list[dict]) -> dict[str, int]:
    """Lost, duplicated and unknown events of one turn, received against recorded.

    A slow reader's queued deltas are merged into one that carries the last merged seq (docs/chat.md),
    so a received delta stands for the recorded deltas since the previous one received."""
    turn = [e for e in record if "message_id" in e]
    message_id = turn[0]["message_id"] if turn else None
    got = [e for e in received if e.get("message_id") == message_id and e.get("type") != "events_lost"]
    seqs = [e["seq"] for e in got]
    by_seq = {e["seq"]: e for e in got}
    lost, pending = 0, ""
    for event in turn:
        mine = by_seq.get(event["seq"])
        if event["type"] == "content":
            pending += event["delta"]
            if mine is not None:
                lost += mine.get("type") != "content" or mine["delta"] != pending
                pending = ""
            continue
        lost += bool(pending) + (mine is None or mine.get("type") != event["type"])
        pending = ""
    lost += bool(pending)
    lost += sum(e.get("type") == "events_lost" for e in received if e.get("message_id") == message_id)
    return {"lost": lost, "duplicated": len(seqs) - len(set(seqs)),
            "unknown": len(set(seqs) - {e["seq"] for e in turn}), "recorded": len(turn)}


def _drop(client, abrupt: bool) -> None:
    if abrupt:
        try:
            client.ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    client.close()


def test_a_socket_dropped_and_resumed_at_random_points_loses_and_repeats_nothing(fault_stack, llm, scale, report,
                                                                                rng):
    stack = fault_stack
    redis_client = stack.redis_client()
    bus = StreamBus(redis_client)
    client = harness.connect(stack.web)
    conversation = harness.start(client)
    received: list[dict] = []  # this turn's events, over every socket
    last_seq = 0
    drops = turns = 0
    totals = {"lost": 0, "duplicated": 0, "unknown": 0, "recorded": 0}
    failures: list[str] = []
    try:
        while drops < scale.socket_drops:
            text = harness.words(200, f"t{turns}-")
            llm.reply_slow(text, 0.01, chunks=200)
            client.send({"type": "message", "conversation_id": conversation, "content": f"turn {turns}"})
            ended = False
            while not ended:
                for _ in range(rng.randint(0, 12)):
                    event = client.recv(30)
                    received.append(event)
                    last_seq = event.get("seq", last_seq)
                    if event.get("type") in harness.ENDINGS and "message_id" in event:
                        ended = True
                        break
                if ended:
                    break
                _drop(client, abrupt=rng.random() < 0.5)
                drops += 1
                client = harness.connect(stack.web)
                resumed = client.start_chat("shop", namespace="tests", conversation_id=conversation,
                                            last_seq=last_seq)
                if resumed["type"] != "chat_started" or resumed["seq"] < last_seq:
                    failures.append(f"turn {turns}: resume from {last_seq} answered {resumed}")
                last_seq = resumed.get("seq", last_seq)
            # The record, read before the next turn's first event trims it.
            counts = compare(bus.range(conversation, 1), received)
            for key in totals:
                totals[key] += counts[key]
            if counts["lost"] or counts["duplicated"] or counts["unknown"]:
                failures.append(f"turn {turns}: {counts}")
            if harness.shown(received) != text:
                failures.append(f"turn {turns}: the text differs from the answer")
            received = []
            turns += 1
        with psycopg.connect(stack.settings.database_url) as conn:
            stored = conn.execute("select count(*) from ai.messages where conversation_id = %s and role = 'assistant'",
                                  (conversation,)).fetchone()[0]
        if stored != turns:
            failures.append(f"{stored} answers stored for {turns} turns")
    finally:
        client.close()
        redis_client.close()
    report.add("socket dropped and resumed", drops, "0 lost, 0 duplicated events vs the server's record",
               f"{turns} turns, {totals['recorded']} events recorded: {totals['lost']} lost, "
               f"{totals['duplicated']} duplicated, {totals['unknown']} unknown", len(failures))
    assert not failures, failures
