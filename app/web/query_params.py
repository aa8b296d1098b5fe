"""Query-string parameters of the admin list endpoints, checked strictly: anything malformed is a
400 INVALID_REQUEST naming the parameter (`field`), never a 500 or a silently ignored filter.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from werkzeug.datastructures import MultiDict

from app.protocol import Code, ProtocolError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000   # well inside PostgreSQL's bigint; beyond it nothing is there anyway

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"\d{1,10}")
_ANONYMOUS = "anonymous"


def invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(Code.INVALID_REQUEST, f"{field}: {message}", field=field)


@dataclass(frozen=True)
class Moment:
    """A `since`/`until` value: a UTC day (YYYY-MM-DD) or an instant (ISO 8601; no offset means UTC)."""

    at: datetime        # the instant, or the start of the day, in UTC
    whole_day: bool

    @property
    def day(self) -> date:
        return self.at.date()

    def end(self) -> datetime | None:
        """The first instant after this bound, for an inclusive `until`; None past the calendar's end."""
        try:
            return self.at + (timedelta(days=1) if self.whole_day else timedelta(microseconds=1))
        except OverflowError:
            return None


class QueryParams:
    """The request's query string, allowed names only, each given at most once."""

    def __init__(self, args: MultiDict, allowed: Iterable[str]):
        allowed = tuple(allowed)
        unknown = sorted(name for name in args if name not in allowed)
        if unknown:
            shown = ", ".join(name[:40] for name in unknown[:5])
            raise ProtocolError(Code.INVALID_REQUEST, f"unknown parameter(s): {shown} (allowed: {', '.join(allowed)})",
                                field=unknown[0][:40])
        for name in args:
            if len(args.getlist(name)) > 1:
                raise invalid(name, "given more than once")
        self._args = args

    def text(self, name: str) -> str | None:
        value = self._args.get(name)
        return value if value else None

    def uuid(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise invalid(name, "must be a UUID") from None

    def user(self, name: str = "user_id") -> str | None:
        """A user id, or `anonymous` for callers without one."""
        value = self.text(name)
        if value is not None and value.lower() == _ANONYMOUS:
            return _ANONYMOUS
        return self.uuid(name)

    def moment(self, name: str) -> Moment | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            if _DATE.fullmatch(value):
                return Moment(datetime.combine(date.fromisoformat(value), time(), UTC), True)
            at = datetime.fromisoformat(value)
            return Moment(at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC), False)
        except (ValueError, OverflowError):
            raise invalid(name, "must be a date (YYYY-MM-DD) or an ISO 8601 timestamp") from None

    def span(self) -> tuple[Moment | None, Moment | None]:
        since, until = self.moment("since"), self.moment("until")
        if since and until and since.at > until.at:
            raise invalid("since", "is after until")
        return since, until

    def choice(self, name: str, allowed: Iterable[str]) -> tuple[str, ...] | None:
        """One value or a comma list of them."""
        value = self.text(name)
        if value is None:
            return None
        allowed = tuple(allowed)
        chosen = tuple(dict.fromkeys(part.strip() for part in value.split(",")))
        wrong = [part for part in chosen if part not in allowed]
        if wrong or not chosen:
            raise invalid(name, f"must be one of {', '.join(allowed)} (or a comma list of them)")
        return chosen

    def flag(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value.lower() not in ("true", "false"):
            raise invalid(name, "must be true or false")
        return value.lower() == "true"

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise invalid(name, f"must be a whole number from {low} to {high}")
        return int(value)

    def page(self) -> tuple[int, int]:
        return (self.integer("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
                self.integer("offset", 0, low=0, high=MAX_OFFSET))
