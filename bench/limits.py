"""What the limit checks add to a turn, against a local Redis, one caller and many, p50/p99 in ms:
the web's checks for a message (token budget look, rate and daily limit: `RequestLimits.check`,
`TokenBudget.check`) and the worker's per model call (reserve, then settle, of the token budget
through `TurnAllowance`, on a 4 KB prompt). Run: `python -m bench.limits [--n 5000]`."""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from app.chat.request_limits import RequestLimits
from app.chat.token_budget import TokenBudget
from app.services.redis_server import EmbeddedRedis
from bench.stack import percentile
from tests.support.processes import free_port
from workers.token_allowance import TurnAllowance

PROMPT = [{"role": "system", "content": "You answer questions about the shop. " * 110},
          {"role": "user", "content": "How many orders did I place last month?"}]


def measure(step: Callable[[str], None], n: int, callers: int) -> list[float]:
    took = []
    for i in range(n):
        started = time.perf_counter()
        step(f"user:{i % callers}")
        took.append((time.perf_counter() - started) * 1000)
    return took


def message_checks(limits: RequestLimits, budget: TokenBudget) -> Callable[[str], None]:
    chatbot = str(uuid.uuid4())

    def step(caller: str) -> None:
        budget.check(chatbot, caller, 10**9)
        limits.check(chatbot, caller, per_minute=10**6, per_day=10**7)
    return step


def model_call(budget: TokenBudget) -> Callable[[str], None]:
    chatbot = str(uuid.uuid4())

    def step(caller: str) -> None:
        allowance = TurnAllowance(budget, chatbot_id=chatbot, identity=caller, daily_tokens=10**9,
                                  model="gpt-4o-mini", conversation_id="bench", turn_id=uuid.uuid4().hex)
        allowance.settle(allowance.reserve(PROMPT, None, 1024), 1500)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limits-", dir="/tmp") as root:
        server = EmbeddedRedis(Path(root) / "redis", free_port())
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            limits, budget = RequestLimits(client), TokenBudget(client, hold_seconds=420)
            for label, make in (("per message (web)", lambda: message_checks(limits, budget)),
                                ("per model call (worker)", lambda: model_call(budget))):
                measure(make(), 200, 10)  # warm up: scripts loaded, connections open
                for callers in (1, 1000):
                    took = measure(make(), args.n, callers)
                    print(f"{label:<24} {callers:>5} caller(s), {args.n}: p50 {percentile(took, 50):.3f} ms, "
                          f"p99 {percentile(took, 99):.3f} ms")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
