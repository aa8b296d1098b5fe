"""The playground's admin view (/playground/admin) in the real browser, against this session's live server:
signing in with the service key or an admin JWT, chatbots switched on and off, providers added, tested, made
the default and deleted, and usage per day as a chart and a table."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from playwright.sync_api import expect

from tests.conftest import ALICE, TEST_SECRET, TEST_SERVICE_KEY, token_for
from tests.playground.conftest import ARTIFACTS, screenshot
from tests.support.processes import wait_until

STORAGE_KEY = "fluxbase.admin.credential"
# A refused request is logged by the browser itself ("Failed to load resource: ... 401"); nothing else may be.
BROWSER_FETCH_NOTICE = re.compile(r"^Failed to load resource: the server responded with a status of (400|401|403|409)")


@pytest.fixture
def no_providers(owner_conn):
    # Providers are global: one left behind would answer other tests' turns.
    owner_conn.execute("delete from ai.providers")
    yield
    owner_conn.execute("delete from ai.providers")


def open_admin(page, web):
    page.goto(f"{web}/playground/admin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def sign_in(page, web, credential: str = TEST_SERVICE_KEY) -> None:
    open_admin(page, web)
    page.get_by_label("Service key or admin JWT").fill(credential)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page, web, credential: str = TEST_SERVICE_KEY) -> None:
    sign_in(page, web, credential)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#chatbots-status")).to_contain_text("enabled.")


# The page's colours and style.css's variables as the browser resolves them now (light or dark).
THEME_COLOURS = """() => {
    const resolve = (value) => { const probe = document.createElement('span'); probe.style.color = value;
        document.body.append(probe); const colour = getComputedStyle(probe).color; probe.remove(); return colour; };
    return {background: getComputedStyle(document.body).backgroundColor, bg: resolve('var(--bg)'),
            bars: getComputedStyle(document.querySelector('#usage-chart g.chart-series')).fill,
            chart1: resolve('var(--chart-1)')};
}"""


def unexpected_errors(page) -> list[str]:
    return [text for text in page.console_errors if not BROWSER_FETCH_NOTICE.match(text)]


def chatbot_enabled(owner_conn, name: str) -> bool:
    return owner_conn.execute("select enabled from ai.chatbots where namespace = 'tests' and name = %s",
                              (name,)).fetchone()[0]


def test_the_service_key_signs_in_and_a_chatbot_is_switched_off_and_on(page, web, test_chatbots, owner_conn):
    signed_in(page, web)
    assert page.locator("#signed-in-as").text_content() == "Signed in with the service key"
    switch = page.get_by_role("button", name="Enabled: tests/shop", exact=True)
    expect(switch).to_have_attribute("aria-pressed", "true")
    try:
        switch.click()
        expect(switch).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#chatbots-status")).to_have_text("tests/shop is disabled.")
        assert chatbot_enabled(owner_conn, "shop") is False
        switch.press("Enter")  # a switch is a button: the keyboard works it too
        expect(switch).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#chatbots-status")).to_have_text("tests/shop is enabled.")
        assert chatbot_enabled(owner_conn, "shop") is True
    finally:
        owner_conn.execute("update ai.chatbots set enabled = true where namespace = 'tests' and name = 'shop'")

    # The key lives in this tab's session storage: a reload stays signed in, signing out forgets it.
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") == TEST_SERVICE_KEY
    page.reload()
    expect(page.get_by_role("button", name="Enabled: tests/shop", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#sign-in-status")).to_contain_text("Signed out")
    assert page.locator("#admin").is_hidden() and page.locator("#chatbots-table tbody tr").count() == 0
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") is None
    assert page.console_errors == []


def test_a_provider_is_added_tested_made_default_and_deleted(page, web, llm, owner_conn, no_providers):
    signed_in(page, web)
    # The environment's provider is listed, read-only: it can be tested but not changed.
    env_row = page.locator('tr[data-provider="config"]')
    expect(env_row).to_contain_text("from environment")
    assert env_row.get_by_role("button", name="Delete config").count() == 0

    add_provider(page, "scripted", "Scripted LLM", model="scripted-model", base_url=llm.base_url, api_key="test-llm-key")
    row = page.locator('tr[data-provider="scripted"]')
    expect(row).to_contain_text("Scripted LLM")
    expect(row).to_contain_text("default")  # the first enabled provider of the table becomes the default
    stored = owner_conn.execute("select provider_type, config, api_key_sealed from ai.providers where name = 'scripted'").fetchone()
    assert stored[0] == "openai" and stored[1]["base_url"] == llm.base_url and stored[1]["model"] == "scripted-model"
    assert stored[2] and "test-llm-key" not in str(stored[2]) and "api_key" not in stored[1]
    # The key went to the server and left the page.
    assert page.locator("#provider-config-api_key").input_value() == ""
    assert "test-llm-key" not in page.content()

    llm.reply_text("ok", chunks=1)
    row.get_by_role("button", name="Test scripted").click()
    expect(row.locator(".probe-result")).to_contain_text("Works: scripted-model answered in")
    expect(row.locator(".probe-result")).to_contain_text("“ok”")
    request = llm.last_request()
    assert request.headers["authorization"] == "Bearer test-llm-key" and request.body["model"] == "scripted-model"

    # A refused key is the test's answer, shown in the row.
    add_provider(page, "wrong-key", None, model="m", base_url=llm.base_url, api_key="sk-not-the-key")
    wrong = page.locator('tr[data-provider="wrong-key"]')
    wrong.get_by_role("button", name="Test wrong-key").click()
    expect(wrong.locator(".probe-result")).to_contain_text("Failed: the provider rejected its credentials")
    expect(wrong.locator(".probe-result")).to_contain_text("PROVIDER_AUTH_FAILED")

    wrong.get_by_role("button", name="Set wrong-key as default").click()
    expect(page.locator("#providers-status")).to_have_text("wrong-key is the default provider now.")
    expect(page.locator('tr[data-provider="wrong-key"] .badge.default')).to_be_visible()
    expect(page.locator('tr[data-provider="scripted"] .badge.default')).to_have_count(0)
    assert owner_conn.execute("select name from ai.providers where is_default").fetchall() == [("wrong-key",)]

    page.once("dialog", lambda dialog: dialog.accept() if "Delete the provider wrong-key?" in dialog.message else dialog.dismiss())
    page.locator('tr[data-provider="wrong-key"]').get_by_role("button", name="Delete wrong-key").click()
    expect(page.locator("#providers-status")).to_have_text("wrong-key deleted.")
    expect(page.locator('tr[data-provider="wrong-key"]')).to_have_count(0)
    # Deleting the default promotes the oldest remaining enabled provider.
    expect(page.locator('tr[data-provider="scripted"] .badge.default')).to_be_visible()
    assert owner_conn.execute("select name, is_default from ai.providers").fetchall() == [("scripted", True)]

    # Dismissing the confirmation deletes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator('tr[data-provider="scripted"]').get_by_role("button", name="Delete scripted").click()
    assert owner_conn.execute("select count(*) from ai.providers").fetchone()[0] == 1
    assert unexpected_errors(page) == []


def test_refused_provider_input_is_shown_at_its_field(page, web, owner_conn, no_providers):
    signed_in(page, web)
    # The page's own check: Azure needs an endpoint, a deployment and a key.
    page.get_by_label("Name", exact=True).fill("azure-eu")
    page.get_by_label("Type").select_option("azure")
    page.get_by_role("button", name="Add provider").click()
    expect(page.locator("#provider-form-status")).to_have_text("Endpoint is required for azure.")
    expect(page.locator("#provider-config-endpoint")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#provider-config-endpoint")).to_be_focused()

    # The server's: a URL with credentials in it is refused, and the field it names is marked.
    page.get_by_label("Type").select_option("openai")
    page.get_by_label("Base URL").fill("http://user:secret@example.test/v1")
    page.get_by_role("button", name="Add provider").click()
    status = page.locator("#provider-form-status")
    expect(status).to_contain_text("Could not add azure-eu: config.base_url")
    expect(status).to_contain_text("(INVALID_PROVIDER_CONFIG, HTTP 400)")
    assert "secret" not in status.text_content()
    expect(page.locator("#provider-config-base_url")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Base URL").fill("")
    page.get_by_label("Name", exact=True).fill("config")  # the environment's provider's name
    page.get_by_role("button", name="Add provider").click()
    expect(status).to_contain_text("is the provider from the environment")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    assert owner_conn.execute("select count(*) from ai.providers").fetchone()[0] == 0
    assert unexpected_errors(page) == []


def test_usage_per_day_is_a_chart_and_a_table(page, web, owner_conn):
    today = datetime.now(timezone.utc).date()
    bot = str(uuid.uuid4())
    rows = [(today, ALICE, 3, 820, 61, 1), (today, None, 2, 100, 20, 0),
            (today - timedelta(days=1), ALICE, 5, 1500, 300, 0), (today - timedelta(days=4), ALICE, 1, 40, 2, 0)]
    for day, user, requests, prompt, completion, errors in rows:
        owner_conn.execute(
            "insert into ai.usage_daily (day, chatbot_id, user_key, user_id, namespace, chatbot, requests, errors,"
            " prompt_tokens, completion_tokens) values (%s, %s, %s, %s, 'admin-page', 'usage-bot', %s, %s, %s, %s)",
            (day, bot, user or "anonymous", user, requests, errors, prompt, completion))
    try:
        signed_in(page, web)
        page.get_by_role("heading", name="Usage per day").scroll_into_view_if_needed()
        chart = page.locator("#usage-chart svg")
        expect(chart).to_have_attribute("role", "img")
        expect(chart.locator("title").first).to_have_text("Tokens per day (UTC), last 14 days")
        # Whatever else this session's tests used, the page's numbers are the database's, day by day.
        expected = {day: counts for day, *counts in owner_conn.execute(
            "select day, sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), sum(errors)"
            " from ai.usage_daily where day > %s group by day", (today - timedelta(days=14),)).fetchall()}
        for day in (today, today - timedelta(days=1), today - timedelta(days=4)):
            cells = page.locator(f'#usage-table tr[data-day="{day.isoformat()}"] td').all_text_contents()
            numbers = [int(cell.replace(",", "")) for cell in cells]
            assert numbers[:5] == [int(n) for n in expected[day]], day
        assert page.locator("#usage-table tbody tr").count() == len(expected)
        # Two series (prompt and completion tokens) over 14 days: a bar for every day that has tokens.
        expect(chart.locator(".chart-legend text")).to_have_text(["Prompt tokens", "Completion tokens"])
        assert chart.locator('g.chart-series[data-series="0"] rect.chart-bar').count() == 14
        heights = chart.locator('g.chart-series[data-series="0"] rect.chart-bar').evaluate_all(
            "bars => bars.map(bar => +bar.getAttribute('height'))")
        prompt_today, prompt_yesterday = expected[today][1], expected[today - timedelta(days=1)][1]
        assert heights[-1] > 0 and heights[-2] > 0 and heights[-5] > 0
        assert (heights[-4] == 0) == (today - timedelta(days=3) not in expected)  # a day nobody used: a zero bar
        assert (heights[-2] > heights[-1]) == (prompt_yesterday > prompt_today)
        assert f"Prompt tokens {prompt_yesterday:,}" in chart.locator("desc").text_content()
        total = owner_conn.execute("select sum(total_tokens) from ai.usage_daily where day > %s",
                                   (today - timedelta(days=14),)).fetchone()[0]
        expect(page.locator("#usage-status")).to_contain_text(f"{total:,} tokens over the last 14 days")
        screenshot(page, "admin-usage-chart")
        # Dark mode reads the same variables; on a phone the page does not scroll sideways (tables do, inside).
        light = page.evaluate(THEME_COLOURS)
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate(THEME_COLOURS)
        assert dark["background"] != light["background"] and dark["bars"] != light["bars"]
        assert dark["background"] == dark["bg"] and dark["bars"] == dark["chart1"]  # the theme's variables, live
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # Drawn again for the narrow box, not shrunk: its viewBox is the phone's width.
        expect(page.locator("#usage-chart svg")).to_have_attribute("viewBox", re.compile(r"^0 0 3\d\d 320$"))
        page.locator("#usage").screenshot(path=str(ARTIFACTS / "admin-usage-chart-dark-narrow.png"))
        page.emulate_media(color_scheme="light")
        page.set_viewport_size({"width": 1280, "height": 860})

        page.get_by_label("Chart", exact=True).select_option("requests")
        expect(chart.locator("title").first).to_have_text("Requests per day (UTC), last 14 days")
        expect(page.locator("#usage-chart svg .chart-legend")).to_have_count(0)
        page.get_by_label("Days", exact=True).select_option("7")
        expect(page.locator("#usage-chart svg title").first).to_have_text("Requests per day (UTC), last 7 days")
        assert page.locator("#usage-chart svg rect.chart-bar").count() == 7
        assert page.console_errors == []
    finally:
        owner_conn.execute("delete from ai.usage_daily where chatbot_id = %s", (bot,))


def test_a_wrong_key_is_refused_with_a_clear_message(page, web):
    sign_in(page, web, "not-the-service-key")
    status = page.locator("#sign-in-status")
    expect(status).to_contain_text("Sign-in refused:")
    expect(status).to_contain_text("(AUTH_INVALID, HTTP 401)")
    expect(status).to_contain_text("The server did not accept these credentials")
    assert page.locator("#admin").is_hidden() and page.get_by_role("button", name="Sign out").is_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") is None
    expect(page.get_by_label("Service key or admin JWT")).to_be_focused()
    assert unexpected_errors(page) == []

    page.get_by_label("Service key or admin JWT").fill("")
    page.get_by_role("button", name="Sign in").click()
    expect(status).to_have_text("Paste the service key or an admin JWT first.")


def test_a_user_jwt_is_refused_and_an_admin_jwt_signs_in(page, web, test_chatbots):
    sign_in(page, web, token_for(ALICE))
    status = page.locator("#sign-in-status")
    expect(status).to_contain_text("Sign-in refused: Admin access required (FORBIDDEN, HTTP 403)")
    expect(status).to_contain_text("not an admin's: use the service key, or a JWT whose role is admin")
    assert page.locator("#admin").is_hidden()

    now = int(time.time())
    admin_jwt = jwt.encode({"role": "admin", "sub": str(uuid.uuid4()), "iat": now, "exp": now + 600}, TEST_SECRET,
                           algorithm="HS256")
    page.get_by_label("Service key or admin JWT").fill(admin_jwt)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_contain_text("Signed in with a JWT (role admin, until")
    expect(page.get_by_role("button", name="Enabled: tests/shop", exact=True)).to_be_visible()
    assert unexpected_errors(page) == []


def test_a_stored_credential_the_server_no_longer_takes_is_dropped_on_reload(page, web, test_chatbots):
    signed_in(page, web)
    # The stored key is swapped for a token the server refuses, as a rotated key or an expired JWT would be.
    page.evaluate(f"sessionStorage.setItem('{STORAGE_KEY}', 'eyJhbGciOiJIUzI1NiJ9.e30.invalid')")
    page.reload()
    status = page.locator("#sign-in-status")
    expect(status).to_contain_text("Sign-in refused:")
    expect(status).to_contain_text("(AUTH_INVALID, HTTP 401)")
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") is None


def add_provider(page, name, display_name, *, model, base_url, api_key) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Display name").fill(display_name or "")
    page.get_by_label("Type").select_option("openai")
    page.get_by_label("Model").fill(model)
    page.get_by_label("Base URL").fill(base_url)
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Add provider").click()
    expect(page.locator("#provider-form-status")).to_contain_text(f"Added {name}")
    expect(page.locator(f'tr[data-provider="{name}"]')).to_be_visible()


def test_a_token_that_expires_mid_session_signs_out_with_the_reason(page, web, test_chatbots):
    # Valid for about six more seconds (the server allows 10 s of leeway past `exp`).
    now = int(time.time())
    expiring = jwt.encode({"role": "admin", "sub": str(uuid.uuid4()), "iat": now - 60, "exp": now - 4}, TEST_SECRET,
                          algorithm="HS256")
    signed_in(page, web, expiring)

    def signed_out() -> bool:
        if page.locator("#sign-in").is_visible():
            return True
        page.locator("#chatbots-refresh").click()
        return False

    wait_until(signed_out, 30, "the page to notice the token expired", interval=0.5)
    status = page.locator("#sign-in-status")
    expect(status).to_contain_text("Signed out: the server no longer accepts these credentials: token has expired")
    expect(status).to_contain_text("(AUTH_INVALID, HTTP 401)")
    assert page.locator("#chatbots-table tbody tr").count() == 0
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE_KEY}')") is None
