"""Requests a hostile or clumsy client sends to the real web process: each gets a JSON 4xx, never a 500."""
import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.conftest import ALICE, TEST_SECRET, TEST_SERVICE_KEY


def request(web, path, *, method="GET", body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{web}{path}", data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


ADMIN = {"X-Service-Key": TEST_SERVICE_KEY, "Content-Type": "application/json"}


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "http://a:b:c", "null"])
def test_a_malformed_origin_is_just_not_allowed(web, origin):
    status, headers, _body = request(web, "/api/v1/ai/chatbots", headers={"Origin": origin})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    status, _headers, _body = request(web, "/api/v1/ai/chatbots", method="OPTIONS",
                                      headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert status == 204


def raw_upgrade(web, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    parts = urlsplit(web)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/ai/ws", headers=headers)
    response = conn.getresponse()
    try:
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("headers,status", [
    ({}, 400),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "8"}, 426),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}, 400),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13", "Origin": "http://["}, 403),
])
def test_a_broken_handshake_gets_its_http_answer(web, headers, status):
    got, response_headers, body = raw_upgrade(web, headers)
    assert got == status and json.loads(body)["code"] in ("INVALID_REQUEST", "ORIGIN_NOT_ALLOWED")
    if status == 426:
        assert response_headers["Sec-WebSocket-Version"] == "13"


@pytest.mark.parametrize("config", [{"model": "\u0000"}, {"model": "\ud800"}, {"provider": "\ud800"},
                                    {"allowed_tables": ["orders", "\u0000"]}])
def test_config_text_postgresql_cannot_store_is_refused(web, test_chatbots, config):
    status, _h, body = request(web, "/api/v1/admin/ai/chatbots?namespace=tests", headers=ADMIN)
    chatbot = next(c for c in json.loads(body)["chatbots"] if c["name"] == "shop-anon")
    raw = json.dumps({"config": config}).encode()  # ensure_ascii: the escapes reach the server as written
    status, _h, body = request(web, f"/api/v1/admin/ai/chatbots/{chatbot['id']}", method="PUT", body=raw,
                               headers=ADMIN)
    assert status == 400 and json.loads(body)["code"] == "INVALID_CONFIG", body


def test_a_body_nested_past_the_parser_is_a_400(web):
    status, _h, body = request(web, "/api/v1/admin/ai/chatbots/sync", method="POST",
                               body=b"[" * 5000 + b"]" * 5000, headers=ADMIN)
    assert status == 400 and json.loads(body)["code"] == "INVALID_REQUEST"


def test_a_chatbot_nested_past_the_parser_is_one_sync_error_not_a_failed_sync(web):
    deep = "/**\n * @fluxbase:description x\n */\nexport default `hi`;\nexport const tools = " + "[" * 5000 + "]" * 5000
    fine = "/**\n * @fluxbase:description y\n */\nexport default `fine`;\n"
    status, _h, body = request(web, "/api/v1/admin/ai/chatbots/sync", method="POST", headers=ADMIN, body={
        "namespace": "tests-deep", "chatbots": [{"name": "deep", "code": deep}, {"name": "fine", "code": fine}]})
    report = json.loads(body)
    assert status == 200 and report["details"]["created"] + report["details"]["unchanged"] == ["fine"]
    assert [e["name"] for e in report["errors"]] == ["deep"] and "nested too deeply" in report["errors"][0]["error"]


@pytest.mark.parametrize("claims", [{"exp": "9999999999"}, {"exp": 10**20}, {"exp": True}])
def test_a_token_whose_exp_is_not_a_plain_number_is_refused(web, claims):
    import jwt

    token = jwt.encode({"role": "authenticated", "sub": ALICE, **claims}, TEST_SECRET, algorithm="HS256")
    status, _h, body = request(web, "/api/v1/ai/chatbots", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and json.loads(body)["code"] == "AUTH_INVALID"



def test_werkzeugs_own_refusals_use_the_protocols_codes(database, app_client):
    client = app_client(database)
    wrong_method = client.patch("/api/v1/admin/ai/providers")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["code"] == "METHOD_NOT_ALLOWED"
    unknown = client.get("/api/v1/no/such/path")
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "NOT_FOUND"
    from tests.conftest import TEST_SERVICE_KEY
    huge = client.post("/api/v1/admin/ai/providers", data=b"x" * (8 * 1024 * 1024 + 1),
                       headers={"Content-Type": "application/json", "X-Service-Key": TEST_SERVICE_KEY})
    assert huge.status_code == 413 and huge.get_json()["code"] == "MESSAGE_TOO_LARGE"
