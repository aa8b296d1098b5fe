"""`fluxbase token` and `fluxbase migrate`, run as a user runs them."""
import pytest

from app.auth.tokens import verify
from tests.support.processes import fluxbase


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
