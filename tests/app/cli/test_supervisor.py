"""`fluxbase run` (what `make run` / `make start` use): a killed worker comes back and its turn finishes,
while the web process and its sockets stay up; stopping leaves no process behind.

The supervisor runs the real Procfile against the session's PostgreSQL and Redis, on its own PORT, its
own DATA_DIR and its own Redis database (2), so the session's worker never takes its turns. The turn is
recovered the way it is in development: its lock lapses (6 s lease) and beat's housekeeping (every 15 s)
gives it to the restarted worker.
"""
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from app.cli.supervise.config import GROUP, Layout, render_config
from app.cli.supervise.errors import SupervisorError
from app.cli.supervise.procfile import read_procfile, select_processes
from app.worker_presence import PREFIX, live_workers
from tests.conftest import ALICE, token_for
from tests.support.chat_client import ChatClient
from tests.support.processes import ROOT, free_port, http_ok, wait_until


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[3])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] not in ("Z", "X"):
            found[int(entry)] = stat
    return found


def _descendants(root: int) -> set[int]:
    table = _processes()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (_, ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def _in_session(sid: int) -> set[int]:
    return {pid for pid, (_, _, session) in _processes().items() if session == sid}


def test_a_killed_worker_comes_back_and_finishes_the_turn_while_web_stays_up(
        base_env, database, test_chatbots, llm, workdir, owner_conn):
    port = free_port()
    data_dir = workdir / "supervised"
    env = {**base_env,
           "PORT": str(port), "MCP_PORT": str(free_port()), "HOST": "127.0.0.1", "DATA_DIR": str(data_dir),
           "REDIS_URL": base_env["REDIS_URL"].rsplit("/", 1)[0] + "/2",
           "CHATBOTS_SYNC_ON_START": "false",  # the `tests` chatbots are in the database already
           "WEB_CONCURRENCY": "1", "WORKER_CONCURRENCY": "4",
           "LLM_TIMEOUT_SECONDS": "60"}  # the stall must hold until the kill, not time the turn out
    layout = Layout(data_dir)
    base = f"http://127.0.0.1:{port}"
    broker = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    # This stack's beat shares the session's database: a turn an earlier test left unfinished would
    # be re-enqueued by its housekeeping and reach the scripted LLM unannounced.
    owner_conn.execute("update ai.turns set status = 'cancelled', finished_at = now(), ending_seq = 0 "
                       "where status in ('queued', 'running')")
    owner_conn.commit()

    def pid_of(name: str) -> int:
        done = subprocess.run(layout.ctl_command("pid", f"{GROUP}:{name}"), env=env, capture_output=True,
                              text=True, timeout=30)
        return int(done.stdout.strip()) if done.stdout.strip().isdigit() else 0

    run_log = open(workdir / "supervised-run.log", "ab")
    run = subprocess.Popen([sys.executable, "-m", "app.cli", "run"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                           stdout=run_log, stderr=subprocess.STDOUT, start_new_session=True)
    supervisord = 0
    client = None

    def output() -> str:
        return (workdir / "supervised-run.log").read_text(errors="replace")[-6000:]

    try:
        wait_until(lambda: run.poll() is not None or http_ok(f"{base}/health"), 90, "the supervised web process")
        assert run.poll() is None, output()
        supervisord = int(layout.supervisord_pidfile.read_text())
        web_pid, worker_pid = pid_of("web"), pid_of("worker")
        assert web_pid and worker_pid and pid_of("beat"), output()

        client = ChatClient(base, token_for(ALICE))
        started = client.start_chat("shop", namespace="tests")
        assert started["type"] == "chat_started", started
        conversation_id = started["conversation_id"]
        llm.reply_stall(after_chunks=3, text="a partial answer the killed worker never finishes")
        llm.reply_text("final answer")
        client.send({"type": "message", "conversation_id": conversation_id, "content": "how many orders?"})
        assert llm.wait_for_stall(30), output()

        os.kill(worker_pid, signal.SIGKILL)
        new_worker = wait_until(lambda: (pid := pid_of("worker")) not in (0, worker_pid) and pid, 30,
                                f"a new worker process:\n{output()}")
        assert not _alive(worker_pid)
        # The dead worker's presence key outlives it by up to 15 s: drop it, so only a live worker writes it.
        for name in live_workers(broker):
            broker.delete(f"{PREFIX}{name}")
        wait_until(lambda: live_workers(broker), 30, "the restarted worker's presence")

        events = client.until(lambda e: e.get("type") in ("done", "error", "cancelled")
                              and e.get("conversation_id") == conversation_id, timeout=90)
        assert events[-1]["type"] == "done", events
        # The same socket carried the answer, so the web process never went away; nor was it restarted.
        assert pid_of("web") == web_pid and _alive(web_pid)
        assert pid_of("worker") == new_worker

        turns = owner_conn.execute("select id, status, attempts, assistant_message_id::text from ai.turns "
                                   "where conversation_id = %s", (conversation_id,)).fetchall()
        assert len(turns) == 1 and turns[0][1] == "done" and turns[0][2] == 2, turns
        answers = owner_conn.execute("select id::text, content from ai.messages where turn_id = %s "
                                     "and role = 'assistant' and tool_calls is null", (turns[0][0],)).fetchall()
        assert answers == [(turns[0][3], "final answer")], answers
        assert events[-1]["message_id"] == turns[0][3]
        assert [e for e in client.events if e.get("type") == "done"] == [events[-1]]

        # Ctrl-C: everything it started stops, and nothing is left behind.
        started_here = _descendants(run.pid) | _in_session(supervisord)
        assert {web_pid, new_worker, supervisord} <= started_here
        client.close()
        client = None
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, output()
        assert not [pid for pid in started_here if _alive(pid)], output()
        assert not _in_session(supervisord), output()
        assert not http_ok(f"{base}/health")
    finally:
        if client is not None:
            client.close()
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
        for pid in _in_session(supervisord) if supervisord else ():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run_log.close()
        broker.close()


def test_the_supervisord_config_is_generated_from_the_procfile(tmp_path):
    from supervisor.datatypes import RestartUnconditionally
    from supervisor.options import ServerOptions, UnhosedConfigParser

    procfile = tmp_path / "Procfile"
    procfile.write_text("release: fluxbase migrate\n"
                        "web: gunicorn --workers ${WEB_CONCURRENCY:-2} --bind 0.0.0.0:${PORT:-8080} app\n"
                        "# a comment\n"
                        "worker: celery worker --hostname w%h\n"
                        "pair: first && second\n")
    layout = Layout(tmp_path / "data")
    layout.log_dir.mkdir(parents=True)
    entries = select_processes(read_procfile(procfile), [])
    assert [e.name for e in entries] == ["web", "worker", "pair"]  # release runs once per deploy, not here
    parser = UnhosedConfigParser()  # read as supervisord reads it
    parser.read_string(render_config(layout, entries, tmp_path, "secret"))
    [group] = ServerOptions().process_groups_from_parser(parser)
    programs = {p.name: p for p in group.process_configs}
    assert group.name == GROUP and sorted(programs) == ["pair", "web", "worker"]
    assert [shlex.split(programs[name].command) for name in ("web", "worker", "pair")] == [
        ["/bin/sh", "-c", "exec gunicorn --workers ${WEB_CONCURRENCY:-2} --bind 0.0.0.0:${PORT:-8080} app"],
        ["/bin/sh", "-c", "exec celery worker --hostname w%h"],
        ["/bin/sh", "-c", "first && second"],  # exec would drop `second`; stopping the group still stops both
    ]
    for program in programs.values():
        assert program.autorestart is RestartUnconditionally and program.stopasgroup and program.killasgroup
        assert program.directory == str(tmp_path) and program.stdout_logfile == str(layout.program_log(program.name))

    procfile.write_text('web: echo "a ;b"\n')  # supervisord would read `echo "a` as the whole command
    with pytest.raises(SupervisorError, match="would cut"):
        render_config(layout, read_procfile(procfile), tmp_path, "secret")
