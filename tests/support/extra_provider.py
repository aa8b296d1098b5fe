"""A second provider for tests that pin a conversation to it (docs/providers.md section 3).

Providers are global rows: this one has a unique name, is never the default (inserted directly with
`is_default = false`; the admin API would make the first enabled provider the default, which would
answer every other test's turns), and is deleted at the end.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

INSERT = """
insert into ai.providers (id, name, display_name, provider_type, is_default, enabled, config)
values (%s, %s, %s, 'ollama', false, true, %s::jsonb)
"""


@contextmanager
def extra_provider(owner_conn, endpoint: str, model: str = "pinned-model") -> Iterator[tuple[str, str]]:
    """(id, name) of an enabled Ollama-type provider at `endpoint` (a ScriptedLLM's azure_endpoint)."""
    provider_id, name = str(uuid.uuid4()), f"pin-{uuid.uuid4().hex[:10]}"
    owner_conn.execute(INSERT, (provider_id, name, f"Pinned {name}",
                                json.dumps({"endpoint": endpoint, "model": model})))
    try:
        yield provider_id, name
    finally:
        owner_conn.execute("delete from ai.providers where id = %s", (provider_id,))
