"""One shard of the transcript search index: an embedded SQLite file holding some days (a month)
of segments, with one FTS5 table over them.

Rows are keyed `day << 32 | n` (n counts the day's segments in call / segment order), so a
date range is a rowid range and newest-first is rowid order. The FTS table is contentless, with
one column holding, for each segment: the tokens of core/text.py (Chinese character pairs,
Latin words); the sounds of its Chinese text (pairs of neighbouring syllables' sounds-like keys,
core/sounds.py, marked `_`) for `~term` queries; and marked tokens for the filters (agent,
queue, speaker, call category). A filtered query is one index intersection. One column, not
three: FTS5 writes a column number into every posting of a column after the first, which
cost a sixth of the index.

What a hit shows is kept per call: the `call` table has one row per call (keyed by the rowid of
its first segment) with its agent, queue, categories and its segments, compressed together.
`sentiment` holds the segments' scores for the sentiment filters.

Personal data is kept out of what roles without access to it can count. `fts` holds the tokens
of every segment's public text: the night's redaction (`segments.text_redacted`) with the
personal data left out. `fts_private` holds the spoken text of the segments that have personal
data (marked by a filter token in `fts`). A redacted search reads `fts` alone, so its totals,
pages, day counts and ranks come from public text only; a full search reads `fts` without the
marked segments plus `fts_private`.

A day is indexed whole, in one transaction: reruns never duplicate rows, and a reader sees the
old day or the new one, never half of it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from callscope.core.config import SearchSettings
from callscope.core.errors import CallscopeError
from callscope.core.logs import get_logger
from callscope.core.sounds import ALL_CONFUSIONS, sounds_version
from callscope.core.sounds import index_tokens as sound_tokens
from callscope.core.text import TOKENIZER_VERSION, fold, folded_tokens
from callscope.keywords.postings import (
    DAY_SHIFT,
    PERSONAL,
    TOP,
    Entry,
    Fts5Postings,
    Matches,
    PostingsError,
    TantivyPostings,
    meta_token,
)
from callscope.keywords.query import MARK, ParsedQuery, QueryError, highlight_spans
from callscope.privacy.redact import KINDS, redact, redact_marked

logger = get_logger(__name__)
_CONFIG = SearchSettings()  # the defaults of search.* (core/config.py)

FORMAT = f"index-5/{TOKENIZER_VERSION}"  # what the SQL of a query needs of a shard
EPOCH = dt.date(1970, 1, 1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS indexed_day (
    day TEXT PRIMARY KEY, fingerprint TEXT, n_segments INTEGER, indexed_at TEXT);
CREATE TABLE IF NOT EXISTS call (
    id INTEGER PRIMARY KEY, call_id TEXT, agent_id TEXT, queue TEXT, categories TEXT,
    n INTEGER, data BLOB);
CREATE TABLE IF NOT EXISTS sentiment (id INTEGER PRIMARY KEY, value REAL);
"""
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
    total_is_lower_bound: bool = False  # counting stopped at the cap: `total`+ matches

    def as_dict(self) -> dict:
        return asdict(self)

    def redacted(self) -> SearchResult:
        """This page of a full search with personal data replaced in the hits and their context;
        a hit whose every match lies inside personal data is left out. Its total still counts
        personal data: what a role without access may see is `search(..., redacted=True)`."""
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


def shard_version(confusions: frozenset[str]) -> str:
    """What a shard holds: the format, the tokenizers' version and the sounds-like confusions."""
    return f"{FORMAT}/{sounds_version(frozenset(confusions))}"


def day_bounds(day: dt.date) -> tuple[int, int]:
    number = (day - EPOCH).days
    return number << DAY_SHIFT, ((number + 1) << DAY_SHIFT) - 1


def row_day(rowid: int) -> dt.date:
    return EPOCH + dt.timedelta(days=rowid >> DAY_SHIFT)


@dataclass(frozen=True)
class Segment:
    """One segment as the index keeps it (`public`: its text for roles without access to
    personal data, None when that is all of it)."""

    rowid: int
    call_id: str
    idx: int
    start_s: float
    end_s: float
    speaker: str | None
    agent_id: str | None
    queue: str | None
    categories: tuple[str, ...]
    sentiment: float | None
    text: str
    public: str | None


def postings_folder(path: Path) -> Path:
    """Where the Tantivy postings of the shard file `path` live."""
    return Path(path).with_suffix(".tantivy")


class IndexShard:
    """One SQLite file of the index. `writable` creates the tables; a reader only reads."""

    def __init__(
        self,
        path: Path,
        confusions: frozenset[str] = ALL_CONFUSIONS,
        writable: bool = True,
        create: bool = True,
        engine: str = _CONFIG.engine,
    ):
        self.path = Path(path)
        self.confusions = frozenset(confusions)
        self.version = shard_version(self.confusions)
        if not create and not self.path.exists():
            raise SearchIndexError(
                f"no search index at {self.path}; run `callscope index update` (the nightly "
                "flow keeps it up to date)"
            )
        if writable:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.errors():
            self.db = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            if writable:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
            self.stored_version = self._info("version")
            if writable and self.stored_version is None:
                self.db.executemany(
                    "INSERT INTO info VALUES (?, ?)",
                    [
                        ("version", self.version),
                        ("confusions", json.dumps(sorted(confusions))),
                        ("engine", engine),
                    ],
                )
                self.stored_version = self.version
            stored = self._info("confusions") if self.stored_version else None
            self.engine = (self._info("engine") if self.stored_version else None) or engine
        # what its sound tokens were made with: a query reads a shard by its own confusions
        self.read_confusions = frozenset(json.loads(stored)) if stored else self.confusions
        with self.errors():
            self.postings = self._postings(writable)

    def _postings(self, writable: bool) -> Fts5Postings | TantivyPostings:
        if self.engine == "sqlite":
            return Fts5Postings(self.db, writable and self.readable)
        return TantivyPostings(self.postings_folder, writable, self.read_confusions)

    @property
    def postings_folder(self) -> Path:
        return postings_folder(self.path)

    def files(self) -> list[Path]:
        """Every file of this shard on disk."""
        base = [Path(str(self.path) + suffix) for suffix in ("", "-wal", "-shm")]
        folder = self.postings_folder
        inside = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        return [p for p in base if p.exists()] + inside

    @contextmanager
    def errors(self) -> Iterator[None]:
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
        except PostingsError as exc:
            raise SearchIndexError(str(exc)) from exc
        except (OSError, ValueError) as exc:  # the full-text engine's own complaints
            if isinstance(exc, QueryError):
                raise
            raise SearchIndexError(self._engine_trouble(exc)) from exc

    def _engine_trouble(self, exc: Exception) -> str:
        space = _free_space(self.path)
        low = [place for place, free in space.items() if free < LOW_SPACE]
        if low or any(sign in str(exc) for sign in ("No space left", "File too large")):
            where = "; ".join(f"{p} has {space[p] / 1e6:.0f} MB free" for p in (low or space))
            return f"the disk is full ({where}): free some space and try again; " + _state(
                self.path, _damage(self.path)
            )
        return (
            f"the search index {self.postings_folder} cannot be used ({exc}); run "
            "`callscope index update --all --rebuild` if it persists"
        )

    def _info(self, key: str) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM info WHERE key=?", (key,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return row[0] if row else None

    @property
    def current(self) -> bool:
        return self.stored_version == self.version

    @property
    def readable(self) -> bool:
        """Whether this code can query it (a shard of another format is being rebuilt)."""
        return (self.stored_version or "").startswith(FORMAT + "/")

    def close(self) -> None:
        self.postings.close()
        self.db.close()

    # writing ---------------------------------------------------------------
    def fingerprint(self, day: dt.date) -> str | None:
        with self.errors():
            row = self.db.execute(
                "SELECT fingerprint FROM indexed_day WHERE day=?", (day.isoformat(),)
            ).fetchone()
        return row[0] if row else None

    def indexed_days(self) -> dict[dt.date, int]:
        with self.errors():
            rows = self.db.execute("SELECT day, n_segments FROM indexed_day ORDER BY day")
            return {dt.date.fromisoformat(day): count for day, count in rows}

    def index_day(self, day: dt.date, segments: list[Segment], fingerprint: str) -> int:
        """Replace the day's rows with `segments` (rowids within the day, in call order)."""
        lo, hi = day_bounds(day)
        with self.transaction():
            old = self._delete_range(lo, hi)
            self.db.executemany("INSERT INTO call VALUES (?,?,?,?,?,?,?)", _call_rows(segments))
            self.db.executemany(
                "INSERT INTO sentiment VALUES (?,?)",
                [(s.rowid, s.sentiment) for s in segments if s.sentiment is not None],
            )
            self.postings.replace(lo, hi, old, entries(segments, self.confusions))
            self.db.execute(
                "INSERT OR REPLACE INTO indexed_day VALUES (?,?,?,?)",
                (day.isoformat(), fingerprint, len(segments), _now()),
            )
            self.db.execute("DELETE FROM info WHERE key='sealed'")
            self.postings.commit()
        return len(segments)

    def remove_day(self, day: dt.date) -> None:
        lo, hi = day_bounds(day)
        with self.transaction():
            self.postings.replace(lo, hi, self._delete_range(lo, hi), [])
            self.db.execute("DELETE FROM indexed_day WHERE day=?", (day.isoformat(),))
            self.db.execute("DELETE FROM info WHERE key='sealed'")
            self.postings.commit()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: all of it or nothing (a full disk rolls it back)."""
        with self.errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.postings.abort()
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _delete_range(self, lo: int, hi: int) -> list[Entry]:
        """Delete the stored calls of rowids `lo`..`hi`; their full-text entries where the
        engine needs them given back (FTS5)."""
        old: list[Entry] = []
        if self.engine == "sqlite":
            rows = self.db.execute(
                "SELECT * FROM call WHERE id BETWEEN ? AND ? ORDER BY id", (lo, hi)
            ).fetchall()
            segments = [segment for row in rows for segment in _call_segments(row)]
            old = entries(segments, self.confusions)
        for table in ("call", "sentiment"):
            self.db.execute(f"DELETE FROM {table} WHERE id BETWEEN ? AND ?", (lo, hi))
        return old

    @property
    def sealed(self) -> bool:
        """Optimized since it was last written."""
        with self.errors():
            return self._info("sealed") is not None

    def mark_sealed(self) -> None:
        with self.errors():
            self.db.execute("INSERT OR REPLACE INTO info VALUES ('sealed', ?)", (_now(),))

    def optimize(self) -> None:
        with self.errors():
            self.postings.optimize()
            self.checkpoint()

    def checkpoint(self) -> None:
        """Fold the write-ahead log back into the index file."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # reading -----------------------------------------------------------------
    def count(self, matches: Matches, cap: int | None = None, lo: int = 0, hi: int = TOP) -> int:
        """How many segments match (of rowids `lo`..`hi`), counting no further than `cap`."""
        with self.errors():
            return self.postings.count(matches, cap, lo, hi)

    def page(
        self, matches: Matches, order: str, limit: int, offset: int = 0, lo: int = 0, hi: int = TOP
    ) -> list[tuple[int, float | None]]:
        """(rowid, score: lower is better) of matches by `order` ('score', 'id DESC' or
        'id'), in an order that is the same for every `limit`."""
        with self.errors():
            return self.postings.page(matches, order, limit, offset, lo, hi)

    def day_counts(self, matches: Matches) -> dict[int, int]:
        """Matches per day number."""
        with self.errors():
            return self.postings.day_counts(matches)

    def hits(
        self,
        found: list[tuple[int, float | None]],
        parsed: ParsedQuery,
        context: int,
        redacted: bool,
    ) -> list[SearchHit | None]:
        """The hit of each (rowid, score) in `found`; None where the row is gone."""
        calls: dict[int, list[Segment]] = {}
        hits = []
        with self.errors():
            for rowid, score in found:
                located = self._locate(rowid, calls)
                hits.append(
                    None if located is None else _hit(*located, parsed, context, redacted, score)
                )
        return hits

    def _locate(self, rowid: int, calls: dict) -> tuple[list[Segment], int] | None:
        row = self.db.execute(
            "SELECT * FROM call WHERE id <= ? ORDER BY id DESC LIMIT 1", (rowid,)
        ).fetchone()
        if row is None or rowid - row[0] >= row[5]:
            return None
        if row[0] not in calls:
            calls[row[0]] = _call_segments(row)
        return calls[row[0]], rowid - row[0]


def _hit(
    segments: list[Segment],
    n: int,
    parsed: ParsedQuery,
    context: int,
    redacted: bool,
    score: float | None,
) -> SearchHit:
    seg = segments[n]
    if redacted:
        text, spans = _public_hit(seg.public or seg.text, parsed.highlights)
    else:
        text, spans = seg.text, highlight_spans(seg.text, parsed.highlights)
    hit_s = seg.start_s
    if spans:
        hit_s += (seg.end_s - seg.start_s) * (spans[0][0] / max(len(text), 1))
    shared = ("call_id", "agent_id", "queue", "speaker", "idx", "start_s", "end_s")
    return SearchHit(
        **{name: getattr(seg, name) for name in shared},
        date=row_day(seg.rowid).isoformat(),
        hit_s=round(hit_s, 2),
        text=text,
        highlights=spans,
        before=_context(segments[max(0, n - context) : n], redacted),
        after=_context(segments[n + 1 : n + 1 + context], redacted),
        categories=list(seg.categories),
        score=None if score is None else round(-score, 3),
    )


def _context(segments: list[Segment], redacted: bool) -> list[dict]:
    out = []
    for seg in segments:
        text = redact(seg.public or seg.text)[0] if redacted else seg.text
        out.append({"speaker": seg.speaker, "start_s": seg.start_s, "text": text})
    return out


# the stored form of a call ------------------------------------------------------------
def _call_rows(segments: list[Segment]) -> Iterator[tuple]:
    """One `call` row per call: its first segment's rowid, what it shares, its segments."""
    start = 0
    for end in range(1, len(segments) + 1):
        if end < len(segments) and segments[end].call_id == segments[start].call_id:
            continue
        group = segments[start:end]
        first = group[0]
        data = [
            [s.idx, round(s.start_s * 1000), round(s.end_s * 1000), s.speaker, s.text, s.public]
            for s in group
        ]
        blob = zlib.compress(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        categories = json.dumps(first.categories, ensure_ascii=False) if first.categories else None
        yield first.rowid, first.call_id, first.agent_id, first.queue, categories, len(group), blob
        start = end


def _call_segments(row: tuple) -> list[Segment]:
    rowid, call_id, agent_id, queue, categories, _, blob = row
    names = tuple(json.loads(categories)) if categories else ()
    return [
        Segment(
            rowid + n,
            call_id,
            idx,
            start / 1000,
            end / 1000,
            speaker,
            agent_id,
            queue,
            names,
            None,
            text,
            public,
        )  # fmt: skip
        for n, (idx, start, end, speaker, text, public) in enumerate(
            json.loads(zlib.decompress(blob))
        )
    ]


def segment_rows(segments: pa.Table, calls: pa.Table, first_id: int) -> list[Segment]:
    """A day's segments in call / segment order, with what their calls share."""
    columns = [c for c in ("call_id", "agent_id", "queue", "categories") if c in calls.schema.names]
    call_info = {row["call_id"]: row for row in calls.select(columns).to_pylist()}
    names = ["call_id", "idx", "start_s", "end_s", "speaker", "text"]
    names += [c for c in ("sentiment", "text_redacted") if c in segments.schema.names]
    table = segments.select(names).sort_by([("call_id", "ascending"), ("idx", "ascending")])
    out = []
    for n, seg in enumerate(table.to_pylist()):
        call = call_info.get(seg["call_id"], {})
        text = seg["text"] or ""
        out.append(
            Segment(
                rowid=first_id + n,
                call_id=seg["call_id"],
                idx=seg["idx"],
                start_s=seg["start_s"],
                end_s=seg["end_s"],
                speaker=seg["speaker"],
                agent_id=call.get("agent_id"),
                queue=call.get("queue"),
                categories=tuple(call.get("categories") or ()),
                sentiment=seg.get("sentiment"),
                text=text,
                public=_public_text(text, seg.get("text_redacted")),
            )
        )
    return out


def entries(segments: list[Segment], confusions: frozenset[str]) -> list[Entry]:
    """The full-text entries of `segments`: the public text of each, and the spoken text of
    those with personal data."""
    texts = []
    for seg in segments:
        texts.append(_searchable(seg.text if seg.public is None else seg.public))
        if seg.public is not None:
            texts.append(seg.text)
    worked = iter(all_words(texts, confusions))
    out = []
    for seg in segments:
        meta = _meta(seg, personal=seg.public is not None)
        out.append(_entry(seg, next(worked), meta, private=False))
        if seg.public is not None:
            out.append(_entry(seg, next(worked), meta, private=True))
    return out


PARALLEL_FROM = 100_000  # texts in one go before their words are worked out in processes


def all_words(texts: list[str], confusions: frozenset[str]) -> list[str]:
    """`words` of each text; a busy night's worth split over worker processes, one a core
    (each started as `python -m keywords.words`: nothing of the caller's runs again)."""
    workers = min(4, os.cpu_count() or 1)
    if len(texts) < PARALLEL_FROM or workers < 2:
        return [words(text, confusions) for text in texts]
    import pickle
    import subprocess
    import sys

    size = -(-len(texts) // workers)
    chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "callscope.keywords.words"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in chunks
    ]
    for proc, chunk in zip(procs, chunks, strict=True):
        pickle.dump((chunk, confusions), proc.stdin)
        proc.stdin.close()
    out = []
    for proc in procs:
        out += pickle.load(proc.stdout)
        if proc.wait() != 0:
            raise SearchIndexError("a worker working out index words failed; see its error above")
    return out


def _entry(seg: Segment, text_words: str, meta: str, private: bool) -> Entry:
    return Entry(seg.rowid, text_words, meta, private, seg.sentiment)


def words(text: str, confusions: frozenset[str]) -> str:
    """The words and the marked sounds of a segment's text, as the index stores them."""
    folded = fold(text)
    sounds = sound_tokens(folded, confusions)
    marked = MARK + sounds.replace(" ", " " + MARK) if sounds else ""
    return f"{folded_tokens(folded)} {marked}"


def matches_for(parsed: ParsedQuery, filters: SearchFilters, redacted: bool) -> Matches:
    """What a query with these filters matches, for either engine."""
    first, last = date_bounds(filters)
    return Matches(
        parsed.fts, parsed.tree, filters, redacted, _meta_groups(filters), first, last,
        parsed.text,
    )  # fmt: skip


def _meta(seg: Segment, personal: bool = False) -> str:
    """The filter tokens of a segment (recomputed, not stored, for deletes)."""
    tokens = [meta_token("speaker", seg.speaker or "unknown")]
    tokens += [meta_token("agent", seg.agent_id)] if seg.agent_id else []
    tokens += [meta_token("queue", seg.queue)] if seg.queue else []
    tokens += [meta_token("category", name) for name in seg.categories]
    tokens += [PERSONAL] if personal else []
    return " ".join(tokens)


def date_bounds(filters: SearchFilters) -> tuple[int, int]:
    lo = day_bounds(filters.date_from)[0] if filters.date_from else 0
    hi = day_bounds(filters.date_to)[1] if filters.date_to else TOP
    return lo, hi


def _meta_groups(filters: SearchFilters) -> tuple[tuple[str, ...], ...]:
    return tuple(
        tuple(meta_token(kind, value) for value in values)
        for kind, values in (
            ("agent", filters.agents),
            ("queue", filters.queues),
            ("speaker", filters.speakers),
            ("category", filters.categories),
        )
        if values
    )


def _public_hit(shown: str, patterns: list) -> tuple[str, list[tuple[int, int]]]:
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


# what went wrong with an index file ------------------------------------------------------
def diagnose(path: Path, exc: sqlite3.Error) -> str:
    """What is wrong with the index file at `path` after `exc`. A rebuild is advised only when
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
