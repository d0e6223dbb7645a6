"""The day-level keyword steps over the warehouse: tag a day's calls, refresh its search rows.

Both are safe to repeat: categories replace the day's keyword_hits partition and the category
columns of its calls; the index replaces the day's rows only when its Parquet files changed
(when only its calls partition did, the rows of the calls whose indexed columns changed).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from callscope.core.logs import get_logger
from callscope.keywords.categorize import (
    CallCategories,
    call_hit_rows,
    candidate_calls,
    categorize_call,
    categorize_day,
    complaint_class_of,
)
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
    redone: tuple[str, ...] | None = ()  # the categories re-tagged (None: every category)


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


RULE_SETS = "rule_sets"  # the day state's record: rules version -> its categories' versions


def apply_categories(
    store: Warehouse,
    day: dt.date,
    rules: RuleSet,
    force: bool = False,
    whole_rule_set: bool = False,
    parts: int = 1,
) -> CategoryRun:
    """Tag the ok calls of `day` not tagged with these rules yet (every ok call with `force`)
    from their stored segments (no re-transcription); the others keep their categories and
    hits (tagged by the worker that processed them, or by an earlier run).

    A call tagged under rules whose categories' versions the day recorded is re-tagged for
    the categories added or edited since only, its other hits kept; a call tagged under
    rules the day does not know (or every call, with `whole_rule_set`) for every category.
    Either way the stored rows are those a full re-tag writes. Many calls to tag are split over
    `parts` processes; the day is written once, here."""
    started = time.perf_counter()
    calls = store.read("calls", day)
    known = {} if whole_rule_set else _known_rule_sets(store, day)
    plan = _retag_plan(calls, rules, known, force)
    if not plan and (store.exists("keyword_hits", day) or not _ok_ids(calls)):
        _remember(store, day, rules)
        return _day_run(store, day, calls, skipped=True)
    segments = store.read("segments", day)
    new_rows: list[dict] = []
    for redo, ids in plan.items():
        subset = rules if redo is None else rules.only(set(redo))
        if redo is not None:  # a few categories: only the calls that can match them
            ids = _can_match(segments, ids, subset)
        if not ids:
            continue
        new_rows += _categorized(day, segments, calls, sorted(ids), subset, parts)
    kept = _kept_hits(store.read("keyword_hits", day), plan, rules)
    hits = _merged_hits(kept, to_table("keyword_hits", new_rows), rules)
    touched = {call_id for ids in plan.values() for call_id in ids}
    tagged = _with_categories(calls, _categories_of(hits, touched, rules), rules.version_hash)
    store.write_day(day, {"keyword_hits": hits, "calls": tagged})
    _remember(store, day, rules)
    run = _day_run(store, day, tagged)
    run.retagged = len(touched)
    run.redone = _redone(plan)
    run.seconds = time.perf_counter() - started
    logger.info(
        "categories %s: %d calls tagged now (%s), %d of %d calls with a category, %d hits (%.1f s)",
        day,
        run.retagged,
        "every category" if run.redone is None else ", ".join(run.redone) or "counts only",
        run.tagged,
        run.calls,
        run.hits,
        run.seconds,
    )
    return run


Plan = dict[frozenset[str] | None, set[str]]  # categories to redo (None: all) -> call ids


def _retag_plan(calls: pa.Table, rules: RuleSet, known: dict, force: bool) -> Plan:
    current = rules.category_versions
    plan: Plan = {}
    for row in calls.select(["call_id", "status", "categories_version"]).to_pylist():
        stamp = row["categories_version"]
        if row["status"] != "ok" or (stamp == rules.version_hash and not force):
            continue
        before = None if force else known.get(stamp)
        redo = None
        if before is not None:
            redo = frozenset(name for name, v in current.items() if before.get(name) != v)
        plan.setdefault(redo, set()).add(row["call_id"])
    return plan


PART_CALLS = 2_000  # the fewest calls worth a process of their own


def _categorized(day, segments, calls, ids: list[str], rules: RuleSet, parts: int) -> list[dict]:
    """keyword_hits rows of calls `ids`, in the order one process writes them."""
    parts = min(parts, len(ids) // PART_CALLS)
    chunks = [ids[n * len(ids) // parts : (n + 1) * len(ids) // parts] for n in range(parts)]
    work = [(day, *_of_calls(segments, calls, chunk), rules) for chunk in chunks or [ids]]
    if len(work) == 1:
        return _categorize_part(work[0])
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(work), mp_context=multiprocessing.get_context("fork")) as pool:
        return [row for rows in pool.map(_categorize_part, work) for row in rows]


def _of_calls(segments: pa.Table, calls: pa.Table, ids: list[str]) -> tuple[pa.Table, pa.Table]:
    wanted = pa.array(ids, pa.string())
    return (
        segments.filter(pc.is_in(segments["call_id"], wanted)),
        calls.filter(pc.is_in(calls["call_id"], wanted)),
    )


def _categorize_part(work: tuple) -> list[dict]:
    day, segments, calls, rules = work
    rows, _ = categorize_day(day, segments, calls, rules)
    return rows


def _can_match(segments: pa.Table, ids: set[str], rules: RuleSet) -> set[str]:
    if not rules.categories:
        return set()
    mine = segments.select(["call_id", "text"])
    mine = mine.filter(pc.is_in(mine["call_id"], pa.array(sorted(ids), pa.string())))
    candidates = candidate_calls(mine, rules)
    return ids if candidates is None else ids & candidates


def _redone(plan: Plan) -> tuple[str, ...] | None:
    if None in plan:
        return None
    return tuple(sorted({name for redo in plan for name in redo or ()}))


def forget_rule_sets(store: Warehouse, day: dt.date) -> None:
    """Drop the day's record of categories' versions: its next apply re-tags every category
    of every call not tagged with the rules applied (as before per-category versions)."""
    state = store.read_state(day)
    if state.pop(RULE_SETS, None) is not None:
        store.write_state(day, state)


def _known_rule_sets(store: Warehouse, day: dt.date) -> dict[str, dict[str, str]]:
    return store.read_state(day).get(RULE_SETS) or {}


def _remember(store: Warehouse, day: dt.date, rules: RuleSet) -> None:
    """Record the categories' versions of the rules the day's calls are now tagged with."""
    state = store.read_state(day)
    record = {rules.version_hash: rules.category_versions}
    if state.get(RULE_SETS) != record:
        state[RULE_SETS] = record
        store.write_state(day, state)


def _kept_hits(hits: pa.Table, plan: Plan, rules: RuleSet) -> pa.Table:
    """The stored hits that stay: not of a category gone from the rules, nor of one being
    redone for its call."""
    names = pa.array(list(rules.category_versions), pa.string())
    drop = pc.invert(pc.is_in(hits["category"], names))
    for redo, ids in plan.items():
        of_calls = pc.is_in(hits["call_id"], pa.array(sorted(ids), pa.string()))
        if redo is not None:
            of_calls = pc.and_(
                of_calls, pc.is_in(hits["category"], pa.array(sorted(redo), pa.string()))
            )
        drop = pc.or_(drop, of_calls)
    return hits.filter(pc.invert(drop))


def _merged_hits(kept: pa.Table, new: pa.Table, rules: RuleSet) -> pa.Table:
    """Kept and new hits in a full re-tag's order (by call, then the rules' category order,
    each category's hits as found), all stamped with the rules' version."""
    hits = pa.concat_tables([kept, new])
    names = pa.array(list(rules.category_versions), pa.string())
    rank = pc.index_in(hits["category"], value_set=names)
    order = pc.sort_indices(
        pa.table({"call_id": hits["call_id"], "rank": rank}),
        sort_keys=[("call_id", "ascending"), ("rank", "ascending")],
    )
    hits = hits.take(order)
    at = hits.schema.get_field_index("rules_version")
    stamp = pa.array([rules.version_hash] * hits.num_rows, hits.schema.field(at).type)
    return hits.set_column(at, hits.schema.field(at), stamp)


def _categories_of(hits: pa.Table, call_ids: set[str], rules: RuleSet) -> dict[str, CallCategories]:
    """Each call's categories and complaint class, from its hits."""
    wanted = pa.array(sorted(call_ids), pa.string())
    mine = hits.filter(pc.is_in(hits["call_id"], wanted)).select(["call_id", "category"])
    counts: dict[str, Counter] = {call_id: Counter() for call_id in call_ids}
    grouped = mine.group_by(["call_id", "category"]).aggregate([([], "count_all")])
    for row in grouped.to_pylist():
        counts[row["call_id"]][row["category"]] = row["count_all"]
    order = [category.name for category in rules.categories]
    return {
        call_id: CallCategories(
            [name for name in order if found[name]],
            complaint_class_of(found, rules.categories),
        )
        for call_id, found in counts.items()
    }


def _ok_ids(calls: pa.Table) -> list[str]:
    return pc.filter(calls["call_id"], pc.equal(calls["status"], "ok")).to_pylist()


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


@dataclass(frozen=True)
class DayVersions:
    """What a day's search rows were made from: the index version and the versions of the
    day's calls and segments partitions (its fingerprint, as the index stores it)."""

    index: str
    calls: str
    segments: str

    @property
    def fingerprint(self) -> str:
        return f"{self.index}|{self.calls}|{self.segments}"

    @classmethod
    def parse(cls, fingerprint: str | None) -> DayVersions | None:
        """The versions of a stored fingerprint; None for one of another form."""
        parts = (fingerprint or "").split("|")
        return cls(*parts) if len(parts) == 3 else None


def day_versions(store: Warehouse, day: dt.date) -> DayVersions | None:
    """The day's versions now; None when it has no calls or no segments partition."""
    calls, segments = (store.version(table, day) for table in ("calls", "segments"))
    if calls is None or segments is None:
        return None
    return DayVersions(INDEX_VERSION, calls, segments)


def day_fingerprint(store: Warehouse, day: dt.date) -> str | None:
    """Changes whenever the day's calls or segments partition is rewritten."""
    versions = day_versions(store, day)
    return None if versions is None else versions.fingerprint


def only_calls_changed(stored: str | None, now: DayVersions) -> bool:
    """Whether the day's rows need their call-level columns refreshed only: indexed by this
    index version from the segments partition there is now."""
    before = DayVersions.parse(stored)
    return before is not None and (before.index, before.segments) == (now.index, now.segments)


def update_index(
    store: Warehouse, index: SearchIndex, day: dt.date, force: bool = False
) -> int | None:
    """Bring the day's search rows in line with the warehouse; None when already current.
    Where only the calls partition changed (categories applied, say), the calls whose agent,
    queue or categories differ are rewritten in place, not the whole day. Returns the number
    of segments written."""
    versions = day_versions(store, day)
    if versions is None:
        if index.fingerprint(day) is not None:
            index.remove_day(day)
            logger.info("search index: %s removed (no longer in the warehouse)", day)
        return None
    if index.outdated(index.key_of(day)):
        return rebuild_shard(store, index, index.key_of(day))
    stored = index.fingerprint(day)
    if not force and stored == versions.fingerprint:
        return None
    if not force and only_calls_changed(stored, versions):
        count = _refresh_calls(store, index, day, versions)
        if count is not None:
            return count
    started = time.perf_counter()
    count = index.index_day(
        day, store.read("segments", day), store.read("calls", day), versions.fingerprint
    )
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


def _refresh_calls(
    store: Warehouse, index: SearchIndex, day: dt.date, versions: DayVersions
) -> int | None:
    """The day's call-level columns brought in line with its calls partition, in place; the
    segments written, or None where most of the day changed (re-indexed whole instead)."""
    started = time.perf_counter()
    refresh = index.refresh_calls(day, store.read("calls", day), versions.fingerprint)
    if refresh is None:
        return None
    if refresh.changed:
        index.checkpoint()
        index.seal(before=index.key_of(day))
    logger.info(
        "search index: %s calls refreshed in place, %d of %d changed (%d segments) in %.2f s",
        day,
        refresh.changed,
        refresh.calls,
        refresh.segments,
        time.perf_counter() - started,
    )
    return refresh.segments


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
