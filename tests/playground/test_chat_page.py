"""The chat page in a real browser (Chromium through Playwright) against the session's live server:
sign-in, streaming, Markdown that cannot carry markup, result tables and charts, cancel, the
conversation list, and a reload mid-answer that continues where it was. The model is the scripted LLM."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from app.auth.tokens import mint
from tests.conftest import BOB, token_for
from tests.playground.conftest import screenshot
from tests.support.llm_script import split_text

SHOP = "shop (tests)"


@pytest.fixture(autouse=True)
def quick_failures(request):
    # Playwright waits 30 s for an element by default; everything here answers in well under a second.
    if "page" in request.fixturenames:
        request.getfixturevalue("page").set_default_timeout(10_000)


@pytest.fixture
def chat_page(page, web, test_chatbots):
    """The chat page, signed in as the demo user alice, with the tests' shop bot picked."""
    page.goto(web + "/")
    page.get_by_role("button", name="Sign in as alice").click()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as alice")
    page.get_by_label("Chatbot").select_option(label=SHOP)
    return page


def ask(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def answers(page):
    return page.locator("#transcript .message.assistant")


def wait_done(page, count: int = 1) -> None:
    expect(answers(page)).to_have_count(count)
    expect(answers(page).nth(count - 1)).to_have_attribute("data-status", "complete")
    expect(page.locator("#send")).to_be_enabled()


def conversation_id(page) -> str:
    return json.loads(page.evaluate("sessionStorage.getItem('fluxbase.playground.chat')"))["conversationId"]


def rest(web: str, path: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(web + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_demo_sign_in_pick_a_chatbot_and_stream_an_answer(chat_page, llm):
    page = chat_page
    assert page.url.endswith("/playground/")
    text = "**Hello** Alice, here is `code`:\n\n- one\n- two\n\n## Totals\nAll fine."
    gate = llm.reply_held(text, after_chunks=3, chunks=8)  # the role chunk, then 2 of the 8 pieces
    message = page.get_by_label("Message")
    message.fill("first line")
    message.press("Shift+Enter")
    message.type("second line")
    message.press("Enter")
    expect(page.locator("#transcript .message.user .message-body")).to_have_text("first line\nsecond line")
    held = "".join(split_text(text, 8)[:2])
    expect(answers(page)).to_have_attribute("aria-busy", "true")
    expect(answers(page).locator(".markdown")).to_contain_text(held.replace("**", ""))
    assert llm.wait_for_held(1)
    expect(page.locator("#cancel")).to_be_enabled()
    expect(page.locator("#send")).to_be_disabled()
    assert "Totals" not in answers(page).inner_text()  # still streaming: the rest is held back
    gate.open()
    wait_done(page)
    body = answers(page).locator(".markdown")
    expect(body.locator("strong")).to_have_text("Hello")
    expect(body.locator("code")).to_have_text("code")
    expect(body.locator("li")).to_have_text(["one", "two"])
    expect(body.locator("h4")).to_have_text("Totals")
    expect(page.locator("#status")).to_contain_text("Answer complete")
    assert llm.last_request().messages[-1] == {"role": "user", "content": "first line\nsecond line"}
    expect(page.locator(f"#conversation-list li[data-id='{conversation_id(page)}']")).to_contain_text("first line")
    assert page.console_errors == []


def test_query_results_as_sortable_tables_with_sql_and_charts(chat_page, llm):
    page = chat_page
    scores = "SELECT 'item ' || g AS name, (g * 37) % 101 AS score FROM generate_series(1, 12) AS g"
    days = "SELECT (date '2025-01-01' + g) AS day, g * 2 AS orders FROM generate_series(0, 6) AS g"
    refused = "SELECT * FROM auth.users"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "numbers"}}
                          for sql in (scores, days, refused)])
    llm.reply_text("Here are the numbers.")
    page.evaluate("""() => {
      window.__steps = [];
      const status = document.getElementById("status");
      new MutationObserver(() => window.__steps.push(status.textContent)).observe(status, {childList: true});
    }""")
    ask(page, "Show me scores and orders per day")
    wait_done(page)
    steps = page.evaluate("window.__steps")
    assert {"Querying database...", "Executing: numbers"} <= set(steps), steps
    assert steps[-1].startswith("Answer complete")
    expect(page.locator("#status")).to_have_attribute("aria-live", "polite")
    panels = answers(page).locator("section.result")
    expect(panels).to_have_count(3)
    scores_panel = panels.filter(has=page.locator(".sql-exact code", has_text="(g * 37) % 101"))
    days_panel = panels.filter(has=page.locator(".sql-exact code", has_text="date '2025-01-01'"))
    refused_panel = panels.filter(has=page.locator(".sql-exact code", has_text=refused))

    expect(scores_panel.locator(".row-count")).to_have_text("12 rows")
    expect(scores_panel.locator(".sql-exact code")).to_have_text(scores)
    expect(scores_panel.locator(".sql-pretty")).to_have_attribute("data-formatted", "true")
    assert "\nFROM generate_series(1, 12) AS g" in scores_panel.locator(".sql-pretty code").inner_text()

    column = scores_panel.locator("tbody td:nth-child(2)")
    unsorted = [int(v) for v in column.all_inner_texts()]
    assert unsorted == [(g * 37) % 101 for g in range(1, 13)]
    header = scores_panel.locator("th", has_text="score")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert [int(v) for v in column.all_inner_texts()] == sorted(unsorted)  # 3, 10, 20, ... as numbers
    header.get_by_role("button").press("Enter")
    expect(header).to_have_attribute("aria-sort", "descending")
    assert [int(v) for v in column.all_inner_texts()] == sorted(unsorted, reverse=True)
    name_header = scores_panel.locator("th", has_text="name")
    name_header.get_by_role("button").click()
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(header).to_have_attribute("aria-sort", "none")
    assert scores_panel.locator("tbody td:nth-child(1)").all_inner_texts()[:3] == ["item 1", "item 2", "item 3"]

    expect(scores_panel.locator(".result-chart svg.chart-bar")).to_have_count(1)
    expect(days_panel.locator(".result-chart svg.chart-line")).to_have_count(1)
    expect(days_panel.locator("tbody tr")).to_have_count(7)
    expect(refused_panel.locator(".result-error")).to_have_text("Table not allowed: auth.users")
    expect(refused_panel.locator(".result-chart")).to_have_count(0)
    expect(refused_panel.locator("table")).to_have_count(0)
    # A window as tall as the page, so the sticky message box sits at its end in the picture.
    page.set_viewport_size({"width": 1280, "height": page.evaluate("document.documentElement.scrollHeight")})
    screenshot(page, "chat-table-and-chart")
    assert page.console_errors == []


def test_markup_from_the_model_is_shown_as_text(chat_page, llm):
    page = chat_page
    page.evaluate("window.__pwned = undefined")
    text = ('Look: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>\n\n'
            "[bad](javascript:window.__pwned=3) and [good](https://example.com/docs) "
            '<a href="https://evil.example">raw</a>\n\n```html\n<b>bold?</b><iframe src="/"></iframe>\n```')
    llm.reply_text(text, chunks=6)
    ask(page, "<i>my own</i> markup")
    wait_done(page)
    transcript = page.locator("#transcript")
    expect(transcript.locator(".message.user .message-body")).to_have_text("<i>my own</i> markup")
    body = answers(page).locator(".markdown")
    expect(body).to_contain_text('<img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>')
    expect(body.locator("pre code")).to_have_text('<b>bold?</b><iframe src="/"></iframe>')
    for tag in ("img", "script", "iframe", "b", "i"):
        assert transcript.locator(tag).count() == 0, tag
    # Links only to http(s), each opening a new tab without a referrer (a bare URL becomes one too).
    links = body.locator("a")
    expect(links).to_have_count(2)
    assert [link.get_attribute("href") for link in links.all()] == ["https://example.com/docs", "https://evil.example"]
    for link in links.all():
        assert (link.get_attribute("rel"), link.get_attribute("target")) == ("noopener noreferrer", "_blank")
    expect(body.get_by_role("link", name="good")).to_have_count(1)
    expect(body).to_contain_text('<a href="https://evil.example">raw</a>')
    expect(body).to_contain_text("bad (javascript:window.__pwned=3)")
    assert page.evaluate("window.__pwned") is None
    assert page.console_errors == []


RENDER = """async (text) => {
  const { renderMarkdown } = await import("/playground/ui/markdown.js");
  const box = document.createElement("div");
  box.append(renderMarkdown(text));
  return box.innerHTML;
}"""


@pytest.mark.parametrize("text,html", [
    ("# Title\n\nSome *it* and **bold** and ~~gone~~", "<h3>Title</h3><p>Some <em>it</em> and <strong>bold</strong> and "
                                                     "<del>gone</del></p>"),
    ("snake_case_name and a__b__c and 2 * 3 * 4", "<p>snake_case_name and a__b__c and 2 * 3 * 4</p>"),
    ("- a\n  - a1\n- b\n\n1. one\n2. two", "<ul><li>a<ul><li>a1</li></ul></li><li>b</li></ul>"
                                          "<ol><li>one</li><li>two</li></ol>"),
    ("| n | name |\n|--:|---|\n| 1 | <b>x</b> |", '<div class="table-scroll"><table><thead><tr><th scope="col" '
     'data-align="right">n</th><th scope="col">name</th></tr></thead><tbody><tr><td data-align="right">1</td>'
     "<td>&lt;b&gt;x&lt;/b&gt;</td></tr></tbody></table></div>"),
    ("```sql\nSELECT 1;\n", '<pre><code data-language="sql">SELECT 1;\n</code></pre>'),  # still streaming
    ("> quoted `<tag>`\n\n---", "<blockquote><p>quoted <code>&lt;tag&gt;</code></p></blockquote><hr>"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=) [y](javascript:alert(1)) \\*not em\\*",
     "<p>x (data:text/html;base64,PHNjcmlwdD4=) y (javascript:alert(1)) *not em*</p>"),
])
def test_the_markdown_subset(page, web, text, html):
    page.goto(web + "/playground/")
    assert page.evaluate(RENDER, text) == html


def test_cancel_stops_the_answer_and_keeps_what_came(chat_page, llm):
    page = chat_page
    text = "This answer is stopped before it ever gets to the end of its sentence"
    llm.reply_held(text, after_chunks=3, chunks=8)
    ask(page, "Tell me a long story")
    held = "".join(split_text(text, 8)[:2])
    expect(answers(page).locator(".markdown")).to_have_text(held)
    assert llm.wait_for_held(1)
    page.get_by_role("button", name="Cancel answer").click()
    expect(answers(page)).to_have_attribute("data-status", "cancelled")
    expect(answers(page).locator(".message-status")).to_contain_text("Cancelled")
    expect(page.locator("#status")).to_have_text("Answer cancelled.")
    expect(answers(page).locator(".markdown")).to_have_text(held)
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#cancel")).to_be_disabled()
    assert page.console_errors == []


def test_errors_and_limits_are_shown_readably(chat_page, llm):
    page = chat_page
    llm.reply_error(429, "scripted failure", retry_after=7)
    ask(page, "hello")
    notice = page.locator("#transcript .notice")
    expect(notice).to_contain_text("The AI provider is not answering right now.")
    expect(notice).to_contain_text("Try again in 7 s. [PROVIDER_ERROR]")
    expect(page.locator("#send")).to_be_enabled()
    # A chatbot with one turn per conversation: the second message is refused, and says why.
    page.get_by_label("Chatbot").select_option(label="shop-short (tests)")
    expect(page.locator("#transcript .message")).to_have_count(0)  # another chatbot: a new conversation
    llm.reply_text("The only answer.")
    ask(page, "one")
    wait_done(page)
    ask(page, "two")
    expect(notice).to_contain_text("turn limit")
    expect(notice).to_contain_text("[TURN_LIMIT]")
    expect(page.locator("#send")).to_be_enabled()


def test_rename_and_delete_a_conversation(chat_page, llm, web):
    page = chat_page
    llm.reply_text("Answer one.")
    ask(page, "A question to rename")
    wait_done(page)
    conversation = conversation_id(page)
    item = page.locator(f"#conversation-list li[data-id='{conversation}']")
    expect(item).to_contain_text("A question to rename")
    item.get_by_role("button", name="Rename A question to rename").click()
    title = page.get_by_label("New title for A question to rename")
    expect(title).to_be_focused()
    title.fill("Renamed by the browser")
    title.press("Enter")
    expect(item.locator(".conversation-title")).to_have_text("Renamed by the browser")
    token = token_for("a11ce000-0000-4000-8000-000000000001")
    assert rest(web, f"/api/v1/ai/conversations/{conversation}", token)[1]["title"] == "Renamed by the browser"

    page.once("dialog", lambda dialog: dialog.dismiss())
    item.get_by_role("button", name="Delete Renamed by the browser").click()
    expect(item).to_have_count(1)  # dismissed: nothing happens
    assert rest(web, f"/api/v1/ai/conversations/{conversation}", token)[0] == 200
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete Renamed by the browser").click()
    expect(item).to_have_count(0)
    expect(answers(page)).to_have_count(0)  # it was the open one: the page starts afresh
    assert rest(web, f"/api/v1/ai/conversations/{conversation}", token)[0] == 404
    assert page.console_errors == []


def test_open_a_conversation_from_the_list(chat_page, llm):
    page = chat_page
    sql = "SELECT name, price FROM products ORDER BY id LIMIT 3"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "products"}}])
    llm.reply_text("Three *products*.")
    ask(page, "Which products?")
    wait_done(page)
    conversation = conversation_id(page)
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#transcript .message")).to_have_count(0)
    expect(page.get_by_label("Message")).to_be_focused()
    page.locator(f"#conversation-list li[data-id='{conversation}'] button.conversation-open").click()
    # The history: the question, and the answer with what it ran (stored results keep no rows).
    expect(page.locator("#transcript .message.user .message-body")).to_have_text(["Which products?"])
    expect(answers(page).locator(".markdown em")).to_have_text("products")
    expect(answers(page).locator(".sql-exact code")).to_have_text(sql)
    expect(answers(page).locator(".row-count")).to_have_text("3 rows")
    expect(answers(page).locator(".rows-not-kept")).to_have_text(
        "The rows are not kept in the history; ask again to see them.")
    expect(page.locator(f"#conversation-list li[data-id='{conversation}'] button[aria-current='true']")).to_have_count(1)
    # The socket is attached to it again: the conversation goes on.
    llm.reply_text("Still here.")
    ask(page, "And now?")
    wait_done(page, 2)
    expect(answers(page).locator(".markdown")).to_have_text(["Three products.", "Still here."])
    assert conversation_id(page) == conversation
    assert [m["role"] for m in llm.last_request().messages].count("user") == 2
    assert page.console_errors == []


def test_reload_mid_answer_continues_and_shows_the_answer_once(chat_page, llm):
    page = chat_page
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    gate = llm.reply_held(text, after_chunks=4, chunks=10)  # the role chunk, then 3 of the 10 pieces
    ask(page, "Count in Greek")
    held = "".join(split_text(text, 10)[:3])
    expect(answers(page).locator(".markdown")).to_have_text(held)
    assert llm.wait_for_held(1)
    page.reload()
    # History up to the question, then the whole running turn replayed once, waiting at the gate.
    expect(page.locator("#transcript .message.user .message-body")).to_have_text(["Count in Greek"])
    expect(answers(page).locator(".markdown")).to_have_text(held)
    expect(page.locator("#cancel")).to_be_enabled()
    during = page.evaluate("sessionStorage.getItem('fluxbase.playground.chat')")
    assert json.loads(during)["turnOpen"] is True
    gate.open()
    wait_done(page)
    expect(answers(page).locator(".markdown")).to_have_text([text])
    assert json.loads(page.evaluate("sessionStorage.getItem('fluxbase.playground.chat')"))["turnOpen"] is False

    # A reload just as the answer ended (the tab still thought the turn open): the stored answer is in
    # the history and the replay brings it too; it is shown once. A later turn is then the only new
    # answer (anything replayed twice would come before it).
    page.evaluate("position => sessionStorage.setItem('fluxbase.playground.chat', position)", during)
    page.reload()
    wait_done(page)  # the replayed ending closes the turn the tab thought open
    llm.reply_text("Second answer.")
    ask(page, "Again")
    wait_done(page, 2)
    expect(answers(page).locator(".markdown")).to_have_text([text, "Second answer."])
    # A reload between turns shows the history and replays nothing.
    page.reload()
    llm.reply_text("Third answer.")
    ask(page, "Once more")
    wait_done(page, 3)
    expect(answers(page).locator(".markdown")).to_have_text([text, "Second answer.", "Third answer."])
    expect(page.locator("#transcript .message.user .message-body")).to_have_text(["Count in Greek", "Again",
                                                                                   "Once more"])
    assert page.console_errors == []


def test_sign_in_with_a_pasted_jwt(page, web, test_chatbots):
    page.goto(web + "/playground/")
    page.get_by_label("Paste a JWT").fill(token_for(BOB))
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as authenticated {BOB}")
    expect(page.get_by_label("Chatbot").locator("option", has_text=SHOP)).to_have_count(1)
    expect(page.locator("#sign-in")).to_be_hidden()
    # The token is this tab's: a reload keeps the sign-in, signing out forgets it.
    page.reload()
    expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as authenticated {BOB}")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Paste a JWT")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('fluxbase.playground.session')") is None
    assert page.console_errors == []


@pytest.mark.parametrize("token,says", [
    ("not-a-jwt", "That is not a JWT"),
    (mint("another-secret-0123456789-abcdefghijklmnopq", role="authenticated", user_id=BOB, ttl_seconds=86400),
     "Sign-in failed: The server refused the token"),
    (mint("another-secret-0123456789-abcdefghijklmnopq", role="authenticated", user_id=BOB, ttl_seconds=-600),
     "This token expired at"),
])
def test_a_bad_jwt_says_what_is_wrong(page, web, token, says):
    page.goto(web + "/playground/")
    page.get_by_label("Paste a JWT").fill(token)
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#sign-in-error")).to_contain_text(says)
    expect(page.locator("#workspace")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('fluxbase.playground.session')") is None


def test_narrow_dark_screen_stacks_the_sidebar(browser, web, test_chatbots, llm):
    context = browser.new_context(viewport={"width": 390, "height": 820}, color_scheme="dark")
    try:
        page = context.new_page()
        errors = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(web + "/")
        page.get_by_role("button", name="Sign in as bob").click()
        toggle = page.get_by_role("button", name="Conversations")
        expect(page.locator("#sidebar")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#sidebar")).to_be_visible()
        page.get_by_label("Chatbot").select_option(label=SHOP)
        llm.reply_text("A **dark** and narrow answer.")
        ask(page, "Hello from a phone")
        wait_done(page)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 23, 27)"  # the dark theme's --bg
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
        screenshot(page, "chat-narrow-dark")
        assert errors == []
    finally:
        context.close()
