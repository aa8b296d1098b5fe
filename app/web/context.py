"""The one typed way for web code to reach the process's shared objects (no string keys elsewhere)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from app.chat.hub import ChatHub
from app.metrics import NO_METRICS, Metrics
from app.providers.selection import ProviderClients
from app.runtime import Runtime
from config import Settings

_KEY = "fluxbase"


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    runtime: Runtime
    chat: ChatHub
    provider_probes: ProviderClients  # clients for the admin API's connection tests, kept per provider version
    metrics: Metrics = NO_METRICS  # what /metrics reads (app/web/metrics.py)


def install(app: Flask, context: WebContext) -> None:
    app.extensions[_KEY] = context


def web_context(app: Flask | None = None) -> WebContext:
    return (app or current_app).extensions[_KEY]
