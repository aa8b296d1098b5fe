"""The playground's own routes (app/web/playground.py), through Flask's test client: the pages and
their headers, the demo sign-in that exists only in development, and the SQL formatter."""
import re
from pathlib import Path

import pytest

from app.auth.tokens import verify
from app.demo.loader import ALICE, BOB
from app.web.playground import UI_DIR
from tests.conftest import token_for

PAGES = sorted(Path(UI_DIR).glob("*.html"))


def test_root_leads_to_the_chat_page_which_is_served_with_a_strict_policy(client):
    assert client.get("/").headers["Location"].endswith("/playground/")
    page = client.get("/playground/")
    assert page.status_code == 200 and b'src="/playground/ui/chat.js"' in page.data
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    script = client.get("/playground/ui/chat.js")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert client.get("/playground/sdk/index.js").status_code == 200


@pytest.mark.parametrize("path", ["/playground/ui/../index.html", "/playground/ui/%2e%2e/index.html", "/playground/ui/../../playground.py",
                                  "/playground/sdk/../package.json", "/playground/sdk/index.d.ts",
                                  "/playground/ui/nothing.js"])
def test_nothing_outside_the_page_files_is_served(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_pages_have_no_inline_script_or_style(page):
    # The policy would block them anyway; this says so before a browser does.
    html = page.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle\s*=", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers


def test_development_offers_the_demo_users_and_mints_their_tokens(client, database):
    assert client.get("/playground/api/config").get_json() == {"environment": "development",
                                                                "demo_users": ["alice", "bob"]}
    for name, user_id in (("alice", ALICE), ("bob", BOB)):
        body = client.post("/playground/api/demo-session", json={"user": name}).get_json()
        assert body["user"] == name and body["user_id"] == user_id and body["expires_in"] == 8 * 3600
        principal = verify(database.jwt_secret, body["token"])
        assert principal.user_id == user_id and principal.role == "authenticated"


@pytest.mark.parametrize("body", [{"user": "mallory"}, {"user": None}, {}, ["alice"], None, {"user": ["alice"]},
                                  {"user": {"alice": 1}}])
def test_the_demo_sign_in_refuses_anyone_else(client, body):
    response = client.post("/playground/api/demo-session", json=body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_REQUEST" and "alice, bob" in response.get_json()["error"]


def test_production_has_no_demo_sign_in(app_client, database):
    production = app_client(database.replace(env="production"))
    assert production.get("/playground/api/config").get_json() == {"environment": "production", "demo_users": []}
    response = production.post("/playground/api/demo-session", json={"user": "alice"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "NOT_FOUND" and "paste a JWT" in response.get_json()["error"]
    assert production.get("/playground/").status_code == 200  # the page itself stays: sign in with a JWT


SIGNED_IN = {"Authorization": f"Bearer {token_for(ALICE)}"}


def test_format_sql_lays_out_the_statement_for_reading(client):
    sql = "select status, count(*) as n from orders where total > 10 group by status order by n desc"
    body = client.post("/playground/api/format-sql", json={"sql": sql}, headers=SIGNED_IN).get_json()
    assert body["formatted"] is True
    assert body["sql_pretty"].splitlines()[0] == "SELECT status,"
    assert "\nFROM orders\nWHERE total > 10\nGROUP BY status\nORDER BY n DESC" in body["sql_pretty"]
    long = "select " + ", ".join(f"c{i}" for i in range(2000)) + " from t"
    assert client.post("/playground/api/format-sql", json={"sql": long},
                       headers=SIGNED_IN).get_json() == {"sql_pretty": long, "formatted": False}


@pytest.mark.parametrize("body", [{"sql": 5}, {}, "select 1", None])
def test_format_sql_refuses_a_body_without_sql(client, body):
    response = client.post("/playground/api/format-sql", json=body, headers=SIGNED_IN)
    assert response.status_code == 400 and response.get_json()["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize("headers, code", [({}, "AUTH_REQUIRED"), ({"Authorization": "Bearer nope"}, "AUTH_INVALID")])
def test_format_sql_is_only_for_a_signed_in_caller(client, headers, code):
    # Up to a second of CPU per call in a worker shared with every chat: not for anyone who asks.
    response = client.post("/playground/api/format-sql", json={"sql": "select 1"}, headers=headers)
    assert response.status_code == 401 and response.get_json()["code"] == code
