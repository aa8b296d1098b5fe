"""The command line's entry point: a bad setting stops it before any command runs, naming the setting."""
from tests.support.processes import fluxbase


def test_malformed_setting_stops_the_cli_naming_it(base_env):
    done = fluxbase({**base_env, "JWT_SECRET": "short"}, "migrate")
    assert done.returncode == 2
    assert "JWT_SECRET must be at least 32 bytes" in done.stderr
