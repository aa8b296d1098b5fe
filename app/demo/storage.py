"""The demo's storage bucket: `reports`, private, where each user keeps the files a chatbot writes
for them. Created by `fluxbase setup` beside the demo shop; an existing bucket is left as it is."""
from __future__ import annotations

from app.db.connect import connect_owner
from app.storage import repository as repo
from config import Settings

DEMO_BUCKETS = {"reports": "private"}


def ensure_demo_buckets(settings: Settings) -> tuple[str, ...]:
    """The demo buckets this call created (none when they all existed)."""
    created = []
    with connect_owner(settings) as conn:
        for name, policy in DEMO_BUCKETS.items():
            if repo.create_bucket(conn, name, policy) is not None:
                created.append(name)
        conn.commit()
    return tuple(created)
