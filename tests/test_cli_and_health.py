"""The fluxbase command line and GET /health."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import jwt
import pytest

from app.auth.tokens import mint, verify
from app.factory import create_app
from config import Settings
from tests.support.processes import ROOT, free_port


def fluxbase(env, *args):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_token_mints_a_verifiable_jwt(base_env, settings):
    done = fluxbase(base_env, "token", "--user", "a11ce000-0000-4000-8000-000000000001", "--expires", "2h")
    assert done.returncode == 0, done.stderr
    principal = verify(settings.jwt_secret, done.stdout.strip())
    assert principal.role == "authenticated" and principal.user_id == "a11ce000-0000-4000-8000-000000000001"
    assert 7100 < principal.claims["exp"] - principal.claims["iat"] <= 7200


@pytest.mark.parametrize("args,message", [
    (["token"], "an authenticated token needs a user id"),
    (["token", "--user", "not-a-uuid"], "badly formed hexadecimal UUID string"),
    (["token", "--user", "a11ce000-0000-4000-8000-000000000001", "--expires", "soon"], "invalid duration"),
])
def test_token_rejects_bad_input(base_env, args, message):
    done = fluxbase(base_env, *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_migrate_command_reports_up_to_date(base_env, database):
    done = fluxbase(base_env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def test_malformed_setting_stops_the_cli_naming_it(base_env):
    done = fluxbase({**base_env, "JWT_SECRET": "short"}, "migrate")
    assert done.returncode == 2
    assert "JWT_SECRET must be at least 32 bytes" in done.stderr


def test_doctor_reports_missing_redis_in_one_line(base_env, database):
    env = {**base_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = fluxbase(env, "doctor")
    assert done.returncode == 1
    redis_lines = [line for line in done.stdout.splitlines() if "redis" in line.split()[1:2]]
    assert len(redis_lines) == 1 and redis_lines[0].startswith("FAIL") and "cannot connect to Redis" in redis_lines[0]


def test_doctor_reports_redis_server_not_installed(base_env, tmp_path):
    env = {k: v for k, v in base_env.items() if k != "REDIS_URL"}
    env.update(PATH="/nonexistent", DATA_DIR=str(tmp_path))
    done = fluxbase(env, "doctor")
    assert done.returncode == 1
    assert any(line.startswith("FAIL redis") and "redis-server is not installed" in line
               for line in done.stdout.splitlines()), done.stdout


def test_doctor_all_green_with_worker(base_env, worker):
    done = fluxbase(base_env, "doctor")
    assert done.returncode == 0, done.stdout
    assert "worker" in done.stdout and "FAIL" not in done.stdout


def test_health_is_200_with_everything_up(web):
    with urllib.request.urlopen(f"{web}/health", timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["status"] == "ok"
    assert all(body["checks"][name]["ok"] for name in ("postgres", "redis", "worker"))


def test_health_is_503_when_redis_is_down(base_env):
    settings = Settings.from_env({**base_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = create_app(settings).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["worker"]["ok"] is False


def test_cors_preflight_and_headers_follow_the_allowed_origins(settings):
    client = create_app(settings).test_client()
    preflight = client.options("/api/v1/ai/chatbots", headers={"Origin": "http://localhost:3000",
                                                               "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "apikey" in preflight.headers["Access-Control-Allow-Headers"]
    foreign = client.get("/api/v1/ai/chatbots", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    configured = create_app(settings.replace(allowed_origins=("https://app.example",))).test_client()
    ok = configured.get("/api/v1/ai/chatbots", headers={"Origin": "https://app.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_admin_role_jwt_is_accepted_on_admin_endpoints(settings):
    client = create_app(settings).test_client()
    admin = mint(settings.jwt_secret, role="authenticated", user_id="a11ce000-0000-4000-8000-000000000001")
    assert client.get("/api/v1/admin/ai/chatbots", headers={"Authorization": f"Bearer {admin}"}).status_code == 403
    token = jwt.encode({"role": "admin", "sub": "a11ce000-0000-4000-8000-000000000001",
                        "exp": int(time.time()) + 60}, settings.jwt_secret, algorithm="HS256")
    assert client.get("/api/v1/admin/ai/chatbots", headers={"Authorization": f"Bearer {token}"}).status_code == 200
