"""A rule's dry-run over stored days (`categories try`): how many calls it would tag each
day, without writing anything. Only the calls whose text holds a phrase the rule needs (RE2
over the segments' text column) are tagged in full."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from callscope.keywords.categorize import candidate_calls, categorize_day
from callscope.keywords.rules import RuleSet
from callscope.storage.warehouse import Warehouse

SEGMENT_COLUMNS = ["call_id", "idx", "start_s", "end_s", "speaker", "text"]


def try_rules(store: Warehouse, days: list[dt.date], rules: RuleSet) -> dict[dt.date, dict]:
    """Per day: the ok calls, and per category of `rules` the calls it would tag."""
    return {day: _try_day(store, day, rules) for day in days}


def _try_day(store: Warehouse, day: dt.date, rules: RuleSet) -> dict:
    calls = store.read("calls", day, columns=["call_id", "status", "duration_s"])
    calls = calls.filter(pc.equal(calls["status"], "ok"))
    counts = dict.fromkeys((category.name for category in rules.categories), 0)
    if not calls.num_rows:
        return {"calls": 0, "categories": counts}
    segments = store.read("segments", day, columns=SEGMENT_COLUMNS)
    candidates = candidate_calls(segments, rules)
    if candidates is None:
        candidates = set(calls["call_id"].to_pylist())
    wanted = pa.array(sorted(candidates), pa.string())
    _, per_call = categorize_day(
        day,
        segments.filter(pc.is_in(segments["call_id"], wanted)),
        calls.filter(pc.is_in(calls["call_id"], wanted)),
        rules,
    )
    for result in per_call.values():
        for name in result.categories:
            counts[name] += 1
    return {"calls": calls.num_rows, "categories": counts, "examined": len(per_call)}
