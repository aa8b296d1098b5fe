"""First run: with no provider anywhere, a local Ollama server that answers becomes the default.

`fluxbase setup` (run by `make run`) calls this; it never overrides a provider an admin chose and
makes no request when one is configured. It reports one line either way.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import psycopg

from app.providers import admin
from app.providers import repository as repo
from app.providers.config_fields import ProviderConfigError
from config import Settings

_PROBE_SECONDS = 2.0
ADD_A_PROVIDER = ("no AI provider: set OPENAI_API_KEY (any OpenAI-compatible server with OPENAI_BASE_URL), or add "
                  "one: `fluxbase providers add NAME --type azure|ollama|openai ...` (docs/providers.md)")
# Ollama lists embedding models beside chat models; these cannot answer a chat.
_EMBEDDING_FAMILIES = {"bert", "nomic-bert", "jina-bert"}


def ollama_endpoint(host: str | None) -> str:
    """Ollama's own OLLAMA_HOST forms: `host`, `host:port`, or a URL; 0.0.0.0 means this machine."""
    value = (host or "127.0.0.1:11434").strip()
    if "://" not in value:
        value = f"http://{value}"
    parts = urlsplit(value)
    hostname = parts.hostname or "127.0.0.1"
    if hostname in ("0.0.0.0", "::"):
        hostname = "127.0.0.1"
    port = parts.port or 11434
    netloc = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"
    return f"{parts.scheme}://{netloc}"


def _models(endpoint: str) -> list[dict] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/api/tags", timeout=_PROBE_SECONDS) as response:
            body = json.loads(response.read(1_000_000))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    models = body.get("models") if isinstance(body, dict) else None
    return [m for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)] if isinstance(models, list) \
        else None


def _is_embedding_model(model: dict) -> bool:
    details = model.get("details") if isinstance(model.get("details"), dict) else {}
    return "embed" in model["name"] or details.get("family") in _EMBEDDING_FAMILIES


def ensure_provider(conn: psycopg.Connection, settings: Settings) -> str:
    """Registers a local Ollama as the default if nothing is configured; says what happened."""
    if settings.openai_api_key:
        return f"provider: from the environment ({settings.openai_model} at {settings.openai_base_url})"
    rows = repo.list_all(conn)
    if rows:
        default = next((r for r in rows if r.is_default), rows[0])
        return f"providers: {len(rows)} configured, default {default.name} ({default.provider_type})"
    endpoint = ollama_endpoint(settings.ollama_host)
    models = _models(endpoint)
    if models is None:
        return ADD_A_PROVIDER
    chat = [m["name"] for m in models if not _is_embedding_model(m)]
    embedding = [m["name"] for m in models if _is_embedding_model(m)]
    if not chat:
        return (f"the Ollama server at {endpoint} has no chat model: `ollama pull llama3.2`, then run this again; "
                f"or {ADD_A_PROVIDER[len('no AI provider: '):]}")
    try:
        admin.create(conn, repo.key_box(settings.encryption_key), admin.NewProvider(
            name="ollama", provider_type="ollama", display_name="Ollama (found on first run)",
            config={"endpoint": endpoint, "model": chat[0]}, is_default=True,
            embedding_model=embedding[0] if embedding else None))
    except (ProviderConfigError, admin.ProviderNameTaken) as exc:
        return f"found Ollama at {endpoint} but could not register it: {exc}"
    conn.commit()
    return (f"provider: registered the Ollama server at {endpoint} as the default, with chat model {chat[0]}"
            f" (of {len(chat)}); change it with `fluxbase providers ...`" + (
                f"; embedding model {embedding[0]}" if embedding else ""))
