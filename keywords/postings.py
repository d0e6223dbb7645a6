"""The full-text part of an index shard, in one of two engines chosen by measurement
(`bench/search.py`, README "Search at a year's scale"):

- `TantivyPostings`: Tantivy (the `tantivy` package, an embedded Rust engine), a folder
  beside the shard's SQLite file. The default.
- `Fts5Postings`: SQLite FTS5 tables inside the shard's file.

Both index the same tokens (keywords/shard.py `words` and the filter tokens) and answer the same `Matches`: the parsed
query, the filters, and whether personal data is left out. The public text of a segment with
personal data and its spoken text are two entries: a redacted search reads the public ones
only, a full search the public ones without personal data plus the spoken ones.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from callscope.core.errors import CallscopeError
from callscope.core.sounds import query_phrases
from callscope.core.text import fold, is_han, run_tokens, runs
from callscope.keywords.query import MARK, All, Any, QueryError, Term

TOP = 1 << 62
DAY_SHIFT = 32
ENGINES = ("tantivy", "sqlite")
WRITER_WAIT_S = 60.0


@lru_cache(maxsize=65536)
def meta_token(kind: str, value: str) -> str:
    """A filter token: marked, so that no word typed or spoken is one."""
    return MARK + "m" + hashlib.sha1(f"{kind}\x00{value}".encode()).hexdigest()[:12]


PERSONAL = meta_token("personal", "data")  # the filter token of segments with personal data
PRIVATE = meta_token("spoken", "text")  # marks an entry of the spoken text (tantivy)


class PostingsError(CallscopeError):
    """The full-text files of a shard cannot be used; the message says why."""


@dataclass(frozen=True)
class Entry:
    """What the full text holds of one segment: its public text, or (`private`) its spoken
    text where that has personal data."""

    rowid: int
    words: str  # the words and marked sounds
    meta: str  # the filter tokens (with the personal-data token where the segment has some)
    private: bool
    sentiment: float | None

    @property
    def fts5_body(self) -> str:  # the private table is apart
        return f"{self.words} {self.meta}"

    @property
    def tantivy_body(self) -> str:  # one index: the spoken entry marked, not personal-marked
        if not self.private:
            return f"{self.words} {self.meta}"
        meta = " ".join(t for t in self.meta.split() if t != PERSONAL)
        return f"{self.words} {meta} {PRIVATE}"


@dataclass(frozen=True)
class Matches:
    """The segments a query matches: `fts` and `tree` are the same query for each engine."""

    fts: str
    tree: object
    filters: object  # SearchFilters
    redacted: bool
    meta: tuple[tuple[str, ...], ...]  # filter token groups: one of each group must be there
    first: int  # rowids within the filters' dates
    last: int
    query: str = ""  # as typed: what a shard on another machine parses again


# SQLite FTS5 ----------------------------------------------------------------------------
FTS5_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    body, content='', tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
CREATE VIRTUAL TABLE IF NOT EXISTS fts_private USING fts5(
    body, content='', tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
"""


class Fts5Postings:
    def __init__(self, db, writable: bool):
        self.db = db
        if writable:
            db.executescript(FTS5_SCHEMA)

    def replace(self, lo: int, hi: int, old: list[Entry], new: list[Entry]) -> None:
        """Swap the entries `old` for `new` (a contentless entry is deleted by giving back
        the tokens it was given)."""
        self.replace_ranges([(lo, hi)], old, new)

    def replace_ranges(
        self, ranges: list[tuple[int, int]], old: list[Entry], new: list[Entry]
    ) -> None:
        """Swap the entries `old` (those of rowids in `ranges`) for `new`."""
        for entries, sql in (
            (old, "INSERT INTO {0}({0}, rowid, body) VALUES ('delete', ?, ?)"),
            (new, "INSERT INTO {0}(rowid, body) VALUES (?, ?)"),
        ):
            for table, private in (("fts", False), ("fts_private", True)):
                rows = [(e.rowid, e.fts5_body) for e in entries if e.private == private]
                self.db.executemany(sql.format(table), rows)

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def count(self, matches: Matches, cap: int | None, lo: int, hi: int) -> int:
        sql, args = self._select(matches, lo, hi, scored=False)
        limit = "" if cap is None else f" LIMIT {int(cap)}"
        return self.db.execute(f"SELECT count(*) FROM ({sql}{limit})", args).fetchone()[0]

    def page(self, matches: Matches, order: str, limit: int, offset: int, lo: int, hi: int):
        sql, args = self._select(matches, lo, hi, scored=order == "score")
        by = "score, id DESC" if order == "score" else order
        return self.db.execute(
            f"{sql} ORDER BY {by} LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()

    def day_counts(self, matches: Matches) -> dict[int, int]:
        sql, args = self._select(matches, 0, TOP, scored=False)
        rows = self.db.execute(
            f"SELECT id >> {DAY_SHIFT} AS day, count(*) FROM ({sql}) GROUP BY day", args
        ).fetchall()
        return dict(rows)

    def optimize(self) -> None:
        for table in ("fts", "fts_private"):
            self.db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")

    def close(self) -> None:
        pass

    def _select(self, matches: Matches, lo: int, hi: int, scored: bool) -> tuple[str, tuple]:
        meta = "".join(f" AND ({' OR '.join(group)})" for group in matches.meta)
        if matches.redacted:
            return self._one("fts", matches.fts + meta, matches, lo, hi, scored)
        public = f"({matches.fts} NOT {PERSONAL})" + meta
        sql_a, args_a = self._one("fts", public, matches, lo, hi, scored)
        sql_b, args_b = self._one("fts_private", matches.fts + meta, matches, lo, hi, scored)
        return f"{sql_a} UNION ALL {sql_b}", args_a + args_b

    def _one(self, table: str, match: str, matches: Matches, lo: int, hi: int, scored: bool):
        where, args = _sentiment_where(matches.filters)
        join = f" JOIN sentiment s ON s.id = {table}.rowid" if args else ""
        score = f"bm25({table})" if scored else "NULL"
        sql = (
            f"SELECT {table}.rowid AS id, {score} AS score FROM {table}{join} "
            f"WHERE {table} MATCH ? AND {table}.rowid BETWEEN ? AND ?{where}"
        )
        return sql, (match, max(lo, matches.first), min(hi, matches.last), *args)


def _sentiment_where(filters) -> tuple[str, tuple]:
    clauses, args = [], []
    if filters.sentiment_min is not None:
        clauses.append(" AND s.value >= ?")
        args.append(filters.sentiment_min)
    if filters.sentiment_max is not None:
        clauses.append(" AND s.value <= ?")
        args.append(filters.sentiment_max)
    return "".join(clauses), tuple(args)


# Tantivy ----------------------------------------------------------------------------------
class TantivyPostings:
    def __init__(self, folder: Path, writable: bool, confusions: frozenset[str]):
        import tantivy

        self.tantivy = tantivy
        self.folder = Path(folder)
        self.confusions = confusions
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", tokenizer_name="whitespace", index_option="position")
        builder.add_unsigned_field("rowid", indexed=True, fast=True)
        builder.add_float_field("sentiment", indexed=True, fast=True)
        self.schema = builder.build()
        if not writable and not (self.folder / "meta.json").exists():
            raise PostingsError(f"{self.folder} is missing: the shard's full-text part is gone")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.index = tantivy.Index(self.schema, path=str(self.folder), reuse=True)
        except (OSError, ValueError) as exc:
            raise PostingsError(f"{self.folder} cannot be opened ({exc})") from exc
        self._writer = None
        self._stamp = None

    # writing ----------------------------------------------------------------------------
    def replace(self, lo: int, hi: int, old: list[Entry], new: list[Entry]) -> None:
        """Swap the shard's entries of rowids `lo`..`hi` for `new`."""
        self.replace_ranges([(lo, hi)], old, new)

    def replace_ranges(
        self, ranges: list[tuple[int, int]], old: list[Entry], new: list[Entry]
    ) -> None:
        """Swap the shard's entries of rowids in `ranges` (each `lo`, `hi`) for `new`."""
        writer = self._take_writer()
        unsigned = self.tantivy.FieldType.Unsigned
        for lo, hi in ranges:
            writer.delete_documents_by_query(
                self.tantivy.Query.range_query(self.schema, "rowid", unsigned, lo, hi)
            )
        for entry in new:
            doc = self.tantivy.Document()
            doc.add_text("body", entry.tantivy_body)
            doc.add_unsigned("rowid", entry.rowid)
            if entry.sentiment is not None:
                doc.add_float("sentiment", float(entry.sentiment))
            writer.add_document(doc)

    def _take_writer(self):
        """The index's one writer; another process holding it is waited for."""
        if self._writer is None:
            deadline = time.monotonic() + WRITER_WAIT_S
            while True:
                try:
                    self._writer = self.index.writer(heap_size=64_000_000, num_threads=2)
                    break
                except ValueError as exc:
                    if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                        raise PostingsError(
                            f"{self.folder} is being written by another process: try again "
                            "when it has finished"
                        ) from exc
                    time.sleep(0.2)
        return self._writer

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None  # the lock goes with it: other processes may write

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    def optimize(self) -> None:
        writer = self._take_writer()
        writer.garbage_collect_files()
        self.commit()

    def close(self) -> None:
        self.abort()

    # reading ----------------------------------------------------------------------------
    def _searcher(self):
        """Follows the writers' commits (a new meta.json)."""
        try:
            info = (self.folder / "meta.json").stat()
        except OSError as exc:
            raise PostingsError(f"{self.folder} cannot be read ({exc.strerror})") from exc
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp != self._stamp:
            self.index.reload()
            self._stamp = stamp
        return self.index.searcher()

    def count(self, matches: Matches, cap: int | None, lo: int, hi: int) -> int:
        found = self._searcher().search(self._query(matches, lo, hi), 1, count=True).count
        return found if cap is None else min(found, cap)

    def page(self, matches: Matches, order: str, limit: int, offset: int, lo: int, hi: int):
        if limit <= 0:
            return []
        searcher = self._searcher()
        query = self._query(matches, lo, hi)
        if order == "score":
            found = searcher.search(query, limit, count=False, offset=offset).hits
            rowids = searcher.fast_field_values("rowid", [address for _, address in found])
            return [(rowid, -score) for (score, _), rowid in zip(found, rowids, strict=True)]
        direction = self.tantivy.Order.Asc if order == "id" else self.tantivy.Order.Desc
        found = searcher.search(
            query, limit, count=False, offset=offset, order_by_field="rowid", order=direction
        ).hits
        return [(rowid, None) for rowid, _ in found]

    def day_counts(self, matches: Matches) -> dict[int, int]:
        spec = {"days": {"histogram": {"field": "rowid", "interval": 1 << DAY_SHIFT}}}
        found = self._searcher().aggregate(self._query(matches, 0, TOP), spec)
        return {
            int(bucket["key"]) >> DAY_SHIFT: bucket["doc_count"]
            for bucket in found["days"]["buckets"]
            if bucket["doc_count"]
        }

    # the parsed query as tantivy's objects ----------------------------------------------
    def _query(self, matches: Matches, lo: int, hi: int):
        Occur, Query = self.tantivy.Occur, self.tantivy.Query
        if matches.tree is None:
            raise QueryError("the search index cannot run this query (it was not parsed)")
        parts = [(Occur.Must, self._node(matches.tree))]
        for group in matches.meta:
            options = [(Occur.Should, self._term(token)) for token in group]
            parts.append((Occur.Must, Query.const_score_query(Query.boolean_query(options), 0.0)))
        unsigned, real = self.tantivy.FieldType.Unsigned, self.tantivy.FieldType.Float
        first, last = max(lo, matches.first), min(hi, matches.last)
        if first > 0 or last < TOP:
            rows = Query.range_query(self.schema, "rowid", unsigned, first, last)
            parts.append((Occur.Must, Query.const_score_query(rows, 0.0)))
        low, high = matches.filters.sentiment_min, matches.filters.sentiment_max
        if low is not None or high is not None:
            sentiment = Query.range_query(
                self.schema,
                "sentiment",
                real,
                None if low is None else float(low),
                None if high is None else float(high),
            )
            parts.append((Occur.Must, Query.const_score_query(sentiment, 0.0)))
        left_out = PRIVATE if matches.redacted else PERSONAL
        parts.append((Occur.MustNot, self._term(left_out)))
        return Query.boolean_query(parts)

    def _node(self, node):
        Occur, Query = self.tantivy.Occur, self.tantivy.Query
        if isinstance(node, Term):
            return self._sounds(node) if node.sounds else self._words(node)
        if isinstance(node, All):
            return Query.boolean_query([(Occur.Must, self._node(p)) for p in node.parts])
        if isinstance(node, Any):
            return Query.boolean_query([(Occur.Should, self._node(p)) for p in node.parts])
        keep = [(Occur.Must, self._node(node.keep))]
        return Query.boolean_query(keep + [(Occur.MustNot, self._node(p)) for p in node.drop])

    def _words(self, term: Term):
        folded = runs(fold(term.text.rstrip("*")))
        tokens = [token for run in folded for token in run_tokens(run)]
        if term.prefix or (is_han(folded[-1][0]) and len(folded[-1]) == 1):
            if len(tokens) == 1:
                pattern = re.escape(tokens[0]) + ".*"
                return self.tantivy.Query.regex_query(self.schema, "body", pattern)
            return self.tantivy.Query.phrase_prefix_query(self.schema, "body", tokens)
        return self._phrase(tokens)

    def _sounds(self, term: Term):
        Occur, Query = self.tantivy.Occur, self.tantivy.Query
        options = [self._words(term)]
        for tokens in query_phrases(fold(term.text), self.confusions) or []:
            options.append(self._phrase([MARK + token for token in tokens]))
        return Query.boolean_query([(Occur.Should, option) for option in options])

    def _phrase(self, tokens: list[str]):
        if len(tokens) == 1:
            return self._term(tokens[0])
        return self.tantivy.Query.phrase_query(self.schema, "body", tokens)

    def _term(self, token: str):
        return self.tantivy.Query.term_query(self.schema, "body", token)
