"""The scripted LLM (tests/support/llm_server.py) in a process of its own, scripted over a pipe.

The benchmark client runs thousands of sockets in one gevent process; the scripted LLM's handlers use
`select.select`, which cannot watch a file descriptor above 1023, and its streams would share one CPU with the
client. So the benchmarks run it here, in a plain (unpatched, threaded) Python process:

    llm = RemoteLLM(log_path).start()     # spawns `python -m bench.llm_process`
    llm.reply_slow(text, 0.02, chunks=20, count=500)
    llm.status()                          # {"pending": ..., "chat_requests": ..., "problems": [...]}
    llm.assert_complete()
    llm.stop()

Protocol: one JSON object per line on stdin, one JSON answer per line on stdout; EOF on stdin stops the server.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT


class RemoteLLM:
    """The parts of ScriptedLLM's interface the benchmarks use, backed by a child process."""

    def __init__(self, log_path: Path, api_key: str = "bench-key", *, routed_delay: float | None = None):
        """`routed_delay`: serve bench/soak_llm.py's RoutedLLM (answers chosen from the request, streamed
        at that many seconds per chunk) instead of the FIFO script."""
        self._log_path = log_path
        self._api_key = api_key
        self._routed = [] if routed_delay is None else [str(routed_delay)]
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # a gevent lock once the caller has monkey-patched
        self.base_url = ""
        self.pid = 0

    def start(self) -> RemoteLLM:
        log = open(self._log_path, "ab")
        self._proc = subprocess.Popen([sys.executable, "-m", "bench.llm_process", self._api_key, *self._routed], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)})
        log.close()
        self.pid = self._proc.pid
        hello = self._read()
        self.base_url = hello["base_url"]
        return self

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the scripted LLM process exited; see {self._log_path}")
        return json.loads(line)

    def _call(self, **command: Any) -> dict[str, Any]:
        with self._lock:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(command).encode() + b"\n")
            self._proc.stdin.flush()
            answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"scripted LLM process: {answer['error']}")
        return answer

    def reply_text(self, text: str, *, chunks: int = 3, count: int = 1) -> None:
        self._call(op="reply_text", text=text, chunks=chunks, count=count)

    def reply_slow(self, text: str, delay_per_chunk: float, *, chunks: int = 5, count: int = 1) -> None:
        self._call(op="reply_slow", text=text, delay=delay_per_chunk, chunks=chunks, count=count)

    def reset(self) -> None:
        self._call(op="reset")

    def status(self) -> dict[str, Any]:
        """pending (unconsumed replies), chat_requests, unexpected (requests), problems (assert_complete's lines)."""
        return self._call(op="status")

    def assert_complete(self) -> None:
        problems = self.status()["problems"]
        if problems:
            raise AssertionError("scripted LLM script not complete:\n  " + "\n  ".join(problems))

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)


def _serve(api_key: str, routed_delay: str | None = None) -> None:
    from bench.soak_llm import RoutedLLM
    from tests.support.llm_server import ScriptedLLM

    llm = (ScriptedLLM(api_key=api_key) if routed_delay is None
           else RoutedLLM(api_key=api_key, delay_per_chunk=float(routed_delay))).start()
    out = sys.stdout
    out.write(json.dumps({"base_url": llm.base_url, "port": llm.port}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            try:
                command = json.loads(line)
                op = command.pop("op")
                if op == "reply_text":
                    for _ in range(command["count"]):
                        llm.reply_text(command["text"], chunks=command["chunks"])
                    answer: dict[str, Any] = {"ok": True}
                elif op == "reply_slow":
                    for _ in range(command["count"]):
                        llm.reply_slow(command["text"], command["delay"], chunks=command["chunks"])
                    answer = {"ok": True}
                elif op == "reset":
                    llm.reset()
                    answer = {"ok": True}
                elif op == "status":
                    pending = llm.pending_replies()
                    unexpected = [r for r in llm.requests if r.unexpected]
                    problems = [f"unconsumed reply: {r.describe()}" for r in pending]
                    problems += [f"unexpected request: {r.method} {r.path} (status {r.status})" for r in unexpected]
                    answer = {"pending": len(pending), "chat_requests": len(llm.chat_requests()),
                              "unexpected": len(unexpected), "problems": problems}
                else:
                    answer = {"error": f"unknown op {op!r}"}
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        llm.stop()


if __name__ == "__main__":
    _serve(sys.argv[1] if len(sys.argv) > 1 else "bench-key", sys.argv[2] if len(sys.argv) > 2 else None)
