"""The day-level keyword steps over the warehouse: tag a day's calls, refresh its search rows.

Both are safe to repeat: categories replace the day's keyword_hits partition and the category
columns of its calls; the index replaces the day's rows only when its Parquet files changed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import pyarrow as pa

from core.logs import get_logger
from keywords.categorize import categorize_day
from keywords.index import INDEX_VERSION, SearchIndex, index_into
from keywords.rules import RuleSet
from storage.schemas import to_table
from storage.warehouse import Warehouse

logger = get_logger(__name__)


@dataclass
class CategoryRun:
    date: dt.date
    calls: int
    tagged: int
    hits: int
    skipped: bool = False
    seconds: float = 0.0


def apply_categories(
    store: Warehouse, day: dt.date, rules: RuleSet, force: bool = False
) -> CategoryRun:
    """Tag every ok call of `day` from its stored segments (no re-transcription)."""
    started = time.perf_counter()
    calls = store.read("calls", day)
    ok = [
        row
        for row in calls.select(["status", "categories_version"]).to_pylist()
        if row["status"] == "ok"
    ]
    current = ok and all(row["categories_version"] == rules.version_hash for row in ok)
    if not force and (current or not ok) and (store.exists("keyword_hits", day) or not ok):
        return CategoryRun(day, len(ok), 0, 0, skipped=True)
    hit_rows, per_call = categorize_day(day, store.read("segments", day), calls, rules)
    store.write_day(
        day,
        {
            "keyword_hits": to_table("keyword_hits", hit_rows),
            "calls": _with_categories(calls, per_call, rules.version_hash),
        },
    )
    run = CategoryRun(
        day, len(per_call), sum(bool(r.categories) for r in per_call.values()), len(hit_rows)
    )
    run.seconds = time.perf_counter() - started
    logger.info(
        "categories %s: %d of %d calls tagged, %d hits (%.1f s)",
        day,
        run.tagged,
        run.calls,
        run.hits,
        run.seconds,
    )
    return run


def _with_categories(calls: pa.Table, per_call: dict, version: str) -> pa.Table:
    rows = calls.to_pylist()
    for row in rows:
        result = per_call.get(row["call_id"])
        row["categories"] = result.categories if result else None
        row["complaint_class"] = result.complaint_class if result else None
        row["categories_version"] = version if result else None
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
