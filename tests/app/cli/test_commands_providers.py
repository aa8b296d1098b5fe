"""`fluxbase providers ...`, run as a user runs it, on the real database."""
import pytest

from tests.support.processes import fluxbase

CANARY = "sk-cli-canary-77c1e9a0b4"


@pytest.fixture
def clean(database, owner_conn):
    owner_conn.execute("delete from ai.providers")
    yield
    owner_conn.execute("delete from ai.providers")


def test_add_list_default_remove(base_env, clean, owner_conn):
    env = {**base_env, "AZURE_KEY": CANARY}
    done = fluxbase(env, "providers", "add", "azure-eu", "--type", "azure", "--api-key-env", "AZURE_KEY",
                    "--endpoint", "https://eu.openai.azure.com", "--deployment", "gpt-4o")
    assert done.returncode == 0, done.stderr
    assert "the default" in done.stdout  # the first one
    assert fluxbase(base_env, "providers", "add", "local", "--type", "ollama", "--model", "llama3.2").returncode == 0
    listing = fluxbase(base_env, "providers", "list")
    assert listing.returncode == 0, listing.stderr
    assert "azure-eu" in listing.stdout and "local" in listing.stdout and "config" in listing.stdout
    assert CANARY not in listing.stdout + done.stdout + done.stderr
    raw = owner_conn.execute("select string_agg(row_to_json(p)::text, ' ') from ai.providers p").fetchone()[0]
    assert CANARY not in raw
    assert fluxbase(base_env, "providers", "default", "local").returncode == 0
    assert owner_conn.execute("select name from ai.providers where is_default").fetchone()[0] == "local"
    assert fluxbase(base_env, "providers", "remove", "local").returncode == 0
    # The default went with it; the other one took over.
    assert owner_conn.execute("select name from ai.providers where is_default").fetchone()[0] == "azure-eu"


@pytest.mark.parametrize("args, message", [
    (["add", "x", "--type", "ollama"], "config.model: is required"),
    (["add", "x", "--type", "azure", "--endpoint", "https://e", "--deployment", "d"], "config.api_key: is required"),
    (["add", "x", "--type", "azure", "--api-key-env", "NOT_SET_ANYWHERE", "--endpoint", "https://e",
      "--deployment", "d"], "NOT_SET_ANYWHERE is not set"),
    (["add", "Bad Name", "--type", "ollama", "--model", "m"], "name: must be lower-case letters"),
    (["add", "x", "--type", "azure", "--api-key-env", "EMPTY_KEY", "--endpoint", "https://e",
      "--deployment", "d"], "EMPTY_KEY is empty"),
    (["default", "missing"], "Provider not found"),
    (["remove", "config"], "read-only"),
    (["test", "missing"], "Provider not found"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(base_env, clean, args, message):
    done = fluxbase({**base_env, "EMPTY_KEY": ""}, "providers", *args)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


def test_test_reports_the_latency_or_the_exact_failure(base_env, clean, llm):
    llm.reply_text("ok", chunks=1)
    done = fluxbase(base_env, "providers", "test", "config")
    assert done.returncode == 0, done.stderr
    assert "answered in" in done.stdout
    env = {**base_env, "BAD_KEY": "sk-bad"}
    assert fluxbase(env, "providers", "add", "bad", "--type", "openai", "--api-key-env", "BAD_KEY",
                    "--base-url", llm.base_url).returncode == 0
    failed = fluxbase(base_env, "providers", "test", "bad")
    assert failed.returncode == 1 and "PROVIDER_AUTH_FAILED" in failed.stderr and "sk-bad" not in failed.stderr


def test_doctor_reports_the_provider_a_turn_would_use(base_env, clean):
    without = {**base_env, "OPENAI_API_KEY": ""}
    done = fluxbase(without, "doctor")
    assert "no AI provider" in done.stdout + done.stderr
    assert fluxbase(base_env, "providers", "add", "local", "--type", "ollama", "--model", "llama3.2").returncode == 0
    done = fluxbase(without, "doctor")
    assert "default provider local (ollama)" in done.stdout + done.stderr


def test_a_key_on_standard_input_is_read_whole(base_env, clean):
    import subprocess
    import sys

    from tests.support.processes import ROOT
    args = [sys.executable, "-m", "app.cli", "providers", "add", "x", "--type", "azure", "--api-key-stdin",
            "--endpoint", "https://e.example", "--deployment", "d"]
    two_lines = subprocess.run(args, input="sk-a\nsk-b\n", env=base_env, cwd=ROOT, capture_output=True, text=True)
    assert two_lines.returncode == 1 and "config.api_key" in two_lines.stderr and "sk-a" not in two_lines.stderr
    one = subprocess.run(args, input="sk-only\n", env=base_env, cwd=ROOT, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
