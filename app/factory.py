"""create_app(settings): the Flask application with its blueprints."""
from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.chat.hub import ChatHub
from app.log_json import ContextFilter, JsonFormatter
from app.metrics import NO_METRICS, Metrics
from app.providers.probe import probe_limits
from app.providers.selection import ProviderClients
from app.runtime import Runtime
from app.secrets.scrub import install_log_scrubbing
from app.web import (
    chatbots_admin,
    chatbots_public,
    conversations_admin,
    conversations_public,
    cors,
    errors,
    health,
    knowledge_admin,
    playground,
    providers_admin,
    settings_admin,
    settings_public,
    usage_admin,
    ws,
)
from app.web import metrics as metrics_endpoint
from app.web.context import WebContext, install, web_context
from config import Settings

# At DEBUG these log every request's options, headers included: an Azure `api-key` among them.
_CHATTY_CLIENT_LOGGERS = ("openai", "httpx", "httpcore")


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())  # the turn's and socket's ids (app/log_context.py)
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    for name in _CHATTY_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).getEffectiveLevel()))
    # Secret values a turn (or a settings request) holds never reach a log line (app/secrets/scrub.py).
    install_log_scrubbing()


# A request must not wait without end behind a lock someone holds on the server's tables (an admin
# session, a migration): past these it is answered SERVICE_UNAVAILABLE.
WEB_DB_SESSION = "-c lock_timeout=5s -c statement_timeout=30s"


def create_app(settings: Settings, runtime: Runtime | None = None, metrics: Metrics = NO_METRICS) -> Flask:
    app = Flask(__name__)
    if settings.proxy_depth:
        # Only as many hops as are trusted: a client can write any X-Forwarded-For it likes.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_depth, x_proto=settings.proxy_depth)
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    app.json.sort_keys = False
    runtime = runtime or Runtime(settings, client_name="fluxbase-web", db_session_options=WEB_DB_SESSION,
                                 db_fail_fast=True)
    install(app, WebContext(settings=settings, runtime=runtime, chat=ChatHub(runtime, metrics),
                            provider_probes=ProviderClients(probe_limits(settings)), metrics=metrics))

    errors.init_app(app)
    cors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_endpoint.bp)
    app.register_blueprint(chatbots_public.bp)
    app.register_blueprint(chatbots_admin.bp)
    app.register_blueprint(providers_admin.bp)
    app.register_blueprint(knowledge_admin.bp)
    app.register_blueprint(conversations_public.bp)
    app.register_blueprint(conversations_admin.bp)
    app.register_blueprint(usage_admin.bp)
    app.register_blueprint(settings_public.bp)
    app.register_blueprint(settings_admin.bp)
    app.register_blueprint(playground.bp)
    ws.init_app(app)
    return app


def close_app(app: Flask) -> None:
    """Before interpreter teardown: pool and relay threads are greenlets that cannot be joined later."""
    context = web_context(app)
    context.chat.close()
    context.runtime.close()
