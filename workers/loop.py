"""The LLM tool loop, free of Celery and of storage: stream, forward text, run tools, repeat (bounded).

It talks to the rest of the system only through what it is given: a provider, a tool registry,
an `emit` callable for client events and a cancellation object.
"""
from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from app import protocol
from app.metrics import NO_METRICS, Metrics
from app.protocol import Step
from app.providers.base import (
    CompletionOptions,
    Provider,
    ProviderError,
    TextDelta,
    ToolCall,
    Usage,
)
from app.providers.token_count import estimate_usage
from app.tools.registry import ToolContext, ToolRegistry
from app.tools.scopes import granted_scopes
from workers.cancellation import TurnCancellation
from workers.token_allowance import TurnAllowance

MAX_PARALLEL_TOOLS = 8
# Calls run per model round; the model is told about the rest. Without a cap one round of 50
# queries sent ~50 MiB of rows to the client and into the replay buffer.
MAX_TOOL_CALLS_PER_ROUND = 16
# Deltas that arrive closer together than this are sent as one, at most this much later: a stream of
# a million one-character deltas cost a million publishes, a worker core for minutes.
DELTA_BATCH_SECONDS = 0.002
# Characters one model call may write per max_tokens token (about four in practice): a provider that
# ignores max_tokens is cut off instead of streaming without end.
CHARS_PER_TOKEN_LIMIT = 16
MIN_ANSWER_CHARS = 65_536
# A chatbot's max-tokens always has a value; this is only for options built without one.
DEFAULT_MAX_TOKENS = 4096


class TurnCancelled(Exception):
    """The user cancelled; the outcome passed to `run` holds what was produced so far."""


class TurnTimedOut(Exception):
    """The turn ran past its deadline."""


@dataclass
class TurnOutcome:
    usage: Usage = field(default_factory=Usage)
    transcript: list[dict] = field(default_factory=list)  # intermediate assistant tool calls and tool results
    rounds: int = 0
    # The answer (so far, when interrupted), in the pieces it arrived in: joined when read, because
    # joining on every delta made a long answer quadratic (100,000 deltas: 17 s of CPU).
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @text.setter
    def text(self, value: str) -> None:
        self.parts = [value] if value else []


@dataclass(frozen=True)
class LoopConfig:
    max_rounds: int
    options: CompletionOptions
    deadline: float | None = None  # time.monotonic() value
    allowance: TurnAllowance | None = None  # the daily token budget; None: not metered


class DeltaBatcher:
    """Sends content deltas as they come, except that deltas arriving within `window` of the last one
    sent are held back and sent together once it has passed (a timer, so none waits longer)."""

    def __init__(self, emit: Callable[[dict], None], window: float):
        self._emit = emit
        self._window = window
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._sent_at = 0.0
        self._timer: threading.Timer | None = None

    def add(self, text: str) -> None:
        with self._lock:
            if not self._held and time.monotonic() - self._sent_at >= self._window:
                self._send([text])
                return
            self._held.append(text)
            if self._timer is None:
                self._timer = threading.Timer(self._window, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._held:
                held, self._held = self._held, []
                self._send(held)

    def _send(self, pieces: list[str]) -> None:
        self._emit(protocol.content("".join(pieces)))
        self._sent_at = time.monotonic()


class ToolLoop:
    def __init__(self, provider: Provider, registry: ToolRegistry, *, emit: Callable[[dict], None],
                 cancellation: TurnCancellation, config: LoopConfig, metrics: Metrics = NO_METRICS):
        self._provider = provider
        self._registry = registry
        self._metrics = metrics
        self._emit = emit
        self._cancellation = cancellation
        self._config = config
        self._waited = 0.0  # seconds spent waiting for the user's approval: not the turn's time (docs/approval.md)

    def extend_deadline(self, seconds: float) -> None:
        """Move the deadline on by time the turn spent waiting for the user, not working."""
        self._waited += max(0.0, seconds)

    def run(self, messages: list[dict], tool_definitions: list[dict], context: ToolContext,
            outcome: TurnOutcome | None = None) -> TurnOutcome:
        """Run the turn, filling `outcome` as it goes, so an interrupted turn still shows its work."""
        outcome = outcome if outcome is not None else TurnOutcome()
        offered = self._registry.offered(tool_definitions)
        offered_names = {tool["name"] for tool in offered}
        conversation = list(messages)
        self._emit(protocol.progress(Step.THINKING, "Thinking..."))
        for round_number in range(self._config.max_rounds + 1):
            # The last round offers no tools, so the model has to answer with what it has.
            tools = offered if round_number < self._config.max_rounds else None
            text, calls = self._stream_once(conversation, tools, outcome)
            outcome.rounds += 1
            if not calls or tools is None:
                # Tool calls in the final round, where none were offered, are not run.
                outcome.text = text
                return outcome
            outcome.text = ""
            call_message = {"role": "assistant", "content": text or None,
                            "tool_calls": [{"id": c.id, "type": "function",
                                            "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
            conversation.append(call_message)
            outcome.transcript.append({"role": "assistant", "content": text,
                                       "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                                      for c in calls]})
            for call, result in zip(calls, self._run_tools(calls, context, offered_names)):
                conversation.append({"role": "tool", "tool_call_id": call.id, "content": result})
                outcome.transcript.append({"role": "tool", "tool_call_id": call.id, "tool_name": call.name,
                                           "content": result})
            self._check_cancelled()
            self._emit(protocol.progress(Step.GENERATING, "Generating answer..."))
        return outcome  # not reached: the last round offers no tools and returns above

    def _stream_once(self, conversation: list[dict], tools: list[dict] | None,
                     outcome: TurnOutcome) -> tuple[str, list[ToolCall]]:
        self._check_cancelled()
        options = self._config.options
        allowance = self._config.allowance
        grant = None
        if allowance is not None:
            # Raises TOKEN_BUDGET_EXCEEDED before the call; a later round's refusal keeps what earlier ones produced.
            grant = allowance.reserve(conversation, tools, options.max_tokens or DEFAULT_MAX_TOKENS)
            options = dataclasses.replace(options, max_tokens=grant.max_tokens)
        spent_before = outcome.usage.total_tokens
        calls: list[ToolCall] = []
        try:
            return self._call_model(conversation, tools, outcome, options, calls)
        finally:
            if outcome.usage.total_tokens == spent_before and (outcome.parts or calls):
                # Cut off before the provider reported usage (a cancel, a broken stream): it still charged
                # for what it wrote, so the turn, the usage rollup and the budget all count an estimate.
                model = options.model or self._provider.model
                outcome.usage = outcome.usage + estimate_usage(model, conversation, tools, outcome.text, calls)
            if allowance is not None:
                allowance.settle(grant, outcome.usage.total_tokens - spent_before)

    def _call_model(self, conversation: list[dict], tools: list[dict] | None, outcome: TurnOutcome,
                    options: CompletionOptions, calls: list[ToolCall] | None = None) -> tuple[str, list[ToolCall]]:
        stream = self._provider.stream(conversation, tools, options)
        unregister = self._cancellation.on_cancel(stream.close)
        outcome.parts = []
        written = 0
        limit = max(MIN_ANSWER_CHARS, (options.max_tokens or 0) * CHARS_PER_TOKEN_LIMIT)
        deltas = DeltaBatcher(self._emit, DELTA_BATCH_SECONDS)
        calls = [] if calls is None else calls
        try:
            for piece in stream:
                if self._cancellation.cancelled:
                    break
                if self._past_deadline():
                    # The provider is still answering when the turn's time is up (a stream dripping
                    # just under the read timeout): its failure, not the server's. What it wrote is
                    # kept, and counted, since the provider charged for it.
                    model = options.model or self._provider.model
                    outcome.usage = outcome.usage + estimate_usage(model, conversation, tools, "".join(outcome.parts),
                                                                   calls)
                    raise ProviderError("the answer went on past the turn's time limit (TURN_TIMEOUT_SECONDS)")
                if isinstance(piece, TextDelta):
                    outcome.parts.append(piece.text)
                    deltas.add(piece.text)
                    written += len(piece.text)
                    if written > limit:
                        raise ProviderError(f"the answer is longer than max_tokens allows ({limit} characters)")
                elif isinstance(piece, ToolCall):
                    calls.append(piece)
                elif isinstance(piece, Usage):
                    outcome.usage = outcome.usage + piece
        except (TurnTimedOut, ProviderError):
            raise
        except Exception:
            # A cancel closes the stream under the reader, which then raises whatever its HTTP client
            # raises for a closed stream: that is the cancel, not a failure.
            if not self._cancellation.cancelled:
                raise
        finally:
            unregister()
            stream.close()
            deltas.flush()  # what was held back goes out before anything that follows it
        if self._cancellation.cancelled:
            raise TurnCancelled()
        return outcome.text, calls

    def _run_tools(self, calls: list[ToolCall], context: ToolContext, offered: set[str]) -> list[str]:
        def run(call: ToolCall) -> str:
            if self._cancellation.cancelled:
                self._count(call, context, offered, None)
                return "Error: cancelled by the user"
            result = self._registry.invoke(call.name, call.arguments, context, offered)
            self._count(call, context, offered, result)
            return result

        ran, skipped = calls[:MAX_TOOL_CALLS_PER_ROUND], calls[MAX_TOOL_CALLS_PER_ROUND:]
        for call in skipped:
            self._count(call, context, offered, None)
        over = [f"Error: not run; at most {MAX_TOOL_CALLS_PER_ROUND} tool calls are run per round"] * len(skipped)
        if len(ran) == 1:
            return [run(ran[0])] + over
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_TOOLS, len(ran))) as pool:
            # Each call in a copy of this context: what it logs is scrubbed of the turn's secrets too.
            futures = [pool.submit(contextvars.copy_context().run, run, call) for call in ran]
            return [future.result() for future in futures] + over

    def _count(self, call: ToolCall, context: ToolContext, offered: set[str], result: str | None) -> None:
        """fluxbase_tool_calls_total: `refused` when the call was not run (not offered to this chatbot,
        its scope not granted, cancelled, over the per-round cap; `result` None), `error` when the tool
        (or its argument check) answered with an error, `ok` otherwise."""
        if not self._metrics.on:
            return
        tool = self._registry.get(call.name)
        # The model names the tool: a name the server does not know is not made into a label.
        name = call.name if tool is not None else "unknown"
        if (result is None or tool is None or call.name not in offered
                or (tool.scope is not None and tool.scope not in granted_scopes(context.chatbot_config or {}))):
            verdict = "refused"
        else:
            verdict = "error" if result.startswith("Error:") else "ok"
        self._metrics.tool_call(name, verdict)

    def _check_cancelled(self) -> None:
        if self._cancellation.cancelled:
            raise TurnCancelled()
        self._check_deadline()

    def _past_deadline(self) -> bool:
        deadline = self._config.deadline
        return deadline is not None and time.monotonic() > deadline + self._waited

    def _check_deadline(self) -> None:
        if self._past_deadline():
            raise TurnTimedOut()

