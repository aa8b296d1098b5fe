"""The demo shop's knowledge bases: `product-docs` and `faq` (the Markdown files beside this module),
which `chatbots/support-assistant` names. Loaded by `fluxbase setup` into the embedded database.

Idempotent: a base that exists is kept, and a document whose content is already in its base is not
added again (the content hash), so running setup again sends nothing new to the embeddings worker.
Documents are queued for the embeddings worker, which indexes them once it runs (`make run` starts it).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from app.db.connect import connect_owner
from app.jobs import make_celery
from app.knowledge import repository as repo
from app.knowledge.ingest import enqueue_document
from app.knowledge.records import LOCAL_DIMENSIONS, LOCAL_EMBEDDER, LOCAL_MODEL
from config import Settings

NAMESPACE = "default"   # where chatbots/ files without a namespace live
BASES = {
    "product-docs": "The demo shop's product documentation: coffee, brewing equipment, kitchen and tea",
    "faq": "The demo shop's frequently asked questions: shipping, returns, refunds, payment",
}
# Small chunks: each `##` section of these files is one answer, and a chunk of about one section
# scores higher against a question than one packing several (measured with the local model).
CHUNKING = {"chunk_size": 80, "chunk_overlap": 0, "chunking": "recursive"}


@dataclass(frozen=True)
class DemoKnowledge:
    created_bases: tuple[str, ...]
    queued: int        # documents sent to the embeddings worker
    unchanged: int     # documents already in their base

    def summary(self) -> str:
        bases = f"created {', '.join(self.created_bases)}; " if self.created_bases else ""
        return f"demo knowledge bases: {bases}{self.queued} documents queued, {self.unchanged} unchanged"


def demo_documents(base: str) -> list[tuple[str, str]]:
    """(title, Markdown) of a demo base's files, in name order; the title is the file's first heading."""
    folder = resources.files(__name__) / base
    docs = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            text = entry.read_text(encoding="utf-8")
            first = text.lstrip().splitlines()[0].lstrip("# ").strip()
            docs.append((first or entry.name, text))
    return docs


def load_demo_knowledge(settings: Settings) -> DemoKnowledge:
    created, queued, unchanged = [], [], 0
    with connect_owner(settings) as conn:
        conn.execute("select pg_advisory_xact_lock(4243)")   # two setups at once create each base once
        for name, description in BASES.items():
            kb = repo.find_kb(conn, NAMESPACE, name)
            if kb is None:
                kb = repo.create_kb(conn, namespace=NAMESPACE, name=name, description=description,
                                    embedder=LOCAL_EMBEDDER, model=LOCAL_MODEL, dimensions=LOCAL_DIMENSIONS,
                                    **CHUNKING)
                created.append(name)
            for title, text in demo_documents(name):
                doc, is_new = repo.add_document(conn, kb.id, title=title, content=text, source="markdown",
                                                metadata={"demo": True})
                if is_new:
                    queued.append(doc.id)
                else:
                    unchanged += 1
        conn.commit()
    if queued:
        celery = make_celery(settings)
        try:
            for doc_id in queued:
                enqueue_document(celery, doc_id)
        finally:
            celery.close()
    return DemoKnowledge(tuple(created), len(queued), unchanged)
