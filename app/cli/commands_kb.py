"""`fluxbase kb create | list | ingest | search | delete`: knowledge bases from the command line.

`ingest` adds each file as a document, sends it to the embeddings worker and follows the documents'
status with a progress bar (files and chunks) until each is indexed or failed, then prints a
summary. Ctrl-C stops the watching only: the worker goes on indexing what was sent.
"""
from __future__ import annotations

import stat
import time
from pathlib import Path

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from app.cli.console import make_console
from app.db.connect import connect_owner
from app.jobs import make_celery
from app.knowledge import documents as extraction
from app.knowledge import repository as repo
from app.knowledge import validation
from app.knowledge.embedders import embedder_for
from app.knowledge.ingest import enqueue_document
from app.knowledge.records import FAILED, INDEXED, KnowledgeBase

out = make_console()
POLL_SECONDS = 0.5


class KbError(Exception):
    """A mistake the user can fix; main prints it as one line and exits 1."""


def add_parsers(sub) -> None:
    p = sub.add_parser("kb", help="knowledge bases: create, list, ingest documents, search, delete")
    s = p.add_subparsers(dest="kb_command", required=True, metavar="ACTION")

    create = s.add_parser("create", help="create a knowledge base")
    create.add_argument("name")
    _namespace(create)
    create.add_argument("--description", default="")
    create.add_argument("--embedder", default="local", metavar="local|PROVIDER",
                        help="the local model (default) or a provider's name ('auto': the embeddings provider)")
    create.add_argument("--model", default=None, help="the provider's embedding model")
    create.add_argument("--dimensions", type=int, default=None, help="the model's vector size")
    create.add_argument("--chunk-size", type=int, default=None, metavar="TOKENS")
    create.add_argument("--chunk-overlap", type=int, default=None, metavar="TOKENS")
    create.add_argument("--chunking", default=None, help="recursive (default), paragraph, sentence or fixed")
    create.set_defaults(handler=cmd_create)

    listing = s.add_parser("list", help="list knowledge bases with their document and chunk counts")
    listing.add_argument("--namespace", default=None, metavar="N", help="only this namespace")
    listing.set_defaults(handler=cmd_list)

    ingest = s.add_parser("ingest", help="add files (text, Markdown, HTML, PDF) and wait for them to be indexed")
    ingest.add_argument("kb")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _namespace(ingest)
    ingest.add_argument("--owner", default=None, metavar="USER_ID", help="documents only this user may see")
    ingest.add_argument("--no-wait", action="store_true", help="send the documents and return at once")
    ingest.add_argument("--timeout", type=float, default=3600, metavar="S", help="stop watching after S seconds")
    ingest.set_defaults(handler=cmd_ingest)

    search = s.add_parser("search", help="the chunks most similar to a query")
    search.add_argument("kb")
    search.add_argument("query")
    _namespace(search)
    search.add_argument("--max-chunks", type=int, default=5)
    search.add_argument("--threshold", type=float, default=0.0)
    search.add_argument("--user", default=None, metavar="USER_ID", help="search as this user (their documents too)")
    search.set_defaults(handler=cmd_search)

    delete = s.add_parser("delete", help="delete a knowledge base with its documents")
    delete.add_argument("kb")
    _namespace(delete)
    delete.set_defaults(handler=cmd_delete)


def _namespace(parser) -> None:
    parser.add_argument("--namespace", default=validation.DEFAULT_NAMESPACE, metavar="N",
                        help=f"the base's namespace (default {validation.DEFAULT_NAMESPACE})")


# The API's field names as this command line spells them.
_FLAGS = {"name": "NAME", "kb": "KB", "embedding_model": "--model", "embedding_dimensions": "--dimensions",
          "chunk_strategy": "--chunking", "owner": "--owner/--user", "query": "QUERY"}


def _checked(call):
    try:
        return call()
    except validation.InvalidField as exc:
        flag = _FLAGS.get(exc.field, "--" + exc.field.replace("_", "-"))
        raise KbError(f"{flag}: {exc.message}") from None


def _find(conn, namespace: str, name: str) -> KnowledgeBase:
    kb = repo.find_kb(conn, namespace, name) or repo.get_kb(conn, name)
    if kb is None:
        raise KbError(f"no knowledge base {name} in namespace {namespace} (see `fluxbase kb list`)")
    return kb


def cmd_create(settings, args) -> int:
    body = {"name": args.name, "namespace": args.namespace, "description": args.description,
            "embedder": args.embedder, "embedding_model": args.model, "embedding_dimensions": args.dimensions}
    for key, value in (("chunk_size", args.chunk_size), ("chunk_overlap", args.chunk_overlap),
                       ("chunk_strategy", args.chunking)):
        if value is not None:
            body[key] = value
    values = _checked(lambda: validation.new_kb(body))
    with connect_owner(settings) as conn:
        _check_provider(conn, settings, values["embedder"])
        try:
            kb = repo.create_kb(conn, **values)
        except repo.KnowledgeBaseExists as exc:
            raise KbError(str(exc)) from None
    out.print(f"created knowledge base [bold]{escape(kb.namespace)}/{escape(kb.name)}[/] ({kb.id}): "
              f"{kb.embedder} {escape(kb.model)}, {kb.dimensions} dimensions, {kb.chunking} chunks of "
              f"{kb.chunk_size} tokens", highlight=False)
    return 0


def _check_provider(conn, settings, embedder: str) -> None:
    """A base naming a provider that does not exist would fail every document: refused now, as the API does."""
    if embedder in ("local", "auto"):
        return
    from app.providers import admin

    try:
        admin.get_provider(conn, settings, embedder)
    except admin.ProviderNotFound:
        raise KbError(f"--embedder: no provider named {embedder} (see `fluxbase providers list`)") from None


def cmd_list(settings, args) -> int:
    namespace = _checked(lambda: validation.name(args.namespace, "namespace")) if args.namespace else None
    with connect_owner(settings) as conn:
        bases = repo.list_kbs(conn, namespace)
    if not bases:
        out.print("no knowledge bases (create one with `fluxbase kb create NAME`)")
        return 0
    table = Table(title="knowledge bases")
    for column in ("namespace", "name", "embedder", "documents", "chunks", "chunking", "id"):
        table.add_column(column, no_wrap=column != "name")
    for kb in bases:
        table.add_row(escape(kb.namespace), escape(kb.name), escape(f"{kb.embedder} {kb.model} ({kb.dimensions})"),
                      str(kb.document_count), str(kb.chunk_count), f"{kb.chunking} {kb.chunk_size}/{kb.chunk_overlap}",
                      kb.id)
    out.print(table)
    return 0


def _read(path: Path) -> tuple[str, str]:
    try:
        # A FIFO or a device (/dev/stdin, /dev/zero) would block or fill memory: regular files only,
        # and their size is known before a byte is read.
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise extraction.BrokenDocument(f"{path} is not a regular file")
        if info.st_size > extraction.MAX_UPLOAD_BYTES:
            raise extraction.DocumentTooLarge(f"{path.name} is {info.st_size} bytes; "
                                              f"the limit is {extraction.MAX_UPLOAD_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise extraction.BrokenDocument(f"cannot read {path}: {exc.strerror or exc}") from None
    return extraction.extract_text(path.name, None, data)


def _files(paths: list[Path]) -> list[Path]:
    """The paths named, and every file under a named directory except hidden ones (.git, .env...):
    a chatbot quotes what it is given, so a directory's secrets must not ride along."""
    files = [p for p in paths if not p.is_dir()]
    for folder in (p for p in paths if p.is_dir()):
        files.extend(f for f in sorted(folder.rglob("*"))
                     if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts))
    return files


def cmd_ingest(settings, args) -> int:
    if not args.timeout > 0:
        raise KbError("--timeout: must be more than 0 seconds")
    files = _files(args.paths)
    if not files:
        raise KbError("no files to ingest (hidden files under a directory are skipped)")
    owner = _checked(lambda: validation.document_fields({"owner": args.owner})["owner_id"])
    rows: dict[str, dict] = {}   # document id -> summary row
    refused: list[tuple[str, str]] = []
    interrupted = False
    celery = make_celery(settings)
    try:
        with connect_owner(settings) as conn:
            kb = _find(conn, args.namespace, args.kb)
            for path in files:
                try:
                    text, source = _read(path)
                except extraction.DocumentError as exc:
                    refused.append((str(path), str(exc)))
                    continue
                doc, created = repo.add_document(conn, kb.id, title=path.stem.replace("-", " ").replace("_", " "),
                                                 content=text, source=source, owner_id=owner,
                                                 metadata={"path": str(path)})
                conn.commit()
                if created:
                    enqueue_document(celery, doc.id)
                rows[doc.id] = {"file": str(path), "status": doc.status, "chunks": doc.chunk_count,
                                "note": "" if created else "same content already there", "error": doc.error}
            if rows and not args.no_wait:
                try:
                    _watch(conn, kb, rows, args.timeout)
                except KeyboardInterrupt:
                    interrupted = True
                    out.print("[yellow]stopped watching; the embeddings worker goes on indexing[/]")
    finally:
        celery.close()
    _summary(rows, refused)
    if interrupted:
        return 130
    failed = refused or [r for r in rows.values() if r["status"] == FAILED]
    # Waited for and not finished (the --timeout ran out): not a success a script may build on.
    unfinished = not args.no_wait and [r for r in rows.values() if r["status"] not in (INDEXED, FAILED, "deleted")]
    if unfinished:
        out.print(f"[yellow]{len(unfinished)} files still being indexed after {args.timeout:g} s "
                  "(`fluxbase kb list` shows the counts)[/]", highlight=False)
    return 1 if failed or unfinished else 0


def _watch(conn, kb: KnowledgeBase, rows: dict[str, dict], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as progress:
        files = progress.add_task("files", total=len(rows))
        chunks = progress.add_task("chunks", total=None)
        while True:
            for doc_id in rows:
                doc = repo.get_document(conn, kb.id, doc_id)
                if doc is not None:
                    rows[doc_id].update(status=doc.status, chunks=doc.chunk_count, error=doc.error)
                else:
                    rows[doc_id].update(status="deleted")
            conn.commit()
            finished = [r for r in rows.values() if r["status"] in (INDEXED, FAILED, "deleted")]
            progress.update(files, completed=len(finished))
            done_chunks = sum(r["chunks"] for r in finished)
            progress.update(chunks, completed=done_chunks, total=max(done_chunks, 1) if len(finished) == len(rows)
                            else None)
            if len(finished) == len(rows) or time.monotonic() > deadline:
                return
            time.sleep(POLL_SECONDS)


def _summary(rows: dict[str, dict], refused: list[tuple[str, str]]) -> None:
    table = Table(title="ingestion")
    for column in ("file", "status", "chunks", "detail"):
        table.add_column(column, overflow="fold")
    styles = {INDEXED: "green", FAILED: "red"}
    for row in rows.values():
        style = styles.get(row["status"], "yellow")
        table.add_row(escape(row["file"]), f"[{style}]{row['status']}[/]", str(row["chunks"]),
                      escape(row["error"] or row["note"]))
    for path, reason in refused:
        table.add_row(escape(path), "[red]refused[/]", "0", escape(reason))
    out.print(table)
    indexed = sum(1 for r in rows.values() if r["status"] == INDEXED)
    out.print(f"{indexed} of {len(rows) + len(refused)} files indexed, "
              f"{sum(r['chunks'] for r in rows.values())} chunks", highlight=False)


def cmd_search(settings, args) -> int:
    query, limit, threshold = _checked(lambda: validation.search_request(
        {"query": args.query, "max_chunks": args.max_chunks, "threshold": args.threshold}))
    user = _checked(lambda: validation.document_fields({"owner": args.user})["owner_id"])
    with connect_owner(settings) as conn:
        kb = _find(conn, args.namespace, args.kb)
        vector = embedder_for(conn, settings, kb).embed([query])[0]
        hits = repo.search(conn, kb, vector, user_id=user, limit=limit, threshold=threshold)
    if not hits:
        out.print(f"no chunks at or above similarity {threshold}")
        return 0
    table = Table(title=f"{kb.name}: {query}")
    for column in ("similarity", "document", "chunk"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        table.add_row(f"{hit.similarity:.3f}", escape(hit.title), escape(hit.content))
    out.print(table)
    return 0


def cmd_delete(settings, args) -> int:
    with connect_owner(settings) as conn:
        kb = _find(conn, args.namespace, args.kb)
        repo.delete_kb(conn, kb.id)
    out.print(f"deleted knowledge base {escape(kb.namespace)}/{escape(kb.name)} "
              f"({kb.document_count} documents, {kb.chunk_count} chunks)", highlight=False)
    return 0
