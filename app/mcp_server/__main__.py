"""`python -m app.mcp_server [--host H] [--port P]`: the Procfile's `mcp` process (uvicorn, asyncio)."""
from __future__ import annotations

import argparse

import uvicorn

from app.factory import configure_logging
from app.mcp_server.access_log import log_config
from app.mcp_server.server import build_app
from app.mcp_server.services import McpServices
from config import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m app.mcp_server", description="the Fluxbase MCP server")
    parser.add_argument("--host", default=settings.host, help=f"address to bind (default: HOST, {settings.host})")
    parser.add_argument("--port", type=int, default=settings.mcp_port,
                        help=f"port to bind (default: MCP_PORT, {settings.mcp_port})")
    args = parser.parse_args(argv)
    configure_logging(settings)
    services = McpServices(settings)
    try:
        uvicorn.run(build_app(services, args.host), host=args.host, port=args.port, log_config=log_config(),
                    log_level=settings.log_level.lower(), lifespan="on", server_header=False)
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
