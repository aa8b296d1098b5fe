"""The connection test: one tiny request, the latency or the exact failure."""
from __future__ import annotations

import time
from dataclasses import dataclass

from app.protocol import Code
from app.providers.base import (
    CompletionOptions,
    ProviderAuthError,
    ProviderError,
    TextDelta,
)
from app.providers.registry import ClientLimits, build_provider
from app.providers.repository import ProviderRow
from app.providers.selection import ProviderChoice, ProviderClients
from config import Settings

_PROBE_TIMEOUT_SECONDS = 15.0
_PROBE = [{"role": "user", "content": "Reply with the single word: ok"}]


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    provider: str
    model: str
    latency_ms: float | None = None
    reply: str | None = None
    code: str | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None or key == "success"}


def probe_limits(settings: Settings) -> ClientLimits:
    """A test is an answer, so no retries (the admin sees the first failure), and at most 15 s."""
    return ClientLimits(min(float(settings.llm_timeout_seconds), _PROBE_TIMEOUT_SECONDS), 0)


def probe(settings: Settings, row: ProviderRow, config: dict[str, str],
          clients: ProviderClients | None = None) -> ProbeResult:
    """Streams a few tokens. `clients` keeps built clients across tests: building one costs about
    20 ms of CPU (its TLS context), which a web process's event loop would spend on every test."""
    if clients is not None:
        provider = clients.get(ProviderChoice(row, config))
    else:
        provider = build_provider(row.provider_type, config, probe_limits(settings), name=row.name)
    started = time.monotonic()
    stream = None
    try:
        stream = provider.stream(list(_PROBE), None, CompletionOptions(max_tokens=5))
        reply = "".join(piece.text for piece in stream if isinstance(piece, TextDelta))
    except ProviderAuthError:
        return ProbeResult(False, row.name, provider.model, code=Code.PROVIDER_AUTH_FAILED.value,
                           error="the provider rejected its credentials (401/403)")
    except ProviderError as exc:
        return ProbeResult(False, row.name, provider.model, code=Code.PROVIDER_ERROR.value, error=exc.detail)
    finally:
        if stream is not None:
            stream.close()
    return ProbeResult(True, row.name, provider.model, latency_ms=round((time.monotonic() - started) * 1000, 1),
                       reply=reply[:200])
