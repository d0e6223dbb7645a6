"""The day-level keyword steps over the warehouse: tag a day's calls, refresh its search rows.

Both are safe to repeat: categories replace the day's keyword_hits partition and the category
columns of its calls; the index replaces the day's rows only when its Parquet files changed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.keywords.categorize import call_hit_rows, categorize_call, categorize_day
from callscope.keywords.index import INDEX_VERSION, SearchIndex, index_into
from callscope.keywords.rules import RuleSet
from callscope.storage.rows import call_fields
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass
class CategoryRun:
    date: dt.date
    calls: int  # the day's ok calls
    tagged: int  # of them, with at least one category
    hits: int  # the day's keyword hits
    skipped: bool = False
    seconds: float = 0.0
    retagged: int = 0  # calls tagged by this run (the others already were, with these rules)


def categorize_calls(calls: list[tuple[dict, list[dict]]], rules: RuleSet) -> list[dict]:
    """Tag processed calls (row, segments) where they were processed: returns their
    keyword_hits rows and stamps each ok call's row with its categories and the rules'
    version, so the day's step leaves them as they are."""
    results, hits = [], []
    for row, segments in calls:
        if row.get("status") == "ok":
            ordered = sorted(segments, key=lambda segment: segment["idx"])
            result = categorize_call(ordered, rules, row.get("duration_s"))
            results.append((row, result))
            hits += call_hit_rows(row["date"], row["call_id"], ordered, result, rules)
    for row, result in results:  # every call tagged: only now are the rows stamped
        row.update(
            call_fields(
                categories=result.categories,
                complaint_class=result.complaint_class,
                categories_version=rules.version_hash,
            )
        )
    return hits


def apply_categories(
    store: Warehouse, day: dt.date, rules: RuleSet, force: bool = False
) -> CategoryRun:
    """Tag the ok calls of `day` not tagged with these rules yet (every ok call with `force`)
    from their stored segments (no re-transcription); the others keep their categories and
    hits (tagged by the worker that processed them, or by an earlier run)."""
    started = time.perf_counter()
    calls = store.read("calls", day)
    stale = _untagged(calls, rules, force)
    if not stale and (store.exists("keyword_hits", day) or not _ok_ids(calls)):
        return _day_run(store, day, calls, skipped=True)
    wanted = pa.array(sorted(stale), pa.string())
    segments = store.read("segments", day)
    segments = segments.filter(pc.is_in(segments["call_id"], wanted))
    hit_rows, per_call = categorize_day(
        day, segments, calls.filter(pc.is_in(calls["call_id"], wanted)), rules
    )
    kept = store.read("keyword_hits", day)
    kept = kept.filter(pc.invert(pc.is_in(kept["call_id"], wanted)))
    hits = pa.concat_tables([kept, to_table("keyword_hits", hit_rows)])
    tagged = _with_categories(calls, per_call, rules.version_hash)
    store.write_day(
        day, {"keyword_hits": hits.sort_by([("call_id", "ascending")]), "calls": tagged}
    )
    run = _day_run(store, day, tagged)
    run.retagged = len(per_call)
    run.seconds = time.perf_counter() - started
    logger.info(
        "categories %s: %d calls tagged now, %d of %d calls with a category, %d hits (%.1f s)",
        day,
        run.retagged,
        run.tagged,
        run.calls,
        run.hits,
        run.seconds,
    )
    return run


def _ok_ids(calls: pa.Table) -> list[str]:
    return pc.filter(calls["call_id"], pc.equal(calls["status"], "ok")).to_pylist()


def _untagged(calls: pa.Table, rules: RuleSet, force: bool) -> set[str]:
    rows = calls.select(["call_id", "status", "categories_version"]).to_pylist()
    return {
        row["call_id"]
        for row in rows
        if row["status"] == "ok" and (force or row["categories_version"] != rules.version_hash)
    }


def _day_run(store: Warehouse, day: dt.date, calls: pa.Table, skipped: bool = False):
    ok = calls.filter(pc.equal(calls["status"], "ok"))
    tagged = sum(bool(c) for c in ok["categories"].to_pylist())
    hits = store.read("keyword_hits", day, columns=["call_id"]).num_rows
    return CategoryRun(day, ok.num_rows, tagged, hits, skipped=skipped)


def _with_categories(calls: pa.Table, per_call: dict, version: str) -> pa.Table:
    """The day's calls with the categories of those in `per_call` (the others as they were;
    calls that are not ok have none)."""
    rows = calls.to_pylist()
    for row in rows:
        result = per_call.get(row["call_id"])
        if result is not None:
            row["categories"] = result.categories
            row["complaint_class"] = result.complaint_class
            row["categories_version"] = version
        elif row["status"] != "ok":
            row["categories"] = row["complaint_class"] = row["categories_version"] = None
    return to_table("calls", rows)


def day_fingerprint(store: Warehouse, day: dt.date) -> str | None:
    """Changes whenever the day's calls or segments partition is rewritten."""
    parts = [store.version(table, day) for table in ("calls", "segments")]
    if None in parts:
        return None
    return f"{INDEX_VERSION}|" + "|".join(parts)


def update_index(
    store: Warehouse, index: SearchIndex, day: dt.date, force: bool = False
) -> int | None:
    """Bring the day's search rows in line with the warehouse; None when already current."""
    fingerprint = day_fingerprint(store, day)
    if fingerprint is None:
        if index.fingerprint(day) is not None:
            index.remove_day(day)
            logger.info("search index: %s removed (no longer in the warehouse)", day)
        return None
    if index.outdated(index.key_of(day)):
        return rebuild_shard(store, index, index.key_of(day))
    if not force and index.fingerprint(day) == fingerprint:
        return None
    started = time.perf_counter()
    count = index.index_day(day, store.read("segments", day), store.read("calls", day), fingerprint)
    index.checkpoint()
    index.seal(before=index.key_of(day))
    seconds = time.perf_counter() - started
    logger.info(
        "search index: %s indexed, %d segments in %.1f s (%.0f/s)",
        day,
        count,
        seconds,
        count / seconds if seconds else 0.0,
    )
    return count


def rebuild_shard(store: Warehouse, index: SearchIndex, key: str) -> int:
    """Index the warehouse's days of shard `key` into a fresh file; searches keep the old one
    until it is done. Returns the number of segments indexed."""
    first, last = index.key_days(key)
    days = [day for day in store.days() if first <= day <= last]
    started, count = time.perf_counter(), 0
    with index.rebuilding(key) as shard:
        for day in days:
            fingerprint = day_fingerprint(store, day)
            if fingerprint is not None:
                segments, calls = store.read("segments", day), store.read("calls", day)
                count += index_into(shard, day, segments, calls, fingerprint)
    logger.info(
        "search index: %s rebuilt, %d days, %d segments in %.1f s",
        key,
        len(days),
        count,
        time.perf_counter() - started,
    )
    return count


def stale_days(store: Warehouse, index: SearchIndex) -> list[dt.date]:
    """Days whose warehouse files changed since they were indexed (or never were)."""
    return [day for day in store.days() if index.fingerprint(day) != day_fingerprint(store, day)]
