import re
import threading

import pytest

from config import SETTINGS, ConfigurationError, Settings
from config.docs import BEGIN, END, render_table
from tests.support.processes import ROOT

GOOD_SECRET = "x" * 32


def env(tmp_path, **extra):
    base = {"DATA_DIR": str(tmp_path)}
    base.update(extra)
    return base


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == render_table(), "README settings table is stale: run `python -m config.docs --write README.md`"
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    assert documented == {s.env for s in SETTINGS}


def test_every_setting_field_exists_on_settings():
    fields = set(Settings.__dataclass_fields__)
    for setting in SETTINGS:
        assert setting.field in fields, setting.env


def test_defaults_use_embedded_services(tmp_path):
    s = Settings.from_env(env(tmp_path))
    assert s.embedded_postgres and s.embedded_redis
    assert s.database_url.startswith("postgresql://postgres@127.0.0.1:")
    assert s.port == 8080 and s.max_tool_rounds == 5 and s.sql_statement_timeout_ms == 5000


def test_development_secrets_are_generated_once_and_kept(tmp_path):
    first = Settings.from_env(env(tmp_path))
    second = Settings.from_env(env(tmp_path))
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret and first.encryption_key == second.encryption_key
    assert first.jwt_secret != first.encryption_key
    assert (tmp_path / "secrets" / "JWT_SECRET").stat().st_mode & 0o077 == 0


def test_concurrent_first_starts_agree_on_the_secret(tmp_path):
    results = []
    threads = [threading.Thread(target=lambda: results.append(Settings.from_env(env(tmp_path)).jwt_secret))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1  # a thread that raised would leave no result


@pytest.mark.parametrize("name,value,message", [
    ("JWT_SECRET", "short", "JWT_SECRET must be at least 32 bytes"),
    ("ENCRYPTION_KEY", "tooshort", "ENCRYPTION_KEY must be at least 32 bytes"),
    ("PORT", "eighty", "PORT must be an integer"),
    ("PORT", "70000", "PORT must be between 1 and 65535"),
    ("DATABASE_URL", "mysql://x@h/db", "DATABASE_URL must be a postgres/postgresql URL"),
    ("REDIS_URL", "http://localhost", "REDIS_URL must be a redis/rediss/unix URL"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR"),
    ("CHATBOTS_SYNC_ON_START", "maybe", "CHATBOTS_SYNC_ON_START must be true or false"),
    ("SERVER_ALLOWED_OPERATIONS", "SELECT,DROP", "SERVER_ALLOWED_OPERATIONS has unknown operations"),
    ("FLUXBASE_ENV", "staging", "FLUXBASE_ENV must be one of development, production"),
])
def test_malformed_values_name_the_setting(tmp_path, name, value, message):
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env(tmp_path, **{name: value}))
    assert str(info.value).startswith(message)
    assert info.value.name == name


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "JWT_SECRET", "ENCRYPTION_KEY", "SERVICE_KEY"])
def test_production_requires_explicit_values(tmp_path, missing):
    values = {"FLUXBASE_ENV": "production", "DATABASE_URL": "postgresql://u:p@db/app", "REDIS_URL": "redis://r:6379/0",
              "JWT_SECRET": GOOD_SECRET, "ENCRYPTION_KEY": GOOD_SECRET, "SERVICE_KEY": GOOD_SECRET,
              "AUTHENTICATOR_PASSWORD": "p" * 20}
    del values[missing]
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env(tmp_path, **values))
    assert info.value.name == missing
    assert not (tmp_path / "secrets").exists()


def test_authenticator_url_is_derived_from_database_url(tmp_path):
    s = Settings.from_env(env(tmp_path, DATABASE_URL="postgresql://owner:pw@db.example:6543/app",
                              AUTHENTICATOR_PASSWORD="p@ss word/with:chars"))
    assert s.authenticator_url == "postgresql://authenticator:p%40ss%20word%2Fwith%3Achars@db.example:6543/app"


def test_empty_values_fall_back_to_defaults(tmp_path):
    assert Settings.from_env(env(tmp_path, PORT="  ")).port == 8080
