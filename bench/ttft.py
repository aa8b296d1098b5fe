"""Added time-to-first-token: the full path (WebSocket -> web -> Celery -> worker -> LLM -> Redis -> WebSocket)
against a direct `openai` client call to the same scripted server.

    .venv/bin/python -m bench.ttft [--runs 50]

Goal: at most 15 ms added at p50.
"""
from __future__ import annotations

import argparse
import time

import openai

from bench.stack import percentile, running_stack
from tests.support.chat_client import ChatClient


def direct_ttft(stack, runs: int) -> list[float]:
    client = openai.OpenAI(base_url=stack.llm.base_url, api_key="bench-key", max_retries=0)
    samples = []
    for _ in range(runs):
        stack.llm.reply_text("first token then more text", chunks=4)
        started = time.perf_counter()
        stream = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": "hi"}],
                                                stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                samples.append((time.perf_counter() - started) * 1000)
                break
        stream.close()
    return samples


def system_ttft(stack, runs: int) -> list[float]:
    client = ChatClient(stack.web, stack.token)
    conversation = client.start_chat("bench", namespace="bench")["conversation_id"]
    samples = []
    for _ in range(runs):
        stack.llm.reply_text("first token then more text", chunks=4)
        started = time.perf_counter()
        client.send({"type": "message", "conversation_id": conversation, "content": "hi"})
        client.until(lambda e: e["type"] == "content")
        samples.append((time.perf_counter() - started) * 1000)
        client.until_type("done")
    client.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with running_stack() as stack:
        system_ttft(stack, 5)  # warm-up: imports, pools, prepared statements
        direct_ttft(stack, 5)
        direct = direct_ttft(stack, args.runs)
        full = system_ttft(stack, args.runs)
    d50, f50 = percentile(direct, 50), percentile(full, 50)
    print(f"direct openai client TTFT   p50 {d50:7.2f} ms  p90 {percentile(direct, 90):7.2f} ms")
    print(f"full system TTFT            p50 {f50:7.2f} ms  p90 {percentile(full, 90):7.2f} ms")
    print(f"added by the system         p50 {f50 - d50:7.2f} ms  (goal <= 15 ms)")


if __name__ == "__main__":
    main()
