"""The transcript search index: one embedded SQLite file with FTS5 tables over segments.

Rows are keyed `day << 32 | n` (n counts the day's segments in call / segment order), so a
date range is a rowid range and newest-first is rowid order. The FTS tables are contentless:
they hold the tokens of core/text.py (Chinese character pairs, Latin words) and, in a second
column, opaque tokens for the filters (agent, queue, speaker, call category), so a filtered
query is one index intersection, and in a third the sounds of the Chinese text (pairs of
neighbouring syllables' sounds-like keys, core/sounds.py) for `~term` queries. The `segment`
table keeps what a hit shows.

Personal data is kept out of what roles without access to it can count. `fts` holds the tokens
of every segment's public text: the night's redaction (`segments.text_redacted`) with the
personal data left out. `fts_private` holds the spoken text of the segments that have personal
data (marked by a filter token in `fts`). A redacted search reads `fts` alone, so its totals,
pages, day counts and ranks come from public text only; a full search reads `fts` without the
marked segments plus `fts_private`.

A day is indexed whole, in one transaction, and only when its Parquet partitions changed since
the last time (`indexed_day.fingerprint`): reruns never duplicate rows, and a reader sees the
old day or the new one, never half of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow as pa

from core.errors import CallscopeError
from core.logs import get_logger
from core.sounds import ALL_CONFUSIONS, sounds_version
from core.sounds import index_tokens as sound_tokens
from core.text import TOKENIZER_VERSION, fold, index_tokens
from keywords.query import ParsedQuery, QueryError, highlight_spans, parse
from privacy.redact import KINDS, redact, redact_marked

logger = get_logger(__name__)

INDEX_VERSION = f"index-4/{TOKENIZER_VERSION}"
WEIGHTS = "1.0, 0.0, 0.5"  # of tokens, meta, sounds: words as written count twice their sound
DAY_SHIFT = 32
EPOCH = dt.date(1970, 1, 1)
SORTS = ("relevance", "newest", "oldest")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS indexed_day (
    day TEXT PRIMARY KEY, fingerprint TEXT, n_segments INTEGER, indexed_at TEXT);
CREATE TABLE IF NOT EXISTS segment (
    id INTEGER PRIMARY KEY, call_id TEXT, idx INTEGER, start_s REAL, end_s REAL,
    speaker TEXT, agent_id TEXT, queue TEXT, categories TEXT, sentiment REAL, text TEXT,
    public TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    tokens, meta, sounds, content='', tokenize='unicode61 remove_diacritics 0');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_private USING fts5(
    tokens, meta, sounds, content='', tokenize='unicode61 remove_diacritics 0');
"""
FTS_TABLES = ("fts", "fts_private")
PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")
LOW_SPACE = 64 * 1024 * 1024  # less free space than this is a full disk for an index


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
        """This page of a full search with personal data replaced in the hits and their context;
        a hit whose every match lies inside personal data is left out. Its total still counts
        personal data: what a role without access may see is `search(..., redacted=True)`."""
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


def index_version(confusions: frozenset[str]) -> str:
    """What an index holds: the tokenizers' version and the sounds-like confusions."""
    return f"{INDEX_VERSION}/{sounds_version(frozenset(confusions))}"


def open_index(settings, create: bool = True) -> SearchIndex:
    """The configured index (`search.index`, the sounds-like confusions of `keywords`)."""
    return SearchIndex(settings.search_index, create, settings.keywords.sounds_like.confusion_set)


def meta_token(kind: str, value: str) -> str:
    return "m" + hashlib.sha1(f"{kind}\x00{value}".encode()).hexdigest()[:12]


PERSONAL = meta_token("personal", "data")  # the filter token of segments with personal data


def day_bounds(day: dt.date) -> tuple[int, int]:
    number = (day - EPOCH).days
    return number << DAY_SHIFT, ((number + 1) << DAY_SHIFT) - 1


def row_day(rowid: int) -> dt.date:
    return EPOCH + dt.timedelta(days=rowid >> DAY_SHIFT)


class SearchIndex:
    def __init__(
        self, path: Path, create: bool = True, confusions: frozenset[str] = ALL_CONFUSIONS
    ):
        """`confusions` are the sounds-like merges of the `sounds` column and `~term` queries
        (keywords.sounds_like.confusions); an index built with others is rebuilt."""
        self.path = Path(path)
        self.confusions = frozenset(confusions)
        self.version = index_version(self.confusions)
        self.rebuilt_from: str | None = None  # the version of an index this one replaced
        if not create and not self.path.exists():
            raise SearchIndexError(
                f"no search index at {self.path}; run `callscope index update` (the nightly "
                "flow keeps it up to date)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors():
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self._check_version()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as ours: an FTS5 complaint about the query is a QueryError, anything
        else a SearchIndexError that names what is wrong with the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("fts5:"):
                raise QueryError(f"the search index cannot run this query ({exc})") from exc
            raise SearchIndexError(diagnose(self.path, exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise SearchIndexError(diagnose(self.path, exc)) from exc

    def close(self) -> None:
        self.db.close()

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM info WHERE key='version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO info VALUES ('version', ?)", (self.version,))
            for table in FTS_TABLES:
                self.db.execute(
                    f"INSERT INTO {table}({table}, rank) VALUES ('rank', 'bm25({WEIGHTS})')"
                )
        elif row[0] != self.version:
            logger.warning(
                "%s was built by %s; rebuilding for %s (run `callscope index update --all`)",
                self.path,
                row[0],
                self.version,
            )
            self.rebuilt_from = row[0]
            self._reset()

    def _reset(self) -> None:
        self.db.executescript(
            "DROP TABLE IF EXISTS fts; DROP TABLE IF EXISTS fts_private; "
            "DROP TABLE IF EXISTS segment; "
            "DROP TABLE IF EXISTS indexed_day; DROP TABLE IF EXISTS info;"
        )
        self.db.executescript(_SCHEMA)
        self._check_version()

    # writing ---------------------------------------------------------------
    def fingerprint(self, day: dt.date) -> str | None:
        with self._errors():
            row = self.db.execute(
                "SELECT fingerprint FROM indexed_day WHERE day=?", (day.isoformat(),)
            ).fetchone()
        return row[0] if row else None

    def indexed_days(self) -> dict[dt.date, int]:
        with self._errors():
            rows = self.db.execute("SELECT day, n_segments FROM indexed_day ORDER BY day")
            return {dt.date.fromisoformat(day): count for day, count in rows}

    def index_day(self, day: dt.date, segments: pa.Table, calls: pa.Table, fingerprint: str) -> int:
        """Replace the day's rows with `segments` (joined to `calls` for agent, queue and
        categories); returns the number of segments indexed."""
        lo, hi = day_bounds(day)
        rows = list(_segment_rows(segments, calls, lo))
        if len(rows) > hi - lo:
            raise SearchIndexError(f"{day}: more than {hi - lo} segments in one day")
        with self._transaction():
            self._delete_range(lo, hi)
            self.db.executemany("INSERT INTO segment VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            self._write_fts("INSERT INTO {0}(rowid, tokens, meta, sounds) VALUES (?,?,?,?)", rows)
            self.db.execute(
                "INSERT OR REPLACE INTO indexed_day VALUES (?,?,?,?)",
                (day.isoformat(), fingerprint, len(rows), _now()),
            )
        return len(rows)

    def remove_day(self, day: dt.date) -> None:
        with self._transaction():
            self._delete_range(*day_bounds(day))
            self.db.execute("DELETE FROM indexed_day WHERE day=?", (day.isoformat(),))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: all of it or nothing (a full disk rolls it back)."""
        with self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _delete_range(self, lo: int, hi: int) -> None:
        old = self.db.execute("SELECT * FROM segment WHERE id BETWEEN ? AND ?", (lo, hi)).fetchall()
        if not old:
            return
        # a contentless FTS row is deleted by giving back exactly the tokens it was given
        self._write_fts(
            "INSERT INTO {0}({0}, rowid, tokens, meta, sounds) VALUES ('delete', ?, ?, ?, ?)", old
        )
        self.db.execute("DELETE FROM segment WHERE id BETWEEN ? AND ?", (lo, hi))

    def _write_fts(self, sql: str, rows: list[tuple]) -> None:
        """Run `sql` (a statement on table {0}) with the FTS rows of `segment` rows."""
        public, private = [], []
        for row in rows:
            rowid, text, shown = row[0], row[10], row[11]
            meta = _meta(*row[5:9], personal=shown is not None)
            public.append(self._fts_row(rowid, _searchable(text if shown is None else shown), meta))
            if shown is not None:
                private.append(self._fts_row(rowid, text, meta))
        self.db.executemany(sql.format("fts"), public)
        self.db.executemany(sql.format("fts_private"), private)

    def _fts_row(self, rowid: int, text: str, meta: str) -> tuple[int, str, str, str]:
        """(rowid, tokens, meta, sounds): the words and the sounds the index stores."""
        return rowid, index_tokens(text), meta, sound_tokens(fold(text), self.confusions)

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
        redacted: bool = False,
    ) -> SearchResult:
        """A page of matches. `redacted` searches as roles without access to personal data:
        only the public text is matched and counted, and hits show it."""
        started = time.perf_counter()
        parsed = self.parse(query)
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        matches = _Matches(parsed.fts, filters or SearchFilters(), redacted)
        with self._errors():
            total = self._count(matches)
            if sort != "relevance" or total <= rank_window:
                order = {"relevance": "score", "newest": "id DESC", "oldest": "id"}[sort]
                found = self._page(matches, order, limit, offset)
                ranked_among = total
            else:
                found = self._ranked_window(matches, limit, offset, rank_window)
                ranked_among = rank_window
            hits = self._hits(found, parsed, context, redacted)
        took = (time.perf_counter() - started) * 1000
        return SearchResult(parsed.text, total, ranked_among, offset, limit, sort, hits, took)

    def day_counts(
        self, query: str | ParsedQuery, filters: SearchFilters | None = None, redacted: bool = False
    ) -> dict[dt.date, int]:
        """How many segments match on each day (days without a match left out)."""
        parsed = self.parse(query)
        sql, args = _Matches(parsed.fts, filters or SearchFilters(), redacted).select()
        with self._errors():
            rows = self.db.execute(
                f"SELECT id >> {DAY_SHIFT} AS day, count(*) FROM ({sql}) GROUP BY day", args
            ).fetchall()
        return {EPOCH + dt.timedelta(days=day): count for day, count in rows}

    def parse(self, query: str | ParsedQuery) -> ParsedQuery:
        return parse(query, self.confusions) if isinstance(query, str) else query

    def _count(self, matches: _Matches) -> int:
        sql, args = matches.select()
        return self.db.execute(f"SELECT count(*) FROM ({sql})", args).fetchone()[0]

    def _page(self, matches: _Matches, order: str, limit: int, offset: int, **bounds) -> list:
        sql, args = matches.select(**bounds, scored=order == "score")
        return self.db.execute(
            f"{sql} ORDER BY {order} LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()

    def _ranked_window(self, matches: _Matches, limit: int, offset: int, window: int) -> list:
        """bm25 costs per matching row: rank the newest `window` matches, then list the older
        ones newest first."""
        floor = self._page(matches, "id DESC", 1, window - 1)[0][0]
        found = []
        if offset < window:
            found = self._page(matches, "score", min(limit, window - offset), offset, lo=floor)
        if len(found) < limit:
            older = self._page(
                matches, "id DESC", limit - len(found), max(0, offset - window), hi=floor - 1
            )
            found += [(rowid, None) for rowid, _ in older]
        return found

    def _hits(
        self, found: list, parsed: ParsedQuery, context: int, redacted: bool
    ) -> list[SearchHit]:
        hits = []
        for rowid, score in found:
            row = self._segment(rowid)
            if row is None:
                continue
            _, call_id, idx, start_s, end_s, speaker, agent, queue, cats, _, text, shown = row
            if redacted:
                text, spans = _public_hit(text if shown is None else shown, parsed.highlights)
            else:
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
                    before=self._context(rowid, call_id, range(-context, 0), redacted),
                    after=self._context(rowid, call_id, range(1, context + 1), redacted),
                    categories=json.loads(cats) if cats else [],
                    score=None if score is None else round(-score, 3),
                )
            )
        return hits

    def _segment(self, rowid: int):
        return self.db.execute("SELECT * FROM segment WHERE id=?", (rowid,)).fetchone()

    def _context(
        self, rowid: int, call_id: str, steps: Iterable[int], redacted: bool
    ) -> list[dict]:
        column = "coalesce(public, text)" if redacted else "text"
        out = []
        for step in steps:
            row = self.db.execute(
                f"SELECT call_id, speaker, start_s, {column} FROM segment WHERE id=?",
                (rowid + step,),
            ).fetchone()
            if row and row[0] == call_id:
                text = redact(row[3])[0] if redacted else row[3]
                out.append({"speaker": row[1], "start_s": row[2], "text": text})
        return out


@dataclass(frozen=True)
class _Matches:
    """The segments a query matches, as SQL giving one (id, score) row per segment."""

    fts: str  # the query's FTS5 expression over the `tokens` column
    filters: SearchFilters
    redacted: bool

    def select(self, lo: int = 0, hi: int = 1 << 62, scored: bool = False) -> tuple[str, tuple]:
        """The SQL and its arguments, for rowids from `lo` to `hi` within the filters' dates;
        bm25 (which costs per row) only when `scored`."""
        meta = _meta_match(self.filters)
        if self.redacted:
            return self._select("fts", self.fts + meta, lo, hi, scored)
        personal = f"({self.fts} NOT meta : {PERSONAL})" + meta
        public, public_args = self._select("fts", personal, lo, hi, scored)
        private, private_args = self._select("fts_private", self.fts + meta, lo, hi, scored)
        return f"{public} UNION ALL {private}", public_args + private_args

    def _select(self, table: str, match: str, lo: int, hi: int, scored: bool) -> tuple[str, tuple]:
        first, last = _date_bounds(self.filters)
        where, args = _sentiment_where(self.filters)
        join = f" JOIN segment s ON s.id = {table}.rowid" if args else ""
        score = f"bm25({table}, {WEIGHTS})" if scored else "NULL"
        sql = (
            f"SELECT {table}.rowid AS id, {score} AS score FROM {table}{join} "
            f"WHERE {table} MATCH ? AND {table}.rowid BETWEEN ? AND ?{where}"
        )
        return sql, (match, max(lo, first), min(hi, last), *args)


def _date_bounds(filters: SearchFilters) -> tuple[int, int]:
    lo = day_bounds(filters.date_from)[0] if filters.date_from else 0
    hi = day_bounds(filters.date_to)[1] if filters.date_to else (1 << 62)
    return lo, hi


def _sentiment_where(filters: SearchFilters) -> tuple[str, tuple]:
    clauses, args = [], []
    if filters.sentiment_min is not None:
        clauses.append(" AND s.sentiment >= ?")
        args.append(filters.sentiment_min)
    if filters.sentiment_max is not None:
        clauses.append(" AND s.sentiment <= ?")
        args.append(filters.sentiment_max)
    return "".join(clauses), tuple(args)


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


def _public_hit(shown: str, patterns: list[re.Pattern]) -> tuple[str, list[tuple[int, int]]]:
    """A segment's public text with its matches marked, checked once more by today's rules."""
    placeholders = [m.span() for m in PLACEHOLDER.finditer(shown)]
    spans = [
        (start, end)
        for start, end in highlight_spans(shown, patterns)
        if not any(start < p_end and p_start < end for p_start, p_end in placeholders)
    ]
    return redact_marked(shown, spans)


def _searchable(text: str) -> str:
    """Text with the redaction placeholders taken out (so `phone` never finds `[phone]`)."""
    return PLACEHOLDER.sub("|", text)


def _public_text(text: str, stored: str | None) -> str | None:
    """What roles without access to personal data see of a segment; None when that is all of
    it. The night's redaction, or today's rules where the warehouse has none."""
    public = stored if stored is not None else redact(text)[0]
    return None if public == text else public


def _segment_rows(segments: pa.Table, calls: pa.Table, first_id: int):
    """Rows of the `segment` table, in call / segment order, with the call's filter tokens."""
    call_info = {
        row["call_id"]: row
        for row in calls.select(
            [c for c in ("call_id", "agent_id", "queue", "categories") if c in calls.schema.names]
        ).to_pylist()
    }
    columns = ["call_id", "idx", "start_s", "end_s", "speaker", "text"]
    optional = [c for c in ("sentiment", "text_redacted") if c in segments.schema.names]
    table = segments.select(columns + optional)
    table = table.sort_by([("call_id", "ascending"), ("idx", "ascending")])
    for n, seg in enumerate(table.to_pylist()):
        call = call_info.get(seg["call_id"], {})
        categories = call.get("categories") or []
        text = seg["text"] or ""
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
            text,
            _public_text(text, seg.get("text_redacted")),
        )


def _meta(
    speaker: str | None,
    agent: str | None,
    queue: str | None,
    categories: str | None,
    personal: bool = False,
) -> str:
    """The filter tokens of a segment row (recomputed, not stored, for deletes)."""
    tokens = [meta_token("speaker", speaker or "unknown")]
    tokens += [meta_token("agent", agent)] if agent else []
    tokens += [meta_token("queue", queue)] if queue else []
    tokens += [meta_token("category", name) for name in json.loads(categories or "[]")]
    tokens += [PERSONAL] if personal else []
    return " ".join(tokens)


# what went wrong with an index file ------------------------------------------------------
def diagnose(path: Path, exc: sqlite3.Error) -> str:
    """What is wrong with the index at `path` after `exc`. A rebuild is advised only when
    SQLite's quick check finds the file damaged; a lock, a file that cannot be read or a full
    disk is named instead."""
    path = Path(path)
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in str(exc):
        return (
            f"the search index {path} is locked by another process (an index update or a "
            "night still running?); try again when it has finished"
        )
    unreadable = _unreadable(path)
    if unreadable:
        return f"the search index {path} cannot be read ({unreadable}); check its owner and mode"
    damage = _damage(path)
    space = _free_space(path)
    low = [place for place, free in space.items() if free < LOW_SPACE]
    if code.startswith("SQLITE_FULL") or (low and code.startswith("SQLITE_IOERR")):
        where = "; ".join(f"{p} has {space[p] / 1e6:.0f} MB free" for p in (low or space))
        return f"the disk is full ({where}): free some space and try again; " + _state(path, damage)
    if damage not in (None, UNCHECKED):
        return (
            f"{path} is not a readable search index ({damage}); delete it and run "
            "`callscope index update --all` (the index is rebuilt from the warehouse)"
        )
    return f"the search index {path} cannot be used ({exc}); " + _state(path, damage)


UNCHECKED = "could not be checked"


def _state(path: Path, damage: str | None) -> str:
    if damage is None:
        return f"{path} itself passed its integrity check: do not delete it"
    if damage == UNCHECKED:
        return f"{path} itself could not be checked now: keep it until it can be"
    return (
        f"{path} is damaged too ({damage}): then delete it and run `callscope index update --all`"
    )


def _unreadable(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            handle.read(100)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _damage(path: Path) -> str | None:
    """None when SQLite's quick check passes, else what it found (UNCHECKED when it could not
    run: locked, or no room for its own files)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorname", "") or ""
        return str(exc) if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) else UNCHECKED
    found = [row[0] for row in rows if row[0] != "ok"]
    return "; ".join(found[:3]) if found else None


def _free_space(path: Path) -> dict[str, int]:
    """Free bytes where the index and SQLite's temporary files are written (one per disk)."""
    out: dict[str, int] = {}
    devices = set()
    for folder in (path.resolve().parent, Path(tempfile.gettempdir())):
        try:
            free, device = shutil.disk_usage(folder).free, os.stat(folder).st_dev
        except OSError:
            continue
        if device not in devices:
            devices.add(device)
            out[str(folder)] = free
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
