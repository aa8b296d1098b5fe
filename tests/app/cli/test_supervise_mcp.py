"""`fluxbase run` runs the Procfile's `mcp` process like the others: supervised, on MCP_PORT, stopped by `fluxbase stop`."""
from app.cli.supervise.procfile import PROJECT_ROOT, read_procfile, select_processes
from tests.support.processes import fluxbase, free_port, http_ok, wait_until


def test_the_procfile_has_the_mcp_process_and_run_selects_it_by_default():
    entries = {e.name: e.command for e in select_processes(read_procfile(PROJECT_ROOT / "Procfile"), [])}
    assert entries["mcp"].startswith("python -m app.mcp_server")


def test_fluxbase_run_supervises_the_mcp_server(base_env, database, workdir):
    port = free_port()
    env = {**base_env, "MCP_PORT": str(port), "HOST": "127.0.0.1", "DATA_DIR": str(workdir / "supervised-mcp")}
    health = f"http://127.0.0.1:{port}/health"
    started = fluxbase(env, "run", "mcp", "--background")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        wait_until(lambda: http_ok(health), 60, "the supervised MCP server")
        # supervisord calls a process RUNNING only once it has stayed up for its start seconds, which
        # on a loaded machine can come after the first health answer.
        wait_until(lambda: "RUNNING" in fluxbase(env, "ps").stdout, 30, "supervisord to call mcp RUNNING")
        status = fluxbase(env, "ps")
        assert status.returncode == 0 and "mcp" in status.stdout and "RUNNING" in status.stdout, status.stdout
    finally:
        stopped = fluxbase(env, "stop", timeout=90)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not http_ok(health)
