"""The transcript search index: a folder of shards (keywords/shard.py), one per month (or
week, or day: `search.shard_period`), queried newest first and merged, so a query's cost
follows the shards it touches and the page it returns, not the whole history.

    <folder>/manifest.json           {"period": "month", "shards": {"2026-10-01": ...}}
    <folder>/2026-10-01.1.sqlite     October's segments (generation 1)

A shard's key is the first day of its period. The manifest names the file that serves each
key. A shard is rebuilt (a new index version, other sounds-like confusions) into a file of the
next generation while readers keep the old one; the manifest is then switched in one rename,
and readers move over at their next query.

Totals are exact up to a cap (at least `rank_window` and the page asked for) and shown as
"N+" beyond it, as large search engines do: counting stops once the newest shards hold that
many matches. Relevance is BM25 among the newest `rank_window` matches, each shard scoring its
own (as distributed engines do without a global statistics pass), merged by score; older
matches follow newest first.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import heapq
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from callscope.core.logs import get_logger
from callscope.core.sounds import ALL_CONFUSIONS
from callscope.keywords.postings import ENGINES
from callscope.keywords.query import ParsedQuery, parse, with_names
from callscope.keywords.remote import (
    RemoteOptions,
    RemoteShard,
    ShardHostClient,
    ShardUnavailable,
    token_from_env,
)
from callscope.keywords.shard import (
    FORMAT,
    TOP,
    IndexShard,
    Matches,
    SearchFilters,
    SearchHit,
    SearchIndexError,
    _call_segments,
    date_bounds,
    day_bounds,
    diagnose,
    entries,
    matches_for,
    meta_token,
    postings_folder,
    segment_rows,
    shard_version,
)
from callscope.keywords.shard import SearchResult as ShardsResult

__all__ = [
    "INDEX_VERSION",
    "SORTS",
    "SearchFilters",
    "SearchHit",
    "SearchIndex",
    "SearchIndexError",
    "SearchResult",
    "ShardUnavailable",
    "diagnose",
    "index_version",
    "meta_token",
    "period_start",
    "open_index",
]

logger = get_logger(__name__)

INDEX_VERSION = FORMAT
SORTS = ("relevance", "newest", "oldest")
MANIFEST = "manifest.json"
PERIODS = ("year", "month", "week", "day")  # what one shard holds
TOTAL_CAP = 10_000  # totals are exact up to at least this many matches


def index_version(confusions: frozenset[str]) -> str:
    """What an index holds: its format, the tokenizers' version and the sounds-like confusions."""
    return shard_version(frozenset(confusions))


def period_start(day: dt.date, period: str) -> dt.date:
    if period == "year":
        return day.replace(month=1, day=1)
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day


def period_last(first: dt.date, period: str) -> dt.date:
    if period == "year":
        return first.replace(month=12, day=31)
    if period == "month":
        return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return first + dt.timedelta(days=6 if period == "week" else 0)


def open_index(settings, create: bool = True) -> SearchIndex:
    """The configured index (`search.index`, the sounds-like confusions of `keywords`, the
    shards of other machines and how long they are waited for)."""
    return SearchIndex(
        settings.search_index,
        create,
        settings.keywords.sounds_like.confusion_set,
        settings.search.shard_period,
        settings.search.engine,
        settings.search.remote_shards,
        RemoteOptions(
            settings.search.remote_timeout_s,
            settings.search.remote_cooldown_s,
            settings.search.remote_partial_results,
        ),
        settings.keywords.catalogue,
    )


@dataclass
class SearchResult(ShardsResult):
    """A page of matches. Where a shard host did not answer, the page and its totals are those
    of the other shards: `missing_shards` names each shard left out (key, host, reason) and
    `warnings` says so in words, for the caller to show."""

    missing_shards: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def noting(self, missing: dict[str, ShardUnavailable]) -> SearchResult:
        """This result, naming the shards left out (shard key -> why)."""
        self.missing_shards = [
            {"key": key, "host": exc.host, "reason": str(exc)}
            for key, exc in sorted(missing.items())
        ]
        by_host: dict[str, list[str]] = {}
        for key, exc in missing.items():
            by_host.setdefault(exc.host, []).append(key)
        self.warnings = [  # the first trouble of each host (its other shards were skipped)
            f"results incomplete: shard(s) {', '.join(sorted(keys))} left out: {missing[keys[0]]}"
            for keys in by_host.values()
        ]
        for warning in self.warnings:
            logger.warning("search %r: %s", self.query, warning)
        return self


@dataclass(frozen=True)
class _Part:
    """A shard, or the rowids `lo`..`hi` of one, in the order a query walks them."""

    shard: IndexShard
    lo: int = 0
    hi: int = TOP


class SearchIndex:
    def __init__(
        self,
        path: Path,
        create: bool = True,
        confusions: frozenset[str] = ALL_CONFUSIONS,
        period: str = "month",
        engine: str = "tantivy",
        remote: dict[str, str] | None = None,
        remote_options: RemoteOptions | None = None,
        catalogue: Path | None = None,
    ):
        """`confusions` are the sounds-like merges of the sound tokens and `~term` queries
        (keywords.sounds_like.confusions); a shard built with others is rebuilt. `remote`:
        shard key -> the URL of the host that serves it; `remote_options`: how long it is
        waited for, and whether a search goes on without a host that fails (naming it)."""
        self.path = Path(path)
        self.catalogue = catalogue  # names searched with their aliases and sounds (read each time)
        self.confusions = frozenset(confusions)
        self.version = index_version(self.confusions)
        self.writable = create
        self.created = False  # made by this call: every day of the warehouse is to be indexed
        if self.path.is_file():
            raise SearchIndexError(
                f"{self.path} is a single-file search index of an earlier version; the index "
                "is now a folder of monthly shards: delete the file (or point search.index at a "
                "folder) and run `callscope index update --all`"
            )
        manifest = self.path / MANIFEST
        if period not in PERIODS:
            raise SearchIndexError(f"search.shard_period {period!r}: use one of {PERIODS}")
        if engine not in ENGINES:
            raise SearchIndexError(f"search.engine {engine!r}: use one of {ENGINES}")
        # a new index's period and engine; an existing one keeps those it was built with
        self.period, self.engine = period, engine
        if not manifest.exists():
            if not create:
                raise SearchIndexError(
                    f"no search index at {self.path}; run `callscope index update` (the "
                    "nightly flow keeps it up to date)"
                )
            self._create()
        self.remote = dict(remote or {})  # shard key -> the URL of the host that serves it
        self.remote_options = remote_options or RemoteOptions()
        self._remote: dict[str, RemoteShard] = {}
        self._clients: dict[str, ShardHostClient] = {}
        self._listed: dict[str, dict[str, frozenset[str]]] = {}  # URL -> its shards
        self._files: dict[str, str] = {}
        self._shards: dict[str, IndexShard] = {}
        self._stamp: tuple | None = None
        self._refresh()

    def _create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with self._manifest_lock():
                if not (self.path / MANIFEST).exists():
                    self._write_manifest({})
                    self.created = True
        except OSError as exc:
            raise SearchIndexError(
                f"cannot create the search index folder {self.path} ({exc.strerror or exc}); "
                "check the path and its owner"
            ) from exc

    # the manifest --------------------------------------------------------------------
    @contextmanager
    def _manifest_lock(self) -> Iterator[None]:
        with (self.path / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write_manifest(self, files: dict[str, str]) -> None:
        staged = self.path / (MANIFEST + ".tmp")
        manifest = {
            "period": self.period,
            "engine": self.engine,
            "shards": dict(sorted(files.items())),
        }
        staged.write_text(json.dumps(manifest, indent=1))
        os.replace(staged, self.path / MANIFEST)

    def _serve(self, key: str, name: str, new: bool = False) -> None:
        """Name `name` in the manifest as the file of shard `key`; `new`: create it first,
        unless another process has made the shard meanwhile."""
        with self._manifest_lock():
            self._stamp = None
            self._refresh()
            if not (new and key in self._files):
                if new:
                    IndexShard(self.path / name, self.confusions, engine=self.engine).close()
                self._write_manifest({**self._files, key: name})
        self._refresh()

    def _refresh(self) -> None:
        """Follow the manifest: open shards lazily, close those it no longer names."""
        manifest = self.path / MANIFEST
        try:
            info = manifest.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
            if stamp == self._stamp:
                return
            stored = json.loads(manifest.read_text())
            files, period, engine = stored["shards"], stored["period"], stored["engine"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SearchIndexError(
                f"{manifest} cannot be read ({exc}); delete the folder {self.path} and run "
                "`callscope index update --all` (the index is rebuilt from the warehouse)"
            ) from exc
        for key, shard in list(self._shards.items()):
            if files.get(key) != self._files.get(key):
                shard.close()
                del self._shards[key]
        self._files, self._stamp, self.period, self.engine = files, stamp, period, engine

    def shard(self, key: str) -> IndexShard:
        shard = self._shards.get(key)
        if shard is None:
            path = self.path / self._files[key]
            shard = IndexShard(
                path, self.confusions, writable=self.writable, create=False, engine=self.engine
            )
            self._shards[key] = shard
        return shard

    def _writable_shard(self, key: str) -> IndexShard:
        self._refresh()
        if key not in self._files:
            self._serve(key, f"{key}.1.sqlite", new=True)
        shard = self.shard(key)
        if not shard.current:
            raise SearchIndexError(
                f"{shard.path} was built by {shard.stored_version}; run `callscope index "
                "update` to rebuild that shard for this version"
            )
        return shard

    def key_of(self, day: dt.date) -> str:
        """The shard that holds `day`: the first day of its period."""
        self._refresh()
        return period_start(day, self.period).isoformat()

    def key_days(self, key: str) -> tuple[dt.date, dt.date]:
        first = dt.date.fromisoformat(key)
        return first, period_last(first, self.period)

    def keys(self) -> list[str]:
        self._refresh()
        return sorted(self._files)

    def shard_files(self) -> dict[str, Path]:
        self._refresh()
        return {key: self.path / name for key, name in sorted(self._files.items())}

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for key in self.keys() for p in self.shard(key).files())

    def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()

    # writing -------------------------------------------------------------------------
    def outdated(self, key: str) -> bool:
        """Whether shard `key` exists and another index version or other confusions built it."""
        return key in self.keys() and not self.shard(key).current

    def outdated_keys(self) -> list[str]:
        """Shards another index version or other confusions built."""
        return [key for key in self.keys() if not self.shard(key).current]

    @contextmanager
    def rebuilding(self, key: str) -> Iterator[IndexShard]:
        """A fresh shard for `key`, served once the block ends without error; until then
        readers keep the old one."""
        self._refresh()
        old = self._files.get(key)
        generation = int(old.split(".")[1]) + 1 if old else 1
        path = self.path / f"{key}.{generation}.sqlite"
        _remove_files(path)
        fresh = IndexShard(path, self.confusions, engine=self.engine)
        try:
            yield fresh
            fresh.optimize()
        except BaseException:
            fresh.close()
            _remove_files(path)
            raise
        fresh.close()
        self._serve(key, path.name)
        if old:
            _remove_files(self.path / old)
        logger.info("search index: %s rebuilt into %s", key, path.name)

    def fingerprint(self, day: dt.date) -> str | None:
        self._refresh()
        key = self.key_of(day)
        if key not in self._files or not self.shard(key).current:
            return None
        return self.shard(key).fingerprint(day)

    def indexed_days(self) -> dict[dt.date, int]:
        days: dict[dt.date, int] = {}
        for key in self.keys():
            days |= self.shard(key).indexed_days()
        return dict(sorted(days.items()))

    def index_day(self, day: dt.date, segments: pa.Table, calls: pa.Table, fingerprint: str) -> int:
        """Replace the day's rows with `segments` (joined to `calls` for agent, queue and
        categories); returns the number of segments indexed."""
        return index_into(self._writable_shard(self.key_of(day)), day, segments, calls, fingerprint)

    def refresh_calls(self, day: dt.date, calls: pa.Table, fingerprint: str) -> CallsRefresh | None:
        """Bring the call-level columns of the day's rows in line with `calls`, its segments
        as they were indexed (refresh_calls_into); None where the day is to be re-indexed."""
        return refresh_calls_into(self._writable_shard(self.key_of(day)), day, calls, fingerprint)

    def remove_day(self, day: dt.date) -> None:
        if self.key_of(day) in self.keys():
            self._writable_shard(self.key_of(day)).remove_day(day)

    def seal(self, before: str) -> list[str]:
        """Optimize (merge into one b-tree each) the shards before `before` (a key) that were
        written to since their last optimize: a closed period is read, not written."""
        sealed = []
        for key in [key for key in self.keys() if key < before][-2:]:  # the latest closed
            shard = self.shard(key)
            if shard.current and not shard.sealed:
                shard.optimize()
                shard.mark_sealed()
                sealed.append(key)
        return sealed

    def optimize(self) -> None:
        for key in self.keys():
            self.shard(key).optimize()

    def checkpoint(self) -> None:
        for key in self.keys():
            self.shard(key).checkpoint()

    # searching -----------------------------------------------------------------------
    def parse(self, query: str | ParsedQuery) -> ParsedQuery:
        return parse(query, self.confusions) if isinstance(query, str) else query

    def named(self, query: str | ParsedQuery) -> str | ParsedQuery:
        """A query text with the names of the catalogue of names searched as names
        (query.with_names): their aliases and what sounds like them as well."""
        if not isinstance(query, str) or self.catalogue is None:
            return query
        from callscope.core.catalogue import load_catalogue

        catalogue = load_catalogue(self.catalogue)
        names = {key: entry.spellings for key, entry in catalogue.by_spelling().items()}
        return with_names(query, names)

    def _reading(
        self, filters: SearchFilters, missing: dict[str, ShardUnavailable] | None = None
    ) -> list[IndexShard]:
        """The shards a query reads, newest first: those that can serve it, within its dates.
        A shard whose host cannot answer now raises ShardUnavailable, or with `missing` is put
        there (shard key -> why) and left out."""
        self._refresh()
        lo, hi = date_bounds(filters)
        out = []
        for key in sorted(set(self._files) | set(self.remote), reverse=True):
            first, last = self.key_days(key)
            if day_bounds(last)[1] < lo or day_bounds(first)[0] > hi:
                continue
            if key in self._files:
                shard = self.shard(key)
            elif missing is not None and key in missing:
                continue
            else:
                try:
                    shard = self._remote_shard(key)
                except ShardUnavailable as exc:
                    if missing is None:
                        raise
                    missing[key] = exc.of(key)
                    continue
            if shard.readable:
                out.append(shard)
            else:
                logger.warning("search index: %s is being rebuilt; left out of searches", key)
        return out

    def _remote_shard(self, key: str) -> RemoteShard:
        """Shard `key` of the machine that serves it (keys this folder has itself stay local);
        ShardUnavailable while that host cannot answer. What a host serves is asked once it
        answers, and again after it did not."""
        url = self.remote[key].rstrip("/")
        client = self._clients.get(url)
        if client is None:
            token = token_from_env()
            client = self._clients[url] = ShardHostClient(url, token, self.remote_options)
        client.check(key)
        if url not in self._listed:
            self._listed[url] = client.listing()
        if key not in self._listed[url]:
            raise ShardUnavailable(url, f"the shard host {url} does not serve shard {key}", key)
        if key not in self._remote:
            self._remote[key] = RemoteShard(client, key, self._listed[url][key])
        return self._remote[key]

    def _plans(
        self, query, parsed: ParsedQuery, shards: list, filters: SearchFilters, redacted: bool
    ) -> dict[int, tuple[ParsedQuery, Matches]]:
        """The query as each shard reads it (by id): by the confusions its sound tokens were
        made with (a shard waiting to be rebuilt for others still answers `~term` right)."""
        by_confusions = {self.confusions: parsed}
        plans = {}
        for shard in shards:
            confusions = shard.read_confusions if isinstance(query, str) else self.confusions
            if confusions not in by_confusions:
                by_confusions[confusions] = parse(query, confusions)
            chosen = by_confusions[confusions]
            plans[id(shard)] = chosen, matches_for(chosen, filters, redacted)
        return plans

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
        total_cap: int = TOTAL_CAP,
    ) -> SearchResult:
        """A page of matches. `redacted` searches as roles without access to personal data:
        only the public text is matched and counted, and hits show it."""
        started = time.perf_counter()
        query = self.named(query)
        parsed = self.parse(query)
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {SORTS}")
        filters = filters or SearchFilters()
        page = (limit, offset, sort, rank_window, context, redacted, total_cap)
        missing: dict[str, ShardUnavailable] | None = {} if self.remote_options.partial else None
        while True:  # each round leaves out one more shard (of those on shard hosts) or ends
            shards = self._reading(filters, missing)
            try:
                result = self._search(query, parsed, shards, filters, *page)
                break
            except ShardUnavailable as exc:
                if missing is None or exc.key is None or exc.key in missing:
                    raise
                missing[exc.key] = exc
        result.took_ms = (time.perf_counter() - started) * 1000
        return result.noting(missing) if missing else result

    def _search(
        self,
        query: str | ParsedQuery,
        parsed: ParsedQuery,
        shards: list,
        filters: SearchFilters,
        limit: int,
        offset: int,
        sort: str,
        rank_window: int,
        context: int,
        redacted: bool,
        total_cap: int,
    ) -> SearchResult:
        """A page of matches of `shards`."""
        query_plan = _Query(
            self._plans(query, parsed, shards, filters, redacted),
            shards,
            cap=max(total_cap, rank_window, offset + limit),
        )
        total, more = query_plan.total()
        if sort == "newest":
            found, ranked_among = query_plan.walk(query_plan.newest(), offset, limit), total
        elif sort == "oldest":
            found = query_plan.walk(query_plan.oldest(), offset, limit, order="id")
            ranked_among = total
        elif total <= rank_window and not more:
            found, ranked_among = query_plan.ranked(query_plan.newest(), offset, limit), total
        else:
            found, ranked_among = query_plan.windowed(rank_window, offset, limit), rank_window
        hits = query_plan.hits(found, context, redacted)
        return SearchResult(parsed.text, total, ranked_among, offset, limit, sort, hits, 0.0, more)

    def day_counts(
        self, query: str | ParsedQuery, filters: SearchFilters | None = None, redacted: bool = False
    ) -> dict[dt.date, int]:
        """How many segments match on each day (days without a match left out). Counts have
        no room to name a shard left out: a shard host that cannot answer is an error."""
        filters = filters or SearchFilters()
        shards = self._reading(filters)
        query = self.named(query)
        plans = self._plans(query, self.parse(query), shards, filters, redacted)
        counts: dict[int, int] = {}
        for shard in shards:
            counts |= shard.day_counts(plans[id(shard)][1])
        epoch = dt.date(1970, 1, 1)
        return {epoch + dt.timedelta(days=day): n for day, n in sorted(counts.items())}


class _Query:
    """One query over the shards it reads (newest first): counts, kept as they are learnt."""

    def __init__(self, plans: dict, shards: list[IndexShard], cap: int):
        self.plans = plans  # id(shard) -> (parsed query, matches)
        self.shards = shards
        self.cap = cap
        self._counts: dict[tuple[int, int, int], tuple[int, int]] = {}  # part -> (count, cap)

    def matches(self, shard: IndexShard) -> Matches:
        return self.plans[id(shard)][1]

    def parsed(self, shard: IndexShard) -> ParsedQuery:
        return self.plans[id(shard)][0]

    def count(self, part: _Part, cap: int) -> tuple[int, bool]:
        """Matches in `part`, counted up to `cap`; and whether that is all of them."""
        key = (id(part.shard), part.lo, part.hi)
        if key in self._counts:
            value, used = self._counts[key]
            if value < used:  # that was all of them
                return min(value, cap), value < cap
            if used >= cap:
                return cap, False
        value = part.shard.count(self.matches(part.shard), cap, part.lo, part.hi)
        self._counts[key] = (value, cap)
        return value, value < cap

    def total(self) -> tuple[int, bool]:
        """Matches counted newest first up to the cap; True when more may lie beyond. The
        newest shard first (a common word stops there), then the others at once."""
        parts = self.newest()
        if not parts:
            return 0, False
        counted = [self.count(parts[0], self.cap)]
        if counted[0][0] < self.cap:
            counted += _fan_out(lambda part: self.count(part, self.cap), parts[1:])
        seen = 0
        for n, (value, whole) in enumerate(counted):
            seen += value
            if seen >= self.cap:
                return self.cap, seen > self.cap or not whole or n < len(parts) - 1
        return seen, False

    def newest(self) -> list[_Part]:
        return [_Part(shard) for shard in self.shards]

    def oldest(self) -> list[_Part]:
        return [_Part(shard) for shard in reversed(self.shards)]

    def walk(self, parts: list[_Part], skip: int, need: int, order: str = "id DESC") -> list[tuple]:
        """`need` matches after the first `skip`, through `parts` in turn, each by `order`."""
        found: list[tuple] = []
        for part in parts:
            if need <= 0:
                break
            value, _ = self.count(part, skip + need)
            if value <= skip:
                skip -= value
                continue
            rows = part.shard.page(self.matches(part.shard), order, need, skip, part.lo, part.hi)
            found += [(part.shard, rowid, None) for rowid, _ in rows]
            need -= len(rows)
            skip = 0
        return found

    def ranked(self, parts: list[_Part], skip: int, need: int) -> list[tuple]:
        """The best `need` after `skip` by score, each part scoring its own best; equal
        scores in the parts' own order, so that every page agrees with the others."""
        pages = _fan_out(
            lambda part: part.shard.page(
                self.matches(part.shard), "score", skip + need, 0, part.lo, part.hi
            ),
            parts,
        )
        best = [
            (score, n, k, part.shard, rowid)
            for n, (part, rows) in enumerate(zip(parts, pages, strict=True))
            for k, (rowid, score) in enumerate(rows)
        ]
        chosen = heapq.nsmallest(skip + need, best, key=lambda item: item[:3])
        return [(shard, rowid, score) for score, _, _, shard, rowid in chosen[skip:]]

    def hits(self, found: list[tuple], context: int, redacted: bool) -> list[SearchHit]:
        """The hits of `found` (shard, rowid, score) in its order, one call to each shard."""
        by_shard: dict[int, list[int]] = {}
        for n, (shard, _, _) in enumerate(found):
            by_shard.setdefault(id(shard), []).append(n)
        out: list[SearchHit | None] = [None] * len(found)
        for places in by_shard.values():
            shard = found[places[0]][0]
            rows = [found[n][1:] for n in places]
            got = shard.hits(rows, self.parsed(shard), context, redacted)
            for n, hit in zip(places, got, strict=True):
                out[n] = hit
        return [hit for hit in out if hit is not None]

    def windowed(self, window: int, skip: int, need: int) -> list[tuple]:
        """Rank the newest `window` matches; list the older ones newest first after them."""
        inside, older, seen = [], [], 0
        for part in self.newest():
            if seen >= window:
                older.append(part)
                continue
            value, whole = self.count(part, window - seen)
            if whole and seen + value <= window:
                inside.append(part)
                seen += value
                continue
            matches = self.matches(part.shard)
            floor = part.shard.page(matches, "id DESC", 1, window - seen - 1)[0][0]
            inside.append(_Part(part.shard, floor, TOP))
            older.append(_Part(part.shard, 0, floor - 1))
            seen = window
        found = self.ranked(inside, skip, min(need, window - skip)) if skip < window else []
        if len(found) < need:
            found += self.walk(older, max(0, skip - window), need - len(found))
        return found


_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="callscope-shards")


def _fan_out(ask, parts: list[_Part]) -> list:
    """`ask` of every part, the parts at once (engines and shard hosts answer in parallel)."""
    if len(parts) <= 1:
        return [ask(part) for part in parts]
    return list(_POOL.map(ask, parts))


def index_into(
    shard: IndexShard, day: dt.date, segments: pa.Table, calls: pa.Table, fingerprint: str
) -> int:
    """Index a day's Parquet rows into `shard`."""
    lo, hi = day_bounds(day)
    rows = segment_rows(segments, calls, lo)
    if len(rows) > hi - lo:
        raise SearchIndexError(f"{day}: more than {hi - lo} segments in one day")
    return shard.index_day(day, rows, fingerprint)


@dataclass(frozen=True)
class CallsRefresh:
    """What refreshing a day's call-level columns did."""

    calls: int  # the day's indexed calls
    changed: int  # of them, rewritten: their agent, queue or categories differed
    segments: int  # the segments of those calls, their full-text entries rewritten


CALL_COLUMNS = ("agent_id", "queue", "categories")  # what the index keeps of a call


MOST_CHANGED = 0.5  # of a day's segments: beyond it the day is re-indexed whole, as cheaply


def refresh_calls_into(
    shard: IndexShard, day: dt.date, calls: pa.Table, fingerprint: str
) -> CallsRefresh | None:
    """Rewrite the agent, queue and categories of the day's indexed calls whose values in
    `calls` differ, and the full-text entries of their segments (whose filter tokens carry
    them); the other calls' rows and entries stay as they are. The rows are those a full
    re-index of the same segments writes. None, and nothing written, where the changed calls
    hold more than MOST_CHANGED of the day's segments: re-indexing the day costs no more."""
    lo, hi = day_bounds(day)
    wanted = _call_values(calls)
    with shard.transaction():
        stored = shard.db.execute(
            "SELECT * FROM call WHERE id BETWEEN ? AND ? ORDER BY id", (lo, hi)
        ).fetchall()
        changed = [
            (row, values)
            for row in stored
            if (values := wanted.get(row[1], (None, None, None))) != tuple(row[2:5])
        ]
        segments = sum(row[5] for row, _ in changed)
        if segments > MOST_CHANGED * sum(row[5] for row in stored):
            return None
        if changed:
            _rewrite_calls(shard, changed, lo, hi)
        shard.db.execute(
            "UPDATE indexed_day SET fingerprint=? WHERE day=?", (fingerprint, day.isoformat())
        )
        shard.postings.commit()
    return CallsRefresh(len(stored), len(changed), segments)


def _call_values(calls: pa.Table) -> dict[str, tuple[str | None, str | None, str | None]]:
    """call_id -> (agent, queue, categories) as the index's `call` table stores them."""
    columns = [c for c in ("call_id", *CALL_COLUMNS) if c in calls.schema.names]
    out = {}
    for row in calls.select(columns).to_pylist():
        names = tuple(row.get("categories") or ())
        categories = json.dumps(names, ensure_ascii=False) if names else None
        out[row["call_id"]] = (row.get("agent_id"), row.get("queue"), categories)
    return out


def _rewrite_calls(shard: IndexShard, changed: list[tuple[tuple, tuple]], lo: int, hi: int) -> None:
    """Store the new values of the `changed` calls (stored row, new values) and swap their
    segments' full-text entries."""
    shard.db.executemany(
        "UPDATE call SET agent_id=?, queue=?, categories=? WHERE id=?",
        [(*values, row[0]) for row, values in changed],
    )
    sentiment = dict(
        shard.db.execute("SELECT id, value FROM sentiment WHERE id BETWEEN ? AND ?", (lo, hi))
    )
    old, new = [], []
    for row, (agent_id, queue, categories) in changed:
        names = tuple(json.loads(categories)) if categories else ()
        for seg in _call_segments(row):
            seg = replace(seg, sentiment=sentiment.get(seg.rowid))
            old.append(seg)
            new.append(replace(seg, agent_id=agent_id, queue=queue, categories=names))
    if shard.engine != "sqlite":  # only a contentless FTS5 entry is deleted by its tokens
        old = []
    ranges = _merged_ranges([(row[0], row[0] + row[5] - 1) for row, _ in changed])
    shard.postings.replace_ranges(
        ranges, entries(old, shard.confusions), entries(new, shard.confusions)
    )
    shard.db.execute("DELETE FROM info WHERE key='sealed'")


def _merged_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted rowid ranges with those that meet joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def _remove_files(path: Path) -> None:
    """A shard's SQLite file and its full-text folder, if any."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.rmtree(postings_folder(path), ignore_errors=True)


def retire_single_file_index(settings) -> None:
    """Remove the single-file index of earlier versions once the folder has replaced it."""
    from callscope.core.location import is_local

    if not is_local(settings.warehouse):  # never held one: it was always a local file
        return
    old = settings.warehouse_folder("the search index") / "search.sqlite"
    if old.is_file() and Path(settings.search_index).is_dir():
        _remove_files(old)
        logger.info("search index: %s replaced by %s and removed", old, settings.search_index)
