"""Prompt templates: {{user_id}}, {{namespace}} and settings by scope; missing ones render empty; secrets
become the placeholder http_get fills in; required settings are checked in the scope the prompt reads them."""
import uuid

import pytest

from app.chat.templates import (
    Scope,
    SettingsView,
    SettingValue,
    load_settings,
    missing,
    references,
    render,
    require_settings,
    scopes_of,
)
from app.protocol import Code, ProtocolError
from app.settings_store import repository as store

VIEW = SettingsView(
    user={"theme.mode": SettingValue("dark", False), "google.maps.api_key": SettingValue(None, True)},
    system={"theme.mode": SettingValue("light", False), "pelias.endpoint": SettingValue("https://p.example", False)},
)


def test_templates_resolve_scopes_render_missing_as_nothing_and_never_reveal_secrets():
    text = render("{{user_id}} {{namespace}} {{theme.mode}} {{system:theme.mode}} [{{user:pelias.endpoint}}] "
                  "{{pelias.endpoint}} {{user:google.maps.api_key}} [{{ missing.key }}] {{system:google.maps.api_key}}|",
                  user_id="u-1", namespace="default", settings=VIEW)
    assert text == ("u-1 default dark light [] https://p.example {{secret:google.maps.api_key}} [] |")


def test_anonymous_user_id_and_untouched_text():
    assert render("Hi {{user_id}} {not a template} {{secret:weather.key}} {{other:x}}", user_id=None, namespace="n",
                  settings=SettingsView({}, {})) == "Hi anonymous {not a template} {{secret:weather.key}} {{other:x}}"


def test_references_and_scopes():
    prompt = "{{user_id}} {{a.b}} {{user:u}} {{system:s}} {{user:both}} {{system:both}} {{secret:w.key}} {{system:a.b}}"
    assert references(prompt)[:3] == [(Scope.EITHER, "a.b"), (Scope.USER, "u"), (Scope.SYSTEM, "s")]
    assert scopes_of(prompt, ["req", "u"]) == {"a.b": Scope.EITHER, "u": Scope.USER, "s": Scope.SYSTEM,
                                               "both": Scope.EITHER, "w.key": Scope.EITHER, "req": Scope.EITHER}


def test_a_required_setting_is_missing_only_in_the_scope_the_prompt_reads():
    scopes = scopes_of("{{user:theme.mode}} {{system:pelias.endpoint}} {{system:google.maps.api_key}}",
                       ["theme.mode", "pelias.endpoint", "google.maps.api_key", "nowhere"])
    assert missing(["theme.mode", "pelias.endpoint", "google.maps.api_key", "nowhere"], scopes, VIEW) == \
        ["google.maps.api_key", "nowhere"]


@pytest.fixture
def user(owner_conn):
    user_id = str(uuid.uuid4())
    yield user_id
    owner_conn.execute("delete from app.settings where user_id = %s or key like 'tpl-test.%%'", (user_id,))


def test_load_settings_and_require_on_the_database(owner_conn, user, settings):
    store.put_value(owner_conn, "tpl-test.endpoint", None, {"value": "https://sys.example"})
    store.put_value(owner_conn, "tpl-test.units", user, 42)
    store.put_secret(owner_conn, settings.encryption_key, "tpl-test.key", user, "sekret-value")
    view = load_settings(owner_conn, ["tpl-test.endpoint", "tpl-test.units", "tpl-test.key", "tpl-test.none"], user)
    assert render("{{tpl-test.endpoint}} {{tpl-test.units}} {{tpl-test.key}} {{tpl-test.none}}.", user_id=user,
                  namespace="n", settings=view) == "https://sys.example 42 {{secret:tpl-test.key}} ."
    prompt = "{{system:tpl-test.units}}"
    require_settings(owner_conn, prompt, ["tpl-test.endpoint", "tpl-test.key"], user)
    with pytest.raises(ProtocolError) as refused:
        require_settings(owner_conn, prompt, ["tpl-test.endpoint", "tpl-test.units"], user)
    assert refused.value.code is Code.SETTINGS_MISSING and "'tpl-test.units'" in refused.value.message
    assert "system setting" in refused.value.message and refused.value.extra == {"setting": "tpl-test.units"}
    with pytest.raises(ProtocolError):  # an anonymous caller has no settings of its own
        require_settings(owner_conn, "", ["tpl-test.key"], None)
