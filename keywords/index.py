"""The transcript search index: one embedded SQLite file with an FTS5 table over segments.

Rows are keyed `day << 32 | n` (n counts the day's segments in call / segment order), so a
date range is a rowid range and newest-first is rowid order. The FTS table is contentless: it
holds the tokens of keywords/text.py (Chinese character pairs, Latin words) and, in a second
column, opaque tokens for the filters (agent, queue, speaker, call category), so a filtered
query is one index intersection. The `segment` table keeps what a hit shows.

A day is indexed whole, in one transaction, and only when its Parquet partitions changed since
the last time (`indexed_day.fingerprint`): reruns never duplicate rows, and a reader sees the
old day or the new one, never half of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from core.errors import CallscopeError
from core.logs import get_logger
from core.text import TOKENIZER_VERSION, index_tokens
from keywords.query import ParsedQuery, highlight_spans, parse

logger = get_logger(__name__)

INDEX_VERSION = f"index-2/{TOKENIZER_VERSION}"
DAY_SHIFT = 32
EPOCH = dt.date(1970, 1, 1)
SORTS = ("relevance", "newest", "oldest")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS indexed_day (
    day TEXT PRIMARY KEY, fingerprint TEXT, n_segments INTEGER, indexed_at TEXT);
CREATE TABLE IF NOT EXISTS segment (
    id INTEGER PRIMARY KEY, call_id TEXT, idx INTEGER, start_s REAL, end_s REAL,
    speaker TEXT, agent_id TEXT, queue TEXT, categories TEXT, sentiment REAL, text TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    tokens, meta, content='', tokenize='unicode61 remove_diacritics 0');
"""


class SearchIndexError(CallscopeError):
    """The index is missing, unreadable or from another version; the message says the fix."""


@dataclass
class SearchFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    agents: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sentiment_min: float | None = None
    sentiment_max: float | None = None


@dataclass
class SearchHit:
    call_id: str
    date: str
    agent_id: str | None
    queue: str | None
    speaker: str | None
    idx: int
    start_s: float
    end_s: float
    hit_s: float  # about where the first match is said (by its position in the segment)
    text: str
    highlights: list[tuple[int, int]]
    before: list[dict]
    after: list[dict]
    categories: list[str]
    score: float | None


@dataclass
class SearchResult:
    query: str
    total: int
    ranked_among: int  # relevance is ranked among the newest this many matches
    offset: int
    limit: int
    sort: str
    hits: list[SearchHit]
    took_ms: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)

    def redacted(self) -> SearchResult:
        """The result as roles without access to personal data see it: phone, ID and card
        numbers, email and addresses replaced by placeholders in the hits and their context;
        a hit whose every match lies inside personal data is left out."""
        from privacy.redact import redact, redact_marked

        hits = []
        for hit in self.hits:
            text, marks = redact_marked(hit.text, hit.highlights)
            if hit.highlights and not marks:
                continue
            context = {
                side: [{**line, "text": redact(line["text"] or "")[0]} for line in lines]
                for side, lines in (("before", hit.before), ("after", hit.after))
            }
            hits.append(replace(hit, text=text, highlights=marks, **context))
        dropped = len(self.hits) - len(hits)
        return replace(self, hits=hits, total=self.total - dropped)


def meta_token(kind: str, value: str) -> str:
    return "m" + hashlib.sha1(f"{kind}\x00{value}".encode()).hexdigest()[:12]


def day_bounds(day: dt.date) -> tuple[int, int]:
    number = (day - EPOCH).days
    return number << DAY_SHIFT, ((number + 1) << DAY_SHIFT) - 1


def row_day(rowid: int) -> dt.date:
    return EPOCH + dt.timedelta(days=rowid >> DAY_SHIFT)


class SearchIndex:
    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise SearchIndexError(
                f"no search index at {self.path}; run `callscope index update` (the nightly "
                "flow keeps it up to date)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise SearchIndexError(
                f"{self.path} is not a readable search index ({exc}); delete it and run "
                "`callscope index update --all`"
            ) from exc
        self._check_version()

    def close(self) -> None:
        self.db.close()

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM info WHERE key='version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO info VALUES ('version', ?)", (INDEX_VERSION,))
            self.db.execute("INSERT INTO fts(fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)')")
        elif row[0] != INDEX_VERSION:
            logger.warning(
                "%s was built by %s; rebuilding for %s", self.path, row[0], INDEX_VERSION
            )
            self._reset()

    def _reset(self) -> None:
        self.db.executescript(
            "DROP TABLE IF EXISTS fts; DROP TABLE IF EXISTS segment; "
            "DROP TABLE IF EXISTS indexed_day; DROP TABLE IF EXISTS info;"
        )
        self.db.executescript(_SCHEMA)
        self._check_version()

    # writing ---------------------------------------------------------------
    def fingerprint(self, day: dt.date) -> str | None:
        row = self.db.execute(
            "SELECT fingerprint FROM indexed_day WHERE day=?", (day.isoformat(),)
        ).fetchone()
        return row[0] if row else None

    def indexed_days(self) -> dict[dt.date, int]:
        rows = self.db.execute("SELECT day, n_segments FROM indexed_day ORDER BY day")
        return {dt.date.fromisoformat(day): count for day, count in rows}

    def index_day(self, day: dt.date, segments: pa.Table, calls: pa.Table, fingerprint: str) -> int:
        """Replace the day's rows with `segments` (joined to `calls` for agent, queue and
        categories); returns the number of segments indexed."""
        lo, hi = day_bounds(day)
        rows = list(_segment_rows(segments, calls, lo))
        if len(rows) > hi - lo:
            raise SearchIndexError(f"{day}: more than {hi - lo} segments in one day")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_range(lo, hi)
            self.db.executemany("INSERT INTO segment VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            self.db.executemany(
                "INSERT INTO fts(rowid, tokens, meta) VALUES (?,?,?)",
                ((r[0], index_tokens(r[10]), _meta(*r[5:9])) for r in rows),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO indexed_day VALUES (?,?,?,?)",
                (day.isoformat(), fingerprint, len(rows), _now()),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(rows)

    def remove_day(self, day: dt.date) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._delete_range(*day_bounds(day))
            self.db.execute("DELETE FROM indexed_day WHERE day=?", (day.isoformat(),))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _delete_range(self, lo: int, hi: int) -> None:
        old = self.db.execute(
            "SELECT id, text, speaker, agent_id, queue, categories FROM segment "
            "WHERE id BETWEEN ? AND ?",
            (lo, hi),
        ).fetchall()
        if not old:
            return
        # a contentless FTS row is deleted by giving back exactly the tokens it was given
        self.db.executemany(
            "INSERT INTO fts(fts, rowid, tokens, meta) VALUES ('delete', ?, ?, ?)",
            ((r[0], index_tokens(r[1]), _meta(*r[2:6])) for r in old),
        )
        self.db.execute("DELETE FROM segment WHERE id BETWEEN ? AND ?", (lo, hi))

    def optimize(self) -> None:
        self.db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        self.checkpoint()

    def checkpoint(self) -> None:
        """Fold the write-ahead log back into the index file."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # searching -------------------------------------------------------------
    def search(
        self,
        query: str | ParsedQuery,
        filters: SearchFilters | None = None,
        limit: int = 20,
        offset: int = 0,
        sort: str = "relevance",
        rank_window: int = 20000,
        context: int = 1,
    ) -> SearchResult:
        started = time.perf_counter()
        parsed = parse(query) if isinstance(query, str) else query
        filters = filters or SearchFilters()
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        match = parsed.fts + _meta_match(filters)
        where, args = _where(filters)
        join = " JOIN segment s ON s.id = fts.rowid" if _needs_join(filters) else ""
        sql_from = f"FROM fts{join} WHERE fts MATCH ? AND {where}"
        total = self.db.execute(f"SELECT count(*) {sql_from}", (match, *args)).fetchone()[0]
        order = {"relevance": "score", "newest": "fts.rowid DESC", "oldest": "fts.rowid"}[sort]
        score = "bm25(fts, 1.0, 0.0)" if sort == "relevance" else "NULL"
        select = f"SELECT fts.rowid, {score} AS score {sql_from}"
        if sort != "relevance" or total <= rank_window:
            found = self.db.execute(
                f"{select} ORDER BY {order} LIMIT ? OFFSET ?", (match, *args, limit, offset)
            ).fetchall()
            ranked_among = total
        else:
            found = self._ranked_window(select, match, args, limit, offset, rank_window)
            ranked_among = rank_window
        hits = self._hits(found, parsed, context)
        took = (time.perf_counter() - started) * 1000
        return SearchResult(parsed.text, total, ranked_among, offset, limit, sort, hits, took)

    def _ranked_window(self, select, match, args, limit, offset, window) -> list:
        """bm25 costs per matching row: rank the newest `window` matches, then list the older
        ones newest first."""
        floor = self.db.execute(
            f"{select} ORDER BY fts.rowid DESC LIMIT 1 OFFSET ?", (match, *args, window - 1)
        ).fetchone()[0]
        found = []
        if offset < window:
            found = self.db.execute(
                f"{select} AND fts.rowid >= ? ORDER BY score LIMIT ? OFFSET ?",
                (match, *args, floor, min(limit, window - offset), offset),
            ).fetchall()
        if len(found) < limit:
            older = self.db.execute(
                f"{select} AND fts.rowid < ? ORDER BY fts.rowid DESC LIMIT ? OFFSET ?",
                (match, *args, floor, limit - len(found), max(0, offset - window)),
            ).fetchall()
            found += [(rowid, None) for rowid, _ in older]
        return found

    def _hits(self, found: list, parsed: ParsedQuery, context: int) -> list[SearchHit]:
        hits = []
        for rowid, score in found:
            row = self._segment(rowid)
            if row is None:
                continue
            _, call_id, idx, start_s, end_s, speaker, agent, queue, cats, _, text = row
            spans = highlight_spans(text, parsed.highlights)
            hit_s = (
                start_s + (end_s - start_s) * (spans[0][0] / max(len(text), 1))
                if spans
                else start_s
            )
            hits.append(
                SearchHit(
                    call_id=call_id,
                    date=row_day(rowid).isoformat(),
                    agent_id=agent,
                    queue=queue,
                    speaker=speaker,
                    idx=idx,
                    start_s=start_s,
                    end_s=end_s,
                    hit_s=round(hit_s, 2),
                    text=text,
                    highlights=spans,
                    before=self._context(rowid, call_id, range(-context, 0)),
                    after=self._context(rowid, call_id, range(1, context + 1)),
                    categories=json.loads(cats) if cats else [],
                    score=None if score is None else round(-score, 3),
                )
            )
        return hits

    def _segment(self, rowid: int):
        return self.db.execute("SELECT * FROM segment WHERE id=?", (rowid,)).fetchone()

    def _context(self, rowid: int, call_id: str, steps: Iterable[int]) -> list[dict]:
        out = []
        for step in steps:
            row = self.db.execute(
                "SELECT call_id, speaker, start_s, text FROM segment WHERE id=?", (rowid + step,)
            ).fetchone()
            if row and row[0] == call_id:
                out.append({"speaker": row[1], "start_s": row[2], "text": row[3]})
        return out


def _where(filters: SearchFilters) -> tuple[str, tuple]:
    lo = day_bounds(filters.date_from)[0] if filters.date_from else 0
    hi = day_bounds(filters.date_to)[1] if filters.date_to else (1 << 62)
    clauses, args = ["fts.rowid BETWEEN ? AND ?"], [lo, hi]
    if filters.sentiment_min is not None:
        clauses.append("s.sentiment >= ?")
        args.append(filters.sentiment_min)
    if filters.sentiment_max is not None:
        clauses.append("s.sentiment <= ?")
        args.append(filters.sentiment_max)
    return " AND ".join(clauses), tuple(args)


def _needs_join(filters: SearchFilters) -> bool:
    return filters.sentiment_min is not None or filters.sentiment_max is not None


def _meta_match(filters: SearchFilters) -> str:
    groups = [
        [meta_token(kind, value) for value in values]
        for kind, values in (
            ("agent", filters.agents),
            ("queue", filters.queues),
            ("speaker", filters.speakers),
            ("category", filters.categories),
        )
        if values
    ]
    return "".join(f" AND meta : ({' OR '.join(group)})" for group in groups)


def _segment_rows(segments: pa.Table, calls: pa.Table, first_id: int):
    """Rows of the `segment` table, in call / segment order, with the call's filter tokens."""
    call_info = {
        row["call_id"]: row
        for row in calls.select(
            [c for c in ("call_id", "agent_id", "queue", "categories") if c in calls.schema.names]
        ).to_pylist()
    }
    columns = ["call_id", "idx", "start_s", "end_s", "speaker", "text"]
    has_sentiment = "sentiment" in segments.schema.names
    table = segments.select(columns + (["sentiment"] if has_sentiment else []))
    table = table.sort_by([("call_id", "ascending"), ("idx", "ascending")])
    for n, seg in enumerate(table.to_pylist()):
        call = call_info.get(seg["call_id"], {})
        categories = call.get("categories") or []
        yield (
            first_id + n,
            seg["call_id"],
            seg["idx"],
            seg["start_s"],
            seg["end_s"],
            seg["speaker"],
            call.get("agent_id"),
            call.get("queue"),
            json.dumps(categories, ensure_ascii=False) if categories else None,
            seg.get("sentiment"),
            seg["text"] or "",
        )


def _meta(speaker: str | None, agent: str | None, queue: str | None, categories: str | None):
    """The filter tokens of a segment row (recomputed, not stored, for deletes)."""
    tokens = [meta_token("speaker", speaker or "unknown")]
    tokens += [meta_token("agent", agent)] if agent else []
    tokens += [meta_token("queue", queue)] if queue else []
    tokens += [meta_token("category", name) for name in json.loads(categories or "[]")]
    return " ".join(tokens)


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
