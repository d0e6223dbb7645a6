"""Query parameters, checked by hand so that a form's empty fields mean "not set" and every
mistake comes back as a 400 with a message that says what to write instead."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from callscope.keywords.index import SORTS, SearchFilters
from callscope.storage.schemas import SPEAKERS
from callscope.web.errors import BadRequest
from starlette.datastructures import QueryParams

MAX_LIMIT = 100
MAX_TEXT = 500


def one(params: QueryParams | Mapping, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise BadRequest(f"{name} is too long (at most {MAX_TEXT} characters)")
    return value or None


def many(params: QueryParams, name: str) -> list[str]:
    values = [v.strip() for v in params.getlist(name) for v in v.split(",")]
    if any(len(v) > MAX_TEXT for v in values):
        raise BadRequest(f"{name} is too long")
    return list(dict.fromkeys(v for v in values if v))


def date(params, name: str) -> dt.date | None:
    value = one(params, name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def number(params, name: str, low: float, high: float) -> float | None:
    value = one(params, name)
    if value is None:
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a number") from None
    if not math.isfinite(parsed) or not low <= parsed <= high:
        raise BadRequest(f"{name}={value!r} must be between {low:g} and {high:g}")
    return parsed


def integer(params, name: str, default: int, low: int, high: int) -> int:
    value = one(params, name)
    if value is None:
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a whole number") from None
    if not low <= parsed <= high:
        raise BadRequest(f"{name}={value!r} must be between {low} and {high}")
    return parsed


def choice(params, name: str, options: tuple[str, ...], default: str) -> str:
    value = one(params, name) or default
    if value not in options:
        raise BadRequest(f"{name}={value!r} is not one of {', '.join(options)}")
    return value


@dataclass
class SearchParams:
    query: str | None
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: str = "relevance"
    page: int = 1
    limit: int = 20

    def as_query(self) -> dict:
        """The parameters as a saved query keeps them (and as a URL gives them back)."""
        f = self.filters
        out = {
            "q": self.query,
            "from": f.date_from.isoformat() if f.date_from else None,
            "to": f.date_to.isoformat() if f.date_to else None,
            "speaker": f.speakers,
            "agent": f.agents,
            "queue": f.queues,
            "category": f.categories,
            "sentiment_min": f.sentiment_min,
            "sentiment_max": f.sentiment_max,
            "sort": self.sort if self.sort != "relevance" else None,
        }
        return {key: value for key, value in out.items() if value not in (None, [])}


def search_params(params: QueryParams, page_size: int) -> SearchParams:
    """The `callscope search` options as query parameters: q, from, to, speaker, agent, queue,
    category (each may repeat), sentiment_min, sentiment_max, sort, page, limit."""
    speakers = many(params, "speaker")
    bad = [s for s in speakers if s not in SPEAKERS]
    if bad:
        raise BadRequest(f"speaker={bad[0]!r} is not one of {', '.join(SPEAKERS)}")
    filters = SearchFilters(
        date_from=date(params, "from"),
        date_to=date(params, "to"),
        agents=many(params, "agent"),
        queues=many(params, "queue"),
        speakers=speakers,
        categories=many(params, "category"),
        sentiment_min=number(params, "sentiment_min", -5, 5),
        sentiment_max=number(params, "sentiment_max", -5, 5),
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise BadRequest(f"from={filters.date_from} is after to={filters.date_to}")
    if (
        filters.sentiment_min is not None
        and filters.sentiment_max is not None
        and filters.sentiment_min > filters.sentiment_max
    ):
        raise BadRequest("sentiment_min is above sentiment_max")
    return SearchParams(
        query=one(params, "q"),
        filters=filters,
        sort=choice(params, "sort", SORTS, "relevance"),
        page=integer(params, "page", 1, 1, 1000),
        limit=integer(params, "limit", page_size, 1, MAX_LIMIT),
    )
