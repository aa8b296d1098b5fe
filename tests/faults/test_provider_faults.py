"""Fault 4: the provider misbehaving: streams that stall or are cut (the connection dropped mid-SSE)
at random points after text went out, and a storm of 429s with `retry-after` against many turns at
once, one that passes and one that lasts. Every turn ends once with a clear ending; retries stay
within LLM_MAX_RETRIES and LLM_RETRY_SECONDS; a stream that began is never retried (its text reached
the client, and is what is stored)."""
from __future__ import annotations

import time
from collections import Counter

import psycopg

from tests.faults import harness
from tests.faults.conftest import STACK_ENV
from tests.support.llm_script import error_reply

MAX_TRIES = 1 + int(STACK_ENV["LLM_MAX_RETRIES"])
RETRY_SECONDS = int(STACK_ENV["LLM_RETRY_SECONDS"])
TIMEOUT_SECONDS = int(STACK_ENV["LLM_TIMEOUT_SECONDS"])


def _tries_by_question(llm) -> Counter:
    return Counter(next((m.get("content") for m in reversed(r.messages) if m.get("role") == "user"), None)
                   for r in llm.chat_requests())


def _ask_all(stack, questions: list[str], timeout: float) -> dict[str, list[dict]]:
    """One socket per question, all sent at once; each question's events up to its ending."""
    clients = [harness.connect(stack.web) for _ in questions]
    try:
        conversations = [harness.start(c) for c in clients]
        for client, conversation, question in zip(clients, conversations, questions):
            client.send({"type": "message", "conversation_id": conversation, "content": question})

        def wait(client, conversation):
            harness.until_ending(client, conversation, timeout)
            return harness.of(client.events, conversation)

        results = harness.in_threads([lambda c=c, m=m: wait(c, m) for c, m in zip(clients, conversations)])
        return dict(zip(questions, results))
    finally:
        for client in clients:
            client.close()


def test_stalled_and_cut_streams_end_once_with_the_text_sent_kept(fault_stack, llm, scale, report, rng):
    stack = fault_stack
    kinds = ["stall"] * scale.provider_turns + ["cut"] * scale.provider_turns
    for kind in kinds:
        point = rng.randint(2, 30)  # SSE events sent (the role chunk first) before the stall or cut
        (llm.reply_stall if kind == "stall" else llm.reply_cut)(after_chunks=point,
                                                                text=harness.words(40, kind))
    questions = [f"provider fault {i}" for i in range(len(kinds))]
    began = time.monotonic()
    outcomes = _ask_all(stack, questions, timeout=TIMEOUT_SECONDS + 30)
    took = time.monotonic() - began
    tries = _tries_by_question(llm)
    by_kind = {r.messages[-1]["content"]: ("stall" if r.reply.stall_after is not None else "cut")
               for r in llm.chat_requests()}
    failures = {"stall": [], "cut": []}
    with psycopg.connect(stack.settings.database_url) as conn:
        for question, events in outcomes.items():
            kind = by_kind.get(question, "cut")
            if isinstance(events, BaseException):
                failures[kind].append(f"{question}: {type(events).__name__}: {events}")
                continue
            ends = harness.endings(events)
            problems = []
            if [(e["type"], e.get("code")) for e in ends] != [("error", "PROVIDER_ERROR")]:
                problems.append(f"endings {[(e['type'], e.get('code')) for e in ends]}")
            if tries[question] != 1:
                problems.append(f"{tries[question]} requests for a stream that had begun")
            if ends:
                stored = conn.execute("select content, status from ai.messages where id = %s",
                                      (ends[-1]["message_id"],)).fetchone()
                if stored != (harness.delta_text(events), "error") or not stored[0]:
                    problems.append(f"stored {stored} vs sent {harness.delta_text(events)!r}")
            failures[kind] += [f"{question}: {p}" for p in problems]
    report.add("provider stall", scale.provider_turns, f"1 PROVIDER_ERROR after {TIMEOUT_SECONDS} s, 1 request, text kept",
               f"{scale.provider_turns - len(failures['stall'])}/{scale.provider_turns} as expected "
               f"(all ended within {took:.1f} s)", len(failures["stall"]))
    report.add("provider stream cut mid-SSE", scale.provider_turns, "1 PROVIDER_ERROR, 1 request, text kept",
               f"{scale.provider_turns - len(failures['cut'])}/{scale.provider_turns} as expected",
               len(failures["cut"]))
    assert not failures["stall"] and not failures["cut"], failures


def test_a_429_storm_that_passes_is_waited_out(fault_stack, llm, scale, report):
    """The provider refuses as many requests as there are turns (retry-after 1), then answers: every
    turn ends done. Most turns are refused once; a turn whose first request came after others' retries
    took up the refusals is answered at once, and one refused twice still has a try left."""
    stack = fault_stack
    turns = scale.storm_turns
    for _ in range(turns):
        llm.reply_error(429, retry_after=1)
    for _ in range(turns):
        llm.reply_text("answered after the storm", chunks=3)
    questions = [f"storm {i}" for i in range(turns)]
    outcomes = _ask_all(stack, questions, timeout=60)
    tries = _tries_by_question(llm)
    failures = []
    for question, events in outcomes.items():
        if isinstance(events, BaseException):
            failures.append(f"{question}: {type(events).__name__}: {events}")
            continue
        ends = harness.endings(events)
        if [e["type"] for e in ends] != ["done"] or harness.shown(events) != "answered after the storm":
            failures.append(f"{question}: endings {[(e['type'], e.get('code')) for e in ends]}")
        if not 1 <= tries[question] <= MAX_TRIES:
            failures.append(f"{question}: {tries[question]} requests")
    if sum(tries.values()) != 2 * turns:
        failures.append(f"{sum(tries.values())} requests for {turns} refusals and {turns} answers")
    report.add("429 storm that passes", turns, f"all done, <= {MAX_TRIES} requests each, {2 * turns} in all",
               f"{turns - len(failures)}/{turns} done; requests per turn {min(tries.values())}-{max(tries.values())}",
               len(failures))
    assert not failures, failures


def test_a_429_storm_that_lasts_ends_every_turn_within_the_retry_budget(fault_stack, llm, scale, report):
    stack = fault_stack
    turns = scale.storm_turns
    questions = [f"lasting storm {i}" for i in range(turns)]
    with llm.answering_every_request(error_reply(429, retry_after=1)):
        began = time.monotonic()
        outcomes = _ask_all(stack, questions, timeout=RETRY_SECONDS + 30)
        took = time.monotonic() - began
    tries = _tries_by_question(llm)
    failures = []
    for question, events in outcomes.items():
        if isinstance(events, BaseException):
            failures.append(f"{question}: {type(events).__name__}: {events}")
            continue
        ends = harness.endings(events)
        if [(e["type"], e.get("code")) for e in ends] != [("error", "PROVIDER_ERROR")] or "retry_after" not in ends[0]:
            failures.append(f"{question}: endings {ends}")
        if not 1 <= tries[question] <= MAX_TRIES:
            failures.append(f"{question}: {tries[question]} requests")
    spans = []
    for question in questions:
        times = [r.received_at for r in llm.chat_requests() if r.messages[-1].get("content") == question]
        spans.append(max(times) - min(times) if times else 0.0)
    if max(spans) > RETRY_SECONDS:
        failures.append(f"retries spread over {max(spans):.1f} s, past LLM_RETRY_SECONDS")
    report.add("429 storm that lasts", turns, f"1 PROVIDER_ERROR with retry_after each, <= {MAX_TRIES} requests "
               f"within {RETRY_SECONDS} s", f"{turns - len(failures)}/{turns} as expected; requests per turn "
               f"{min(tries.values())}-{max(tries.values())}, all ended in {took:.1f} s", len(failures))
    assert not failures, failures
