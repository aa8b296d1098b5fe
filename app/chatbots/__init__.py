"""Chatbot definitions: find `index.ts` files, parse them (never run them) into a frozen spec.

    discovery.discover_chatbots(root) -> [ChatbotSource]   files on disk
    spec.parse_chatbot(code, name=..., namespace=...)       -> ChatbotSpec
    annotations.validate_config(partial)                   REST `config` input
    spec.effective_config(config, ServerPolicy(...))        narrowed to what the server allows
"""

from app.chatbots.annotations import (
    CONFIG_KEYS,
    ConfigError,
    default_config,
    validate_config,
)
from app.chatbots.discovery import (
    ChatbotSource,
    DiscoveryError,
    ScanResult,
    discover_chatbots,
    scan_chatbots,
)
from app.chatbots.spec import (
    ChatbotSpec,
    ServerPolicy,
    effective_config,
    is_valid_name,
    parse_chatbot,
    select_tools,
)
from app.chatbots.tsparse import ChatbotDefinitionError

__all__ = [
    "CONFIG_KEYS",
    "ChatbotDefinitionError",
    "ChatbotSource",
    "ChatbotSpec",
    "ConfigError",
    "DiscoveryError",
    "ScanResult",
    "ServerPolicy",
    "default_config",
    "discover_chatbots",
    "effective_config",
    "is_valid_name",
    "parse_chatbot",
    "scan_chatbots",
    "select_tools",
    "validate_config",
]
