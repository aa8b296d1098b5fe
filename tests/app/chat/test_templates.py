"""Prompt templates: {{user_id}}, {{namespace}} and settings by scope; secrets are never revealed."""
from app.chat.templates import NOT_SET, SettingsView, SettingValue, render

VIEW = SettingsView(
    user={"theme.mode": SettingValue("dark", False), "google.maps.api_key": SettingValue(None, True)},
    system={"theme.mode": SettingValue("light", False), "pelias.endpoint": SettingValue("https://p.example", False)},
)


def test_templates_resolve_scopes_and_never_reveal_secrets():
    text = render("{{user_id}} {{namespace}} {{theme.mode}} {{system:theme.mode}} {{user:pelias.endpoint}} "
                  "{{pelias.endpoint}} {{user:google.maps.api_key}} {{ missing.key }}",
                  user_id="u-1", namespace="default", settings=VIEW)
    assert text == (f"u-1 default dark light {NOT_SET} https://p.example [secret:google.maps.api_key] {NOT_SET}")


def test_anonymous_user_id_and_untouched_text():
    assert render("Hi {{user_id}} {not a template}", user_id=None, namespace="n", settings=SettingsView({}, {})) \
        == "Hi anonymous {not a template}"
