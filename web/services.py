"""What each page and API answer shows, as plain dicts, with the role's rules applied:
marketing gets redacted text, no agent ids and no audio. Pages and the JSON API call the same
functions, so they always agree."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import pyarrow as pa
import pyarrow.compute as pc
from callscope.asr.metrics import count_units
from callscope.core.config import Settings
from callscope.core.errors import PartitionUnreadable
from callscope.core.links import call_url
from callscope.core.logs import get_logger
from callscope.emotion.trends import BY, ROLES, load_trends
from callscope.incidents.report import public_rows
from callscope.keywords.index import SearchIndex, SearchIndexError, open_index
from callscope.keywords.query import QueryError, highlight_spans, parse
from callscope.privacy.redact import KINDS as REDACTED_KINDS
from callscope.privacy.redact import redact
from callscope.storage.schemas import TABLES
from callscope.web import params as P
from callscope.web.auth import LoginThrottle, SessionSigner, User, UserStore
from callscope.web.data import LRU, AudioUnavailable, WarehouseView
from callscope.web.errors import BadRequest, Forbidden, NotFound, Unavailable
from callscope.web.metrics import WebMetrics
from callscope.web.saved import SavedQueries

if TYPE_CHECKING:
    from callscope.web.export import ExportLog

logger = get_logger(__name__)

TREND_CALLS_LIMIT = 200
CALLS_PAGE = 100  # calls per page of a day's or an agent's calls
CALLS_MAX_LIMIT = 1000
AGENT_DAYS = 31  # an agent's calls: the days shown unless `from` says otherwise
MAX_PERIOD_DAYS = 366
# the calls table's columns a list of calls shows (handle time, talk, silence, overtalk,
# interruptions, emotion, escalation, categories), in this order
CALL_LIST_COLUMNS = (
    "call_id", "date", "started_at", "duration_s", "queue", "agent_id", "direction",
    "customer_tier", "language", "status", "n_segments", "talk_time_agent_s",
    "talk_time_customer_s", "hold_s", "silence_ratio", "non_talk_ratio", "longest_silence_s",
    "overtalk_s", "interruptions_agent", "interruptions_customer", "time_to_first_agent_s",
    "categories", "complaint_class", "customer_sentiment", "customer_sentiment_start",
    "customer_sentiment_end", "agent_sentiment", "customer_emotion", "escalation_risk",
    "escalation_risk_score", "escalation_reasons",
)  # fmt: skip
_LIST_READ = [*CALL_LIST_COLUMNS, "source_uri"]
_DRAW_LOCK = threading.Lock()  # matplotlib's pyplot is not thread-safe
SAVED_DAYS = 14
SAVED_CALL_HITS = 200


@dataclass
class Context:
    """Everything a request needs, built once per app."""

    settings: Settings
    view: WarehouseView
    users: UserStore
    signer: SessionSigner
    throttle: LoginThrottle
    saved: SavedQueries
    category_labels: dict[str, str] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _cache: LRU = field(default_factory=lambda: LRU(64))
    _calls: LRU = field(default_factory=lambda: LRU(4))  # days of calls that lists read
    export_log: ExportLog | None = None  # web/export.py opens it at the first export
    metrics: WebMetrics = field(default_factory=WebMetrics)

    def index(self) -> SearchIndex:
        """This thread's connection to the search index (SQLite connections stay in their
        thread)."""
        index = getattr(self._local, "index", None)
        if index is None:
            try:
                index = open_index(self.settings, create=False)
            except SearchIndexError as exc:
                raise Unavailable(str(exc)) from exc
            self._local.index = index
        return index


# search ----------------------------------------------------------------------------------
def search(ctx: Context, user: User, sp: P.SearchParams) -> dict:
    check_search(user, sp)
    out = search_page(ctx, user, sp, sp.limit, (sp.page - 1) * sp.limit)
    out["page"] = sp.page
    out["pages"] = max(1, -(-out["total"] // sp.limit))
    return out


def check_search(user: User, sp: P.SearchParams) -> None:
    if not sp.query:
        raise BadRequest("q is required: type a word, e.g. 退款")
    if sp.filters.agents and not user.sees_agents:
        raise Forbidden("agent filters are not available to the marketing role")


def search_page(ctx: Context, user: User, sp: P.SearchParams, limit: int, offset: int) -> dict:
    """`limit` hits of the search from `offset` on, as the role may see them (the search page
    and API show one page of these; an export walks them all)."""
    with _search_errors(), ctx.metrics.searches.time():
        result = ctx.index().search(
            sp.query,
            sp.filters,
            limit=limit,
            offset=offset,
            sort=sp.sort,
            rank_window=ctx.settings.search.rank_window,
            context=ctx.settings.search.context_segments,
            redacted=not user.sees_personal_data,
        )
    out = result.as_dict()
    for hit in out["hits"]:
        if not user.sees_agents:
            hit["agent_id"] = None
        hit["url"] = call_url(hit["call_id"], hit["date"], hit["start_s"], seg=hit["idx"])
    out["redacted"] = not user.sees_personal_data
    _incomplete(out)
    return out


def search_total(ctx: Context, user: User, sp: P.SearchParams, first: dict) -> int:
    """How many hits the search has in all: the total of its first page, counted exactly
    (day by day) where that page gives only a lower bound."""
    if not first["total_is_lower_bound"]:
        return first["total"]
    with _search_errors():
        counts = ctx.index().day_counts(sp.query, sp.filters, redacted=not user.sees_personal_data)
    return max(first["total"], sum(counts.values()))


def _incomplete(out: dict) -> None:
    """Shards a shard host could not answer for, named by their keys alone: which host and
    why is for the server log (where the index logged it), not for every role's page."""
    keys = sorted({shard["key"] for shard in out.get("missing_shards") or []})
    out["missing_shards"] = [{"key": key} for key in keys]
    out["warnings"] = (
        [
            f"Results incomplete: the shards of {', '.join(keys)} did not answer and are left "
            "out; the server log names their host. Try again in a minute."
        ]
        if keys
        else []
    )


@contextmanager
def _search_errors() -> Iterator[None]:
    """A query the index cannot run is a bad request; an index that cannot be read (full disk,
    locked, damaged) is unavailable, with what is wrong."""
    try:
        yield
    except QueryError as exc:
        raise BadRequest(str(exc)) from exc
    except SearchIndexError as exc:
        logger.error("search index: %s", exc)
        raise Unavailable(str(exc)) from exc


def facets(ctx: Context, user: User) -> dict:
    found = ctx.view.facets()
    return {
        "queues": found["queues"],
        "agents": found["agents"] if user.sees_agents else [],
        "categories": [
            {"name": name, "label": label} for name, label in ctx.category_labels.items()
        ],
        "speakers": ["agent", "customer", "ivr", "unknown"],
        "days": [day.isoformat() for day in ctx.view.days()],
    }


# calls -----------------------------------------------------------------------------------
def call_detail(
    ctx: Context, user: User, call_id: str, hint: dt.date | None, query: str | None = None
) -> dict:
    """A call as the role may see it: its facts and conversation metrics, its segments (with
    the terms of `query` marked in the text shown), its talk lanes and sentiment line."""
    day = ctx.view.call_day(call_id, hint)
    call = ctx.view.call(call_id, day) if day else None
    if call is None:
        raise NotFound(f"no call {call_id!r} in the warehouse")
    segments = ctx.view.segments(call_id, day)
    hits = ctx.view.keyword_hits(call_id, day)
    exact: dict[int, dict[str, bool]] = {}
    for hit in hits:  # a category heard only by sound in a segment is marked so
        by_category = exact.setdefault(hit["idx"], {})
        seen = by_category.get(hit["category"], False)
        by_category[hit["category"]] = seen or hit.get("match") != "sounds_like"
    tags = {
        idx: [name if was_exact else f"{name} (sounds like)" for name, was_exact in cats.items()]
        for idx, cats in exact.items()
    }
    patterns = _query_patterns(ctx, query)
    shown = [_segment(seg, tags.get(seg["idx"], []), user, patterns) for seg in segments]
    audio = user.hears_audio and ctx.view.has_audio(call)
    info = {k: _plain(v) for k, v in call.items() if k not in ("source_uri", "audio_sha256")}
    if not user.sees_agents:
        info.pop("agent_id", None)
    info["category_labels"] = {n: ctx.category_labels.get(n, n) for n in call["categories"] or []}
    return {
        "call": info,
        "segments": shown,
        "audio_url": f"/api/calls/{quote(call_id, safe='')}/audio" if audio else None,
        "redacted": not user.sees_personal_data,
        "metrics": call_metrics(call, segments),
        "timeline": timeline(call, shown),
        "query": query or None,
        "marked": [s["idx"] for s in shown if s["marks"]],
    }


def _segment(seg: dict, tags: list[str], user: User, patterns: list | None = None) -> dict:
    text = seg["text"] or ""
    if not user.sees_personal_data:  # the stored redaction, checked again by today's rules
        stored = seg["text_redacted"]
        text = redact(stored if stored is not None else text)[0]
    return {
        "idx": seg["idx"],
        "start_s": _plain(seg["start_s"]),
        "end_s": _plain(seg["end_s"]),
        "speaker": seg["speaker"] or "unknown",
        "overlap": bool(seg["overlap"]),
        "text": text,
        "sentiment": _plain(seg["sentiment"]),
        "emotion": seg["emotion"],
        "categories": tags,
        "marks": _marks(text, patterns or []),
    }


# a call's metrics, lanes and sentiment line; the query's terms in its text
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(REDACTED_KINDS) + r")\]")
# the stored conversation and emotion metrics of a call (storage/schemas.py CALLS), in the
# order the call page shows them
CALL_METRICS = (
    "duration_s", "talk_time_agent_s", "talk_time_customer_s", "silence_ratio",
    "non_talk_ratio", "overtalk_s", "interruptions_agent", "interruptions_customer", "hold_s",
    "ivr_s", "speech_rate_agent", "speech_rate_customer", "customer_sentiment_start",
    "customer_sentiment_end", "customer_sentiment", "escalation_risk", "escalation_risk_score",
    "customer_emotion",
)  # fmt: skip
LANES = ("agent", "customer", "other")


def _query_patterns(ctx: Context, query: str | None) -> list:
    """What the search highlights for `query` (its positive terms; `~term` by sound); none
    for a query the search would refuse."""
    if not query:
        return []
    try:
        return parse(query, ctx.settings.keywords.sounds_like.confusion_set).highlights
    except QueryError:
        return []


def _marks(text: str, patterns: list) -> list[tuple[int, int]]:
    """Spans of `text` the query matches, none inside a redaction placeholder ([phone])."""
    if not patterns or not text:
        return []
    held = [m.span() for m in _PLACEHOLDER.finditer(text)]
    return [
        (start, end)
        for start, end in highlight_spans(text, patterns)
        if not any(start < p_end and p_start < end for p_start, p_end in held)
    ]


def call_metrics(call: dict, segments: list[dict]) -> dict:
    """The call's metrics (None where the night stored none); speech rates are counted from
    the segments where the calls table has none, in characters (Chinese) or words a minute."""
    metrics = {name: _plain(call.get(name)) for name in CALL_METRICS}
    for speaker in ("agent", "customer"):
        key = f"speech_rate_{speaker}"
        if metrics[key] is None:
            metrics[key] = speech_rate(segments, speaker, call.get("language"))
    metrics["speech_rate_unit"] = "characters" if _chinese(call, segments) else "words"
    return metrics


def speech_rate(segments: list[dict], speaker: str, language: str | None) -> float | None:
    """Characters (Chinese) or words a minute of `speaker`'s segments; None without talk."""
    own = [s for s in segments if s["speaker"] == speaker and s["end_s"] is not None]
    talk_s = sum(max(s["end_s"] - (s["start_s"] or 0.0), 0.0) for s in own)
    if talk_s <= 0:
        return None
    units = sum(count_units(s["text"] or "", s.get("language") or language) for s in own)
    return round(units / (talk_s / 60.0), 1)


def _chinese(call: dict, segments: list[dict]) -> bool:
    language = call.get("language") or next((s.get("language") for s in segments), None)
    return (language or "").lower().startswith("zh")


def timeline(call: dict, shown: list[dict]) -> dict:
    """Talk lanes (agent, customer, other: a block per segment) and the sentiment line over
    the call's duration: per segment where the segments have sentiment, else the customer's
    start and end."""
    ends = [s["end_s"] for s in shown if s["end_s"] is not None]
    duration = max([call.get("duration_s") or 0.0, *ends]) or 1.0
    lanes = [
        {"speaker": lane, "blocks": [_block(s) for s in shown if _lane(s["speaker"]) == lane]}
        for lane in LANES
    ]
    return {
        "duration_s": round(duration, 3),
        "lanes": [lane for lane in lanes if lane["blocks"] or lane["speaker"] != "other"],
        "sentiment": _sentiment_line(call, shown, duration),
    }


def _lane(speaker: str) -> str:
    return speaker if speaker in ("agent", "customer") else "other"


def _block(seg: dict) -> dict:
    start = seg["start_s"] or 0.0
    end = seg["end_s"] if seg["end_s"] is not None else start
    keys = ("idx", "speaker", "sentiment", "emotion")
    return {k: seg[k] for k in keys} | {
        "start_s": start,
        "end_s": end,
        "marked": bool(seg["marks"]),
    }


def _sentiment_line(call: dict, shown: list[dict], duration: float) -> dict:
    """Per speaker, (second, sentiment) points: each segment's sentiment held over it."""
    lines = {}
    for speaker in ("customer", "agent"):
        points = [
            point
            for s in shown
            if s["speaker"] == speaker and s["sentiment"] is not None
            for point in ((s["start_s"], s["sentiment"]), (s["end_s"], s["sentiment"]))
        ]
        if points:
            lines[speaker] = points
    if lines:
        return {"source": "segments", "lines": lines}
    start, end = call.get("customer_sentiment_start"), call.get("customer_sentiment_end")
    if start is None or end is None:
        return {"source": None, "lines": {}}
    ends = [(0.0, _plain(start)), (round(duration, 3), _plain(end))]
    return {"source": "call", "lines": {"customer": ends}}


def audio_file(ctx: Context, user: User, call_id: str, hint: dt.date | None) -> Path:
    if not user.hears_audio:
        raise Forbidden("audio is not available to the marketing role")
    day = ctx.view.call_day(call_id, hint)
    call = ctx.view.call(call_id, day) if day else None
    if call is None:
        raise NotFound(f"no call {call_id!r} in the warehouse")
    try:
        return ctx.view.audio_file(call)
    except AudioUnavailable as exc:
        raise (Forbidden if exc.forbidden else NotFound)(exc.message) from None


# lists of calls --------------------------------------------------------------------------
def day_calls(ctx: Context, user: User, params) -> dict:
    """One day's calls with their metrics, in the order they started, a page at a time:
    `date` (default: the newest day), `queue`, `category` and `agent` (each may repeat; agent
    not for marketing)."""
    day, table = calls_of_day(ctx, user, params)
    return {"date": day.isoformat() if day else None} | _calls_page(table, user, params)


def agent_calls(ctx: Context, user: User, agent_id: str, params) -> dict:
    """One agent's calls over `from`..`to` (default: the newest day's last 31 days), for
    supervisors alone."""
    table, start, end = calls_of_agent(ctx, user, agent_id, params)
    period = {"agent_id": agent_id, "from": start.isoformat(), "to": end.isoformat()}
    return period | _calls_page(table, user, params)


def calls_of_day(ctx: Context, user: User, params) -> tuple[dt.date | None, pa.Table]:
    """The day and its calls the list shows, filtered and in order (an export turns them into
    rows with `call_row`, as the API does)."""
    if P.many(params, "agent") and not user.sees_agents:
        raise Forbidden("agent filters are not available to the marketing role")
    days = ctx.view.days()
    day = P.date(params, "date") or (days[-1] if days else None)
    if day is None:
        return None, _no_calls()
    if day not in days:
        raise NotFound(f"no calls on {day}; days with calls: {_span(days)}")
    table = _calls_read(ctx, day)
    return day, _in_order(table.filter(_list_mask(table, params)))


def calls_of_agent(
    ctx: Context, user: User, agent_id: str, params
) -> tuple[pa.Table, dt.date, dt.date]:
    """One agent's calls over the period, filtered and in order, with the period."""
    if user.role != "supervisor":
        raise Forbidden(f"an agent's calls are for supervisors, not the {user.role} role")
    agent_id = P.one({"agent": agent_id}, "agent")
    if not agent_id:
        raise BadRequest("name the agent: /api/agents/<agent id>/calls")
    start, end = _period(ctx, params)
    days = [day for day in ctx.view.days() if start <= day <= end]
    tables = [_one_agent(_calls_read(ctx, day), agent_id) for day in days]
    table = pa.concat_tables(tables) if tables else _no_calls()
    return _in_order(table.filter(_list_mask(table, params))), start, end


def _period(ctx: Context, params) -> tuple[dt.date, dt.date]:
    end = P.date(params, "to") or _newest_day(ctx) or dt.date.today()
    start = P.date(params, "from") or end - dt.timedelta(days=AGENT_DAYS - 1)
    if start > end:
        raise BadRequest(f"from={start} is after to={end}")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise BadRequest(f"from..to spans more than {MAX_PERIOD_DAYS} days; ask for less")
    return start, end


def _newest_day(ctx: Context) -> dt.date | None:
    days = ctx.view.days()
    return days[-1] if days else None


def _calls_read(ctx: Context, day: dt.date) -> pa.Table:
    """The day's calls, the columns a list shows (the last days read are kept)."""
    stamp = ctx.view.stamp("calls", day)
    return ctx._calls.get(day, stamp, lambda: ctx.view.store.read("calls", day, _LIST_READ))


def _no_calls() -> pa.Table:
    return TABLES["calls"].empty_table().select(_LIST_READ)


def _one_agent(table: pa.Table, agent_id: str) -> pa.Table:
    return table.filter(pc.fill_null(pc.equal(table["agent_id"], agent_id), False))


def _list_mask(table: pa.Table, params):
    mask = pa.array([True] * table.num_rows, pa.bool_())
    for column, name in (("queue", "queue"), ("agent_id", "agent")):
        wanted = P.many(params, name)
        if wanted:
            found = pc.is_in(table[column], pa.array(wanted, pa.string()))
            mask = pc.and_(mask, pc.fill_null(found, False))
    for category in P.many(params, "category"):
        tagged = [category in (names or []) for names in table["categories"].to_pylist()]
        mask = pc.and_(mask, pa.array(tagged, pa.bool_()))
    return mask


def _in_order(table: pa.Table) -> pa.Table:
    if not table.num_rows:
        return table
    return table.sort_by([("started_at", "ascending"), ("call_id", "ascending")])


def _calls_page(table: pa.Table, user: User, params) -> dict:
    limit = P.integer(params, "limit", CALLS_PAGE, 1, CALLS_MAX_LIMIT)
    pages = max(1, -(-table.num_rows // limit))
    page = P.integer(params, "page", 1, 1, 100_000)
    rows = table.slice((page - 1) * limit, limit).to_pylist()
    return {"total": table.num_rows, "page": page, "pages": pages} | {
        "calls": [call_row(row, user) for row in rows]
    }


def call_row(row: dict, user: User) -> dict:
    """A call as lists of calls show it: its metrics, and links to its page and (for the
    roles that may listen) its recording."""
    out = {key: _plain(row.get(key)) for key in CALL_LIST_COLUMNS}
    if not user.sees_agents:
        out.pop("agent_id")
    out["url"] = call_url(row["call_id"], row["date"])
    if user.hears_audio:
        out["audio_url"] = _audio_link(row)
    return out


def _audio_link(row: dict) -> str | None:
    """The recording's address where the call was transcribed from one (the server still
    checks the file when it is asked for)."""
    if row.get("status") != "ok" or not row.get("source_uri"):
        return None
    return f"/api/calls/{quote(row['call_id'], safe='')}/audio?date={row['date']}"


# trends ----------------------------------------------------------------------------------
def _by(user: User, params) -> str:
    by = P.choice(params, "by", BY, "queue")
    if by == "agent" and not user.sees_agents:
        raise Forbidden("trends by agent are not available to the marketing role")
    return by


def trends(ctx: Context, user: User, params) -> dict:
    by, role = _by(user, params), P.choice(params, "role", ROLES, "customer")
    days = ctx.view.days("emotion_daily")
    start = P.date(params, "from") or (days[0] if days else None)
    end = P.date(params, "to") or (days[-1] if days else None)
    if start and end and start > end:
        raise BadRequest(f"from={start} is after to={end}")
    rows = _trend_rows(ctx, start, end, by, role) if days else []
    for row in rows:
        row["url"] = "/trends/calls?" + urlencode(
            {"date": row["date"], "by": by, "key": row["key"], "role": role}
        )
    return {
        "by": by,
        "role": role,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "days": [day.isoformat() for day in days],
        "rows": rows,
    }


def _emotion_stamp(ctx: Context, start, end) -> tuple:
    days = [d for d in ctx.view.days("emotion_daily") if start <= d <= end]
    return tuple(ctx.view.stamp("emotion_daily", d) for d in days)


def _trend_rows(ctx: Context, start, end, by: str, role: str) -> list[dict]:
    rows = ctx._cache.get(
        ("trends", start, end, by, role),
        _emotion_stamp(ctx, start, end),
        lambda: load_trends(ctx.view.store, start, end, by, role),
    )
    return [dict(row) for row in rows]


def trend_calls(ctx: Context, user: User, params) -> dict:
    """The calls behind one point of a trend: a day and a group."""
    by, role = _by(user, params), P.choice(params, "role", ROLES, "customer")
    day = P.date(params, "date")
    if day is None:
        raise BadRequest("date is required (YYYY-MM-DD)")
    key = P.one(params, "key") or ("all" if by == "all" else None)
    if key is None:
        raise BadRequest(f"key is required: the {by} of the point")
    table = ctx.view.calls_table(day).table
    table = table.filter(_group_mask(table, by, key))
    total = table.num_rows
    column = "customer_sentiment" if role == "customer" else "agent_sentiment"
    order = pc.sort_indices(table, sort_keys=[(column, "ascending", "at_end")])
    rows = table.take(order.slice(0, TREND_CALLS_LIMIT)).to_pylist()
    calls = [_trend_call(row, user) for row in rows]
    return {"date": day.isoformat(), "by": by, "key": key, "role": role, "total": total} | {
        "calls": calls
    }


def _group_mask(table: pa.Table, by: str, key: str):
    ok = pc.equal(table["status"], "ok")
    if by == "all":
        return ok
    if by == "category":
        tagged = pa.array([key in (names or []) for names in table["categories"].to_pylist()])
        return pc.and_(ok, tagged)
    column = {"queue": "queue", "agent": "agent_id"}[by]
    return pc.and_(ok, pc.fill_null(pc.equal(table[column], key), False))


def _trend_call(row: dict, user: User) -> dict:
    out = {
        key: _plain(row.get(key))
        for key in (
            "call_id", "date", "started_at", "duration_s", "queue", "agent_id", "categories",
            "customer_sentiment", "customer_sentiment_start", "customer_sentiment_end",
            "agent_sentiment", "customer_emotion", "escalation_risk",
        )
    }  # fmt: skip
    if not user.sees_agents:
        out.pop("agent_id")
    out["url"] = call_url(row["call_id"], row["date"], row.get("peak_negative_s"))
    return out


def trend_chart_png(ctx: Context, user: User, params) -> bytes:
    """The emotion issue's matplotlib chart of the same selection (cached per data version)."""
    data = trends(ctx, user, params)
    if not data["rows"]:
        raise NotFound("no emotion data for this selection")
    key = ("png", data["by"], data["role"], data["from"], data["to"])
    start, end = (dt.date.fromisoformat(data[k]) for k in ("from", "to"))
    return ctx._cache.get(key, _emotion_stamp(ctx, start, end), lambda: _draw_png(data))


def _draw_png(data: dict) -> bytes:
    import tempfile

    from callscope.emotion.trends import draw

    by = data["by"] if data["by"] != "all" else "day"
    title = f"{data['role'].capitalize()} emotion by {by}, {data['from']} .. {data['to']}"
    with _DRAW_LOCK, tempfile.TemporaryDirectory(prefix="callscope-chart-") as folder:
        path = draw(
            [{k: v for k, v in r.items() if k != "url"} for r in data["rows"]],
            Path(folder) / "trends.png",
            title,
        )
        return path.read_bytes()


# incidents -------------------------------------------------------------------------------
def incidents(ctx: Context, user: User, params) -> dict:
    days = ctx.view.days("incidents")
    day = P.date(params, "date") or (days[-1] if days else None)
    spikes_only = P.choice(params, "spikes", ("0", "1", "true", "false"), "0") in ("1", "true")
    if day is None:
        return {"date": None, "days": [], "rows": [], "calls_with_statement": 0}
    if day not in days:
        raise NotFound(f"no incidents for {day}; days with incidents: {_span(days)}")
    stamp = ctx.view.stamp("incidents", day), ctx.view.stamp("call_issues", day)
    rows, statements = ctx._cache.get(("incidents", day), stamp, lambda: _incidents(ctx, day))
    clean = (lambda text: text) if user.sees_personal_data else _checked
    rows = [_incident(row, day, clean) for row in rows if row["is_spike"] or not spikes_only]
    return {
        "date": day.isoformat(),
        "days": [d.isoformat() for d in days],
        "calls_with_statement": statements,
        "spikes": sum(row["is_spike"] for row in rows),
        "rows": rows,
    }


def _incidents(ctx: Context, day: dt.date) -> tuple[list[dict], int]:
    return public_rows(ctx.view.store.read("incidents", day)), ctx.view.store.read(
        "call_issues", day
    ).num_rows


def _incident(row: dict, day: dt.date, clean) -> dict:
    out = dict(row)
    out["examples"] = [
        {
            **example,
            "text": clean(example["text"]),
            "url": call_url(example["call_id"], day, example["start_s"]),
        }
        for example in row["examples"]
    ]
    out["label"] = clean(row.get("label"))
    out["terms"] = [clean(term) for term in row.get("terms") or []]
    return out


def _checked(text: str | None) -> str | None:
    """Stored text checked again by today's redaction rules (for roles without personal data:
    what the night stored went through the rules of its day)."""
    return redact(text)[0] if text else text


def _span(days: list[dt.date]) -> str:
    return f"{days[0]} .. {days[-1]}" if days else "none yet"


# saved queries ---------------------------------------------------------------------------
def save_query(ctx: Context, user: User, body: dict) -> dict:
    if not isinstance(body, dict):
        raise BadRequest('send a JSON object: {"name": ..., "params": {"q": ...}}')
    raw = body.get("params")
    if not isinstance(raw, dict) or not all(
        isinstance(v, str | int | float | list) for v in raw.values()
    ):
        raise BadRequest("params must be an object of search parameters (q, from, queue...)")
    sp = P.search_params(_as_query(raw), ctx.settings.web.page_size)
    if not sp.query:
        raise BadRequest("params.q is required")
    if sp.filters.agents and not user.sees_agents:
        raise Forbidden("agent filters are not available to the marketing role")
    _check_query(ctx, sp)
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    return ctx.saved.add(user, name, sp.as_query())


def _as_query(raw: dict):
    from starlette.datastructures import QueryParams

    pairs = []
    for key, value in raw.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((str(key), str(item)))
    return QueryParams(pairs)


def _check_query(ctx: Context, sp: P.SearchParams) -> None:
    try:
        parse(sp.query)
    except QueryError as exc:
        raise BadRequest(str(exc)) from exc


def saved_matches(ctx: Context, user: User, query_id: str, params) -> dict:
    """A saved query's matches day by day, and its latest matching calls."""
    saved = ctx.saved.get(user, query_id)
    sp = _saved_search(ctx, saved)
    _check_saved_role(saved, sp, user)
    n_days = P.integer(params, "days", SAVED_DAYS, 1, 90)
    index = ctx.index()
    redacted = not user.sees_personal_data
    with _search_errors():
        indexed = [
            day
            for day in index.indexed_days()
            if (not sp.filters.date_from or day >= sp.filters.date_from)
            and (not sp.filters.date_to or day <= sp.filters.date_to)
        ][-n_days:]
        window = replace(sp.filters, date_from=indexed[0] if indexed else sp.filters.date_from)
        counts = index.day_counts(sp.query, window, redacted=redacted)
        latest = index.search(
            sp.query, window, limit=SAVED_CALL_HITS, sort="newest", context=0, redacted=redacted
        )
    per_day = [{"date": day.isoformat(), "matches": counts.get(day, 0)} for day in indexed]
    return {
        "saved": saved,
        "search_url": "/search?" + urlencode(saved["params"], doseq=True),
        "days": per_day,
        "calls": _calls_of_hits(latest.hits),
    }


def _saved_search(ctx: Context, saved: dict) -> P.SearchParams:
    """A saved query's search, or a clear 400 when it no longer parses (saved before a
    limit or a syntax rule it breaks)."""
    try:
        sp = P.search_params(_as_query(saved["params"]), ctx.settings.web.page_size)
        parse(sp.query or "")
    except (BadRequest, QueryError) as exc:
        message = exc.message if isinstance(exc, BadRequest) else str(exc)
        raise BadRequest(
            f"the saved query {saved['name']!r} can no longer be run: {message}. Delete it "
            "(× in the themed listening list of the search page) and save the search again"
        ) from exc
    return sp


def _check_saved_role(saved: dict, sp: P.SearchParams, user: User) -> None:
    """A saved query runs under the user's role of today, not the one it was saved under."""
    if sp.filters.agents and not user.sees_agents:
        raise Forbidden(
            f"the saved query {saved['name']!r} filters by agent, which the {user.role} role "
            "cannot use: delete it (× in the themed listening list of the search page) and "
            "save the search again without an agent"
        )


def saved_list(ctx: Context, user: User) -> list[dict]:
    """The user's saved queries; a role that sees no agents is not shown agent filters."""
    return [_saved_shown(saved, user) for saved in ctx.saved.list(user)]


def _saved_shown(saved: dict, user: User) -> dict:
    if user.sees_agents or "agent" not in saved["params"]:
        return saved
    params = {key: value for key, value in saved["params"].items() if key != "agent"}
    return saved | {
        "params": params,
        "unavailable": f"filters by agent: not for the {user.role} role",
    }


def _calls_of_hits(hits) -> list[dict]:
    calls: dict[tuple[str, str], dict] = {}
    for hit in hits:
        entry = calls.get((hit.call_id, hit.date))
        if entry is None:
            entry = calls[(hit.call_id, hit.date)] = {
                "call_id": hit.call_id,
                "date": hit.date,
                "queue": hit.queue,
                "matches": 0,
                "first": asdict(hit),
            }
        entry["matches"] += 1
        if hit.start_s < entry["first"]["start_s"]:
            entry["first"] = asdict(hit)
    out = []
    for entry in calls.values():
        first = entry.pop("first")
        entry |= {
            "start_s": first["start_s"],
            "speaker": first["speaker"],
            "text": first["text"],
            "highlights": first["highlights"],
            "url": call_url(entry["call_id"], entry["date"], first["start_s"], seg=first["idx"]),
        }
        out.append(entry)
    return out


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# overview and agent view -----------------------------------------------------------------
from callscope.web import overview as ov  # noqa: E402  (the day summaries they read)

OVERVIEW_DAYS = 28  # the overview's days unless `from` says otherwise
OVERVIEW_AGENTS = 25  # agents listed on the overview (most calls first)
SPIKE_COLUMNS = [
    "incident_id", "kind", "category", "label", "calls", "expected", "ratio", "is_spike",
    "queues", "categories",
]  # fmt: skip


def overview(ctx: Context, user: User, params) -> dict:
    """The floor's figures per day over `from`..`to` (default: the newest day's last 28
    days) for the `queue`s (each may repeat) and one `category`, from the day summaries;
    for supervisors and analysts only (marketing lands on incidents and trends)."""
    if not user.sees_floor:
        raise Forbidden(f"the overview is for supervisors and analysts, not the {user.role} role")
    start, end = _overview_period(ctx, params)
    queues, category = P.many(params, "queue"), P.one(params, "category")
    stacked = ov.summaries_of(ctx.view).period(start, end)
    level = stacked["categories"] if category else stacked["queues"]
    chosen = ov.matching(level, queues, category)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    per_day = ov.daily(chosen, days)
    for row in per_day:
        row["url"] = calls_list_url(row["date"], queues, category)
    tagged = ov.matching(stacked["categories_period"], queues)
    recent, before = (ov.matching(stacked[f"categories_{k}"], queues) for k in ("recent", "before"))
    totals = ov.total(chosen)
    out = {
        "from": start.isoformat(), "to": end.isoformat(), "queues": queues,
        "category": category, "totals": totals, "days": per_day,
        "top_categories": _linked(ov.top_categories(tagged, totals["calls"]), params),
        "rising_categories": _linked(ov.rising_categories(recent, before, per_day), params),
        "spikes": _spikes(ctx, user, end, queues, category),
        "facets": {"queues": ctx.view.facets()["queues"],
                   "categories": sorted(ctx.category_labels)},
    }  # fmt: skip
    out["warm"] = ov.summaries_of(ctx.view).warmed.is_set()
    if user.sees_agents:
        out["agents"] = _overview_agents(stacked, queues, category, start, end)
    return out


def warm_overview(ctx: Context) -> ov.Warmer:
    """Sums the overview's days ahead of the first request, in a background thread (the app
    starts it when it starts serving)."""
    try:
        period = _overview_period(ctx, {})
    except (OSError, PartitionUnreadable, pa.ArrowException) as exc:
        logger.warning("the overview's default period is unknown: %s", exc)
        period = None
    return ov.Warmer(ov.summaries_of(ctx.view), period).start()


def _overview_period(ctx: Context, params) -> tuple[dt.date, dt.date]:
    end = P.date(params, "to") or _newest_day(ctx) or dt.date.today()
    start = P.date(params, "from") or _default_start(ctx, end)
    if start > end:
        raise BadRequest(f"from={start} is after to={end}")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise BadRequest(f"from..to spans more than {MAX_PERIOD_DAYS} days; ask for less")
    return start, end


def _default_start(ctx: Context, end: dt.date) -> dt.date:
    """28 days back from `end`, or the first day with calls when that is later."""
    days = ctx.view.days()
    start = end - dt.timedelta(days=OVERVIEW_DAYS - 1)
    return max(start, days[0]) if days and days[0] <= end else start


def calls_list_url(day: str, queues: list[str], category: str | None, agent: str = "") -> str:
    """The page of a day's calls with these filters."""
    query = [("date", day)] + [("queue", q) for q in queues]
    query += [("category", category)] if category else []
    query += [("agent", agent)] if agent else []
    return "/calls?" + urlencode(query)


def _linked(rows: list[dict], params) -> list[dict]:
    """Each category row with a link to the overview narrowed to it."""
    keep = [(k, v) for k, v in params.multi_items() if k in ("from", "to", "queue")]
    for row in rows:
        row["url"] = "/overview?" + urlencode([*keep, ("category", row["category"])])
    return rows


def _overview_agents(stacked: dict, queues, category, start, end) -> list[dict]:
    if category:
        chosen = ov.matching(stacked["agent_categories_period"], queues, category)
    else:
        chosen = ov.matching(stacked["agents_period"], queues)
    rows = ov.totals_by(chosen, ["agent"])
    rows = sorted((r for r in rows if r["agent"]), key=lambda r: (-r["calls"], r["agent"]))
    for row in rows[:OVERVIEW_AGENTS]:
        query = {"from": start.isoformat(), "to": end.isoformat()}
        row["url"] = f"/agents/{quote(row['agent'], safe='')}?" + urlencode(query)
    return rows[:OVERVIEW_AGENTS]


def _spikes(ctx: Context, user: User, day: dt.date, queues, category) -> list[dict]:
    """The unusual incidents of `day` that concern the queues and category."""
    if day not in ctx.view.days("incidents"):
        return []
    stamp = ctx.view.stamp("incidents", day)
    rows = ctx._cache.get(
        ("spikes", day), stamp, lambda: _spike_rows(ctx.view.store.read("incidents", day,
                                                                         SPIKE_COLUMNS))
    )  # fmt: skip
    clean = (lambda text: text) if user.sees_personal_data else _checked
    out = []
    for row in rows:
        if queues and not set(queues) & set(row["queues"] or []):
            continue
        if category and category != row["category"] and category not in (row["categories"] or []):
            continue
        out.append(row | {"label": clean(row["label"]), "url": f"/incidents?date={day}"})
    return out


def _spike_rows(table: pa.Table) -> list[dict]:
    rows = [row for row in table.to_pylist() if row["is_spike"]]
    return sorted(rows, key=lambda row: -(row["ratio"] or 0))


def agent_view(ctx: Context, user: User, agent_id: str, params) -> dict:
    """One agent's figures over `from`..`to` against its queues' (the queues it took calls
    in), per day, and the categories of its calls against the queues' shares."""
    if not (user.sees_agents and user.sees_floor):
        raise Forbidden(f"agents' figures are not available to the {user.role} role")
    agent_id = P.one({"agent": agent_id}, "agent")
    if not agent_id:
        raise BadRequest("name the agent: /agents/<agent id>")
    start, end = _overview_period(ctx, params)
    stacked = ov.summaries_of(ctx.view).period(start, end)
    mine = ov.matching(stacked["agents"], agent=agent_id)
    if mine is None or not mine.num_rows:
        raise NotFound(f"no calls of agent {agent_id!r} from {start} to {end}")
    queues = sorted(set(mine["queue"].to_pylist()))
    theirs = ov.matching(stacked["queues"], queues)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    per_day, queue_days = ov.daily(mine, days), ov.daily(theirs, days)
    for row in per_day:
        row["url"] = calls_list_url(row["date"], [], None, agent_id)
    agent, queue = ov.total(mine), ov.total(theirs)
    return {
        "agent_id": agent_id, "from": start.isoformat(), "to": end.isoformat(),
        "queues": queues, "agent": agent, "queue": queue, "days": per_day,
        "queue_days": queue_days,
        "categories": _agent_categories(stacked, agent_id, queues, agent, queue),
    }  # fmt: skip


def _agent_categories(stacked, agent_id, queues, agent: dict, queue: dict) -> list[dict]:
    chosen = ov.matching(stacked["agent_categories_period"], agent=agent_id)
    mine = ov.totals_by(chosen, ["category"])
    theirs = ov.totals_by(ov.matching(stacked["categories_period"], queues), ["category"])
    in_queue = {row["category"]: row["calls"] for row in theirs}
    rows = []
    for row in mine:
        name = row["category"]
        rows.append({
            "category": name, "calls": row["calls"],
            "share": row["calls"] / agent["calls"] if agent["calls"] else None,
            "queue_calls": in_queue.get(name, 0),
            "queue_share": in_queue.get(name, 0) / queue["calls"] if queue["calls"] else None,
        })  # fmt: skip
    rows.sort(key=lambda row: (-row["calls"], row["category"]))
    return rows
