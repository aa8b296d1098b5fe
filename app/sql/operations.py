"""The SQL statement kinds a chatbot may be allowed to run, written once.

Settings (SERVER_ALLOWED_OPERATIONS), chatbot annotations, the server policy and the guard all
check against this list. It imports nothing, so `config` can use it without loading the guard's parser.
"""

OPERATIONS: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE")
WRITE_OPERATIONS: frozenset[str] = frozenset(("INSERT", "UPDATE", "DELETE"))
