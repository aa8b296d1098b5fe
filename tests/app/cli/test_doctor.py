"""`fluxbase doctor`: one line per dependency, and what is wrong with it."""
from tests.support.processes import fluxbase, free_port


def test_doctor_reports_missing_redis_in_one_line(base_env, database):
    env = {**base_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = fluxbase(env, "doctor")
    assert done.returncode == 1
    redis_lines = [line for line in done.stdout.splitlines() if "redis" in line.split()[1:2]]
    assert len(redis_lines) == 1 and redis_lines[0].startswith("FAIL") and "cannot connect to Redis" in redis_lines[0]


def test_doctor_reports_redis_server_not_installed(base_env, tmp_path):
    env = {k: v for k, v in base_env.items() if k != "REDIS_URL"}
    env.update(PATH="/nonexistent", DATA_DIR=str(tmp_path))
    done = fluxbase(env, "doctor")
    assert done.returncode == 1
    assert any(line.startswith("FAIL redis") and "redis-server is not installed" in line
               for line in done.stdout.splitlines()), done.stdout


def test_doctor_all_green_with_worker(base_env, worker):
    done = fluxbase(base_env, "doctor")
    assert done.returncode == 0, done.stdout
    assert "worker" in done.stdout and "FAIL" not in done.stdout
