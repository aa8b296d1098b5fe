"""The development process supervisor behind `fluxbase run`: the Procfile's processes under supervisord.

supervisord (pinned in requirements.txt) does the supervising: it starts each Procfile process in
its own process group, restarts one that dies (a process that dies within STARTSECS of its start is
retried with a growing delay of 1, 2, 3 ... s and given up after STARTRETRIES such fast crashes), and
stops whole process groups with SIGTERM, then SIGKILL after STOPWAITSECS.

This package adds what supervisord does not do: its config is generated into DATA_DIR from the
Procfile, which stays the one source of the commands; each process's log file is followed and printed
with a name prefix, as honcho did; supervisord runs in a session of its own (so Ctrl-C reaches only
`fluxbase run`, which asks supervisord to stop everything) and, should anything outlive it, every
process of that session is killed before `fluxbase run` returns.
"""
