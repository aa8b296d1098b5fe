"""GET /health: 200 with every dependency up, 503 naming the one that is down."""
import json
import urllib.request

from config import Settings
from tests.support.processes import free_port


def test_health_is_200_with_everything_up(web):
    with urllib.request.urlopen(f"{web}/health", timeout=10) as response:
        body = json.loads(response.read())
    assert response.status == 200
    assert body["status"] == "ok"
    assert all(body["checks"][name]["ok"] for name in ("postgres", "redis", "worker"))


def test_health_is_503_when_redis_is_down(base_env, app_client):
    settings = Settings.from_env({**base_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = app_client(settings)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["worker"]["ok"] is False
