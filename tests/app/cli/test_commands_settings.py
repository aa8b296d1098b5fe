"""`fluxbase settings`, run as a user runs it (the documentation's own commands), on the real database."""
import uuid

import pytest

from app.settings_store import repository as store
from tests.app.cli.test_commands_usage import table_rows
from tests.support.processes import fluxbase

CANARY = "cli-canary-7d1e4b9a2f"


@pytest.fixture
def user(owner_conn):
    user_id = str(uuid.uuid4())
    yield user_id
    owner_conn.execute("delete from app.settings where user_id = %s or key like 'cli-test.%%'", (user_id,))


def run(base_env, *args, stdin=None):
    done = fluxbase(base_env, "settings", *args) if stdin is None else _with_stdin(base_env, stdin, *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _with_stdin(base_env, text, *args):
    import subprocess
    import sys

    from tests.support.processes import ROOT

    return subprocess.run([sys.executable, "-m", "app.cli", "settings", *args], env={**base_env, "COLUMNS": "200"},
                          cwd=ROOT, input=text, capture_output=True, text=True, timeout=60)


def test_the_documentations_commands_set_a_system_setting_and_a_users_secret(base_env, owner_conn, user, settings):
    done = run(base_env, "set", "cli-test.pelias.endpoint", "https://pelias.example.com")
    assert done.returncode == 0 and "set cli-test.pelias.endpoint (system)" in done.stdout
    done = run(base_env, "set", "cli-test.google.maps.api_key", CANARY, "--secret", "--user", user)
    assert done.returncode == 0 and CANARY not in done.stdout + done.stderr
    assert run(base_env, "get", "cli-test.pelias.endpoint").stdout == "https://pelias.example.com\n"
    secret = run(base_env, "get", "cli-test.google.maps.api_key", "--user", user)
    assert secret.returncode == 0 and secret.stdout.strip() == "(secret: set, never shown)"
    row = store.get(owner_conn, "cli-test.google.maps.api_key", user)
    assert row.is_secret and store.open_secret(settings.encryption_key, row) == CANARY
    listed = run(base_env, "list", "--user", user)
    assert table_rows(listed.stdout)[1][:2] == ["cli-test.google.maps.api_key", "(secret: set, never shown)"]
    assert CANARY not in listed.stdout
    system = [row[:2] for row in table_rows(run(base_env, "list").stdout)[1:]]
    assert ["cli-test.pelias.endpoint", "https://pelias.example.com"] in system


def test_json_values_stdin_secrets_replacing_and_deleting(base_env, owner_conn, user):
    assert run(base_env, "set", "cli-test.tiers", '{"free": 10}', "--json", "--user", user).returncode == 0
    assert store.get(owner_conn, "cli-test.tiers", user).value == {"free": 10}
    assert run(base_env, "get", "cli-test.tiers", "--user", user).stdout == '{"free": 10}\n'
    assert run(base_env, "set", "cli-test.tiers", "[not json", "--json", "--user", user).returncode == 1
    done = run(base_env, "set", "cli-test.key", "--secret", "--stdin", "--user", user, stdin=CANARY + "\n")
    assert done.returncode == 0 and CANARY not in done.stdout + done.stderr
    refused = run(base_env, "set", "cli-test.key", "now plain", "--user", user)
    assert refused.returncode == 1 and "is a secret" in refused.stderr and "settings delete cli-test.key" in refused.stderr
    assert run(base_env, "delete", "cli-test.key", "--user", user).stdout.startswith("deleted cli-test.key")
    gone = run(base_env, "delete", "cli-test.key", "--user", user)
    assert gone.returncode == 1 and f"no setting cli-test.key (user {user})" in gone.stderr
    missing = run(base_env, "get", "cli-test.nothing")
    assert missing.returncode == 1 and "no setting cli-test.nothing (system)" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["set", ".bad", "v"], "argument KEY: '.bad' is not a setting key"),
    (["set", "a b", "v"], "is not a setting key"),
    (["get", "k", "--user", "abc123"], "argument --user: 'abc123' is not a user id"),
    (["list", "--user", "alice"], "is not a user id"),
    (["delete", "k/x"], "is not a setting key"),
])
def test_an_invalid_key_or_user_id_is_a_message_and_a_non_zero_exit(base_env, args, message):
    done = run(base_env, *args)
    assert done.returncode == 2 and message in done.stderr


@pytest.mark.parametrize("args, message", [
    (["set", "cli-test.short", "abc", "--secret"], "VALUE: a secret's value must be 8 to 8192 characters"),
    (["set", "cli-test.nothing"], "give VALUE, or --stdin"),
    (["set", "cli-test.both", "{}", "--json", "--secret"], "--json and --secret do not go together"),
])
def test_a_value_it_cannot_store_is_refused_without_a_traceback(base_env, args, message):
    done = run(base_env, *args)
    assert done.returncode == 1 and message in done.stderr
