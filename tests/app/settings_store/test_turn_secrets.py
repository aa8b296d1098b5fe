"""Which secrets a turn may use: the keys its chatbot names, in the scope its prompt reads them."""
from app.chat.templates import Scope, SettingsView, SettingValue
from app.settings_store.repository import secret_box
from app.settings_store.turn_secrets import NO_TURN_SECRETS, turn_secrets

KEY = "test-encryption-key-0123456789-abcdefghijkl"
USER = "a11ce000-0000-4000-8000-000000000001"


def sealed(key: str, value: str, user_id: str | None) -> SettingValue:
    return SettingValue(None, True, sealed=secret_box(KEY, user_id).seal(value, f"app.settings:{key}"), user_id=user_id)


def test_the_resolver_follows_the_prompts_scope_and_the_scrubber_knows_every_value():
    view = SettingsView(user={"both": sealed("both", "user-both", USER), "shadow": SettingValue("plain", False)},
                        system={"both": sealed("both", "system-both", None), "sys": sealed("sys", "system-only", None),
                                "shadow": sealed("shadow", "system-shadow", None)})
    secrets = turn_secrets(view, {"both": Scope.EITHER, "sys": Scope.SYSTEM, "shadow": Scope.EITHER}, KEY)
    assert secrets.resolve("both") == "user-both" and secrets.resolve("sys") == "system-only"
    assert secrets.resolve("shadow") is None       # the prompt showed the user's plain value, not a placeholder
    assert secrets.resolve("unnamed") is None
    assert turn_secrets(view, {"both": Scope.SYSTEM}, KEY).resolve("both") == "system-both"
    scrubbed = secrets.scrubber.text("user-both system-both system-only system-shadow")
    assert scrubbed == "{{secret:both}} {{secret:both}} {{secret:sys}} {{secret:shadow}}"
    assert "user-both" not in repr(secrets)


def test_a_value_sealed_for_another_user_or_key_does_not_open():
    moved = SettingsView(user={"k": SettingValue(None, True, sealed=sealed("other", "v-1234", USER).sealed,
                                                  user_id=USER)}, system={})
    assert turn_secrets(moved, {"k": Scope.EITHER}, KEY) is NO_TURN_SECRETS
    foreign = SettingsView(user={"k": SettingValue(None, True, sealed=sealed("k", "v-1234", None).sealed,
                                                    user_id=USER)}, system={})
    assert turn_secrets(foreign, {"k": Scope.EITHER}, KEY) is NO_TURN_SECRETS
    assert not turn_secrets(SettingsView({}, {}), {}, KEY)
