"""Parsers for setting values; each raises ConfigurationError naming the setting."""
from __future__ import annotations

from urllib.parse import urlsplit

from app.sql.operations import OPERATIONS


class ConfigurationError(Exception):
    """A setting is missing or malformed; start-up stops with this message."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name} {problem}")


def parse_int(name: str, value: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(name, f"must be an integer (got {value!r})") from None
    if not lo <= number <= hi:
        raise ConfigurationError(name, f"must be between {lo} and {hi} (got {number})")
    return number


def parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(name, f"must be true or false (got {value!r})")


def parse_csv(_name: str, value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_operations(name: str, value: str) -> frozenset[str]:
    ops = {part.upper() for part in parse_csv(name, value)}
    unknown = ops - set(OPERATIONS)
    if unknown:
        raise ConfigurationError(name, f"has unknown operations {sorted(unknown)}; allowed: {', '.join(OPERATIONS)}")
    return frozenset(ops)


def parse_secret(name: str, value: str, minimum: int) -> str:
    if len(value.encode()) < minimum:
        raise ConfigurationError(name, f"must be at least {minimum} bytes (got {len(value.encode())})")
    return value


def parse_log_level(name: str, value: str) -> str:
    level = value.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigurationError(name, f"must be DEBUG, INFO, WARNING or ERROR (got {value!r})")
    return level


def parse_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ConfigurationError(name, f"is not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        raise ConfigurationError(name, f"must be a {'/'.join(schemes)} URL (got scheme {parts.scheme!r})")
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigurationError(name, "has no host")
    return value
