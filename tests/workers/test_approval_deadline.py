"""Time spent waiting for the user's approval is not the turn's time (docs/approval.md): the loop's
deadline moves on by what the approval step reports, so a turn that waited is not timed out for it."""
from __future__ import annotations

import dataclasses
import types

import pytest

import workers.loop as loop_module
from app.providers.base import CompletionOptions, TextDelta, ToolCall
from app.tools.registry import ToolRegistry
from tests.support.tools import echo, make_context
from tests.workers.test_loop import DEFS, USER, FakeProvider
from workers.cancellation import TurnCancellation
from workers.loop import LoopConfig, ToolLoop, TurnTimedOut


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(loop_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def run_waiting(clock, *, reported: bool):
    provider = FakeProvider([ToolCall(id="1", name="echo", arguments='{"x": 1}')], [TextDelta("done")])
    registry = ToolRegistry([echo()])
    cancellation = TurnCancellation()
    events = []
    loop = ToolLoop(provider, registry, emit=events.append, cancellation=cancellation,
                    config=LoopConfig(3, CompletionOptions(), deadline=clock[0] + 60))

    def approval(name, arguments, ctx):
        clock[0] += 250          # the user took 250 s to answer, well past the turn's 60 s
        if reported:
            loop.extend_deadline(250)
        return None              # approved: the call runs

    context = dataclasses.replace(make_context(events.append, cancellation.token), approval=approval)
    return loop.run(USER, DEFS, context)


def test_a_turn_that_waited_for_approval_goes_on_to_its_answer(clock):
    assert run_waiting(clock, reported=True).text == "done"


def test_without_the_wait_reported_the_same_turn_times_out(clock):
    with pytest.raises(TurnTimedOut):
        run_waiting(clock, reported=False)
