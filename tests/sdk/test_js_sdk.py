"""The JavaScript SDK's own tests (`node --test`, sdk/js/test/), run against this session's live server
and scripted LLM. Each test file is one pytest test; node's report is shown when it fails.

The node tests queue LLM replies through the scripted LLM's HTTP control (tests/support/llm_control.py),
so the check that every scripted reply was used (tests/conftest.py) covers them too.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import TEST_SECRET, TEST_SERVICE_KEY, token_for
from tests.support.processes import ROOT

SDK = ROOT / "sdk" / "js"
TEST_FILES = sorted(path.name for path in (SDK / "test").glob("*.test.js"))
# Node 20's own WebSocket (behind a flag) has the browser's API and behaviour, so these files run on it
# too: the code path a browser takes, where the `ws` package is never loaded.
PLATFORM_WEBSOCKET_FILES = ("chat.test.js", "reconnect.test.js")
NODE_TIMEOUT_SECONDS = 300


@pytest.fixture
def node() -> str:
    path = shutil.which("node")
    assert path, "Node.js 20 or later is needed for the JavaScript SDK's tests (apt-get install nodejs npm)"
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"Node.js 20 or later is needed, found {version}"
    assert (SDK / "node_modules" / "ws").is_dir() and (SDK / "node_modules" / "typescript").is_dir(), \
        "the SDK's packages are not installed: run `make install` (npm ci --prefix sdk/js)"
    return path


@pytest.fixture
def no_providers(owner_conn):
    # Providers are global: one the SDK's admin test leaves behind must not answer other tests' turns.
    owner_conn.execute("delete from ai.providers")
    yield
    owner_conn.execute("delete from ai.providers")


def test_the_sdk_has_test_files() -> None:
    assert {"chat.test.js", "reconnect.test.js", "admin.test.js", "examples.test.js"} <= set(TEST_FILES)


@pytest.mark.parametrize("test_file, node_flags", [(name, ()) for name in TEST_FILES] +
                         [(name, ("--experimental-websocket",)) for name in PLATFORM_WEBSOCKET_FILES])
def test_javascript_sdk(test_file, node_flags, node, web, test_chatbots, llm, no_providers) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "FLUXBASE_URL": web,
        "FLUXBASE_ANON_KEY": token_for(None, "anon"),
        "FLUXBASE_SERVICE_KEY": TEST_SERVICE_KEY,
        "FLUXBASE_TEST_JWT_SECRET": TEST_SECRET,
        "LLM_CONTROL_URL": llm.azure_endpoint,
    }
    try:
        proc = subprocess.run([node, *node_flags, "--test", "--test-reporter=spec", f"test/{test_file}"], cwd=SDK, env=env,
                              capture_output=True, text=True, timeout=NODE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node {' '.join(node_flags)} --test test/{test_file} ran over {NODE_TIMEOUT_SECONDS}s:\n{exc.stdout}\n{exc.stderr}")
    assert proc.returncode == 0, f"node {' '.join(node_flags)} --test test/{test_file} failed:\n{proc.stdout[-30000:]}\n{proc.stderr[-5000:]}"
