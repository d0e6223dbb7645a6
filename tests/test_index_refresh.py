"""The search index after a change of the calls partition alone (categories applied, calls
reassigned): the changed calls' rows are refreshed in place, the same rows a full re-index
writes; a changed segments partition or index version still re-indexes the day in full."""

from __future__ import annotations

import pytest
import yaml
from callscope.keywords.daily import (
    DayVersions,
    apply_categories,
    day_fingerprint,
    stale_days,
    update_index,
)
from callscope.keywords.index import SearchFilters, SearchIndex
from callscope.keywords.postings import ENGINES
from callscope.keywords.rules import load_rules
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse

from tests.test_search import CALLS_DAY1, DAY1, put_day

CALLS = {
    **CALLS_DAY1,
    "c-roaming": (
        "A102",
        "international",
        [
            ("agent", "您好，国际漫游业务。"),
            ("customer", "我在国外没有信号。"),
            ("agent", "请重启手机试试。"),
        ],
    ),
    "c-bill": (
        "A101",
        "billing",
        [
            ("customer", "您好，这个月账单怎么这么高？"),
            ("agent", "我帮您查询一下套餐。"),
            ("customer", "好的，谢谢。"),
        ],
    ),
}
DAY_SEGMENTS = sum(len(turns) for _, _, turns in CALLS.values())
NEW_RULE = {"name": "new_preorder", "any": ["预约", "pre-order"], "complaint_class": "business"}
ALL_CALLS = "您好 OR thank"  # a word of every call
QUERIES = [
    ("您好", {}),
    ("预约 OR order OR 退款", {}),
    (ALL_CALLS, {"categories": ["new_preorder"]}),
    (ALL_CALLS, {"agents": ["A100"], "categories": ["new_preorder"]}),
]


@pytest.fixture
def store(tmp_path):
    store = Warehouse(tmp_path / "warehouse")
    put_day(store, DAY1, CALLS)
    return store


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def index(store, tmp_path, engine):
    index = SearchIndex(tmp_path / "search", engine=engine)
    assert update_index(store, index, DAY1) == DAY_SEGMENTS
    yield index
    index.close()


def apply_new_rule(store, tmp_path) -> set[str]:
    """`categories apply` of a rule file with a new category; the calls it tagged."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"categories": [NEW_RULE]}, allow_unicode=True), "utf-8")
    apply_categories(store, DAY1, load_rules(path))
    calls = store.read("calls", DAY1).to_pylist()
    return {row["call_id"] for row in calls if "new_preorder" in (row["categories"] or [])}


def hits(index, query, sort="relevance", **filters) -> list[tuple]:
    result = index.search(query, SearchFilters(**filters), limit=50, sort=sort)
    shown = ("call_id", "idx", "score", "highlights", "text", "agent_id", "queue", "categories")
    return [tuple(getattr(hit, name) for name in shown) for hit in result.hits]


def segments_of(calls: set[str]) -> int:
    return sum(len(CALLS[call_id][2]) for call_id in calls)


def test_a_new_category_is_refreshed_in_place_and_searchable(store, index, tmp_path):
    tagged = apply_new_rule(store, tmp_path)
    assert tagged == {"c-preorder", "c-english"}
    assert stale_days(store, index) == [DAY1]
    # the tagged calls' segments are written again, not the day's
    assert update_index(store, index, DAY1) == segments_of(tagged) < DAY_SEGMENTS
    assert stale_days(store, index) == []
    assert update_index(store, index, DAY1) is None
    found = hits(index, ALL_CALLS, categories=["new_preorder"])
    assert {hit[0] for hit in found} == tagged
    assert all(hit[-1] == ["new_preorder"] for hit in found)  # what a hit shows
    assert {hit[0] for hit in hits(index, ALL_CALLS)} == set(CALLS)
    assert index.indexed_days() == {DAY1: DAY_SEGMENTS}


def test_the_refreshed_rows_equal_a_full_reindex(store, index, tmp_path, engine):
    """The same hits with the same highlights and call columns, newest first and by relevance.
    FTS5 takes a replaced entry out of its statistics: the same scores. Tantivy counts it in
    its term statistics until its segments merge (as after any re-index that leaves some of a
    segment's entries), so scores, and the order of close ones, may differ from a freshly
    built index's until then."""
    apply_new_rule(store, tmp_path)
    update_index(store, index, DAY1)
    fresh = SearchIndex(tmp_path / "fresh", engine=engine)
    try:
        assert update_index(store, fresh, DAY1) == DAY_SEGMENTS
        for query, filters in QUERIES:
            newest = hits(index, query, "newest", **filters)
            assert newest and newest == hits(fresh, query, "newest", **filters), query
            refreshed, rebuilt = hits(index, query, **filters), hits(fresh, query, **filters)
            if engine == "tantivy":
                refreshed, rebuilt = _without_scores(refreshed), _without_scores(rebuilt)
            assert refreshed == rebuilt, query
    finally:
        fresh.close()


def _without_scores(found: list[tuple]) -> list[tuple]:
    return sorted(hit[:2] + hit[3:] for hit in found)


def test_a_reassigned_agent_is_refreshed_for_filters_and_hits(store, index):
    rows = store.read("calls", DAY1).to_pylist()
    for row in rows:
        if row["call_id"] == "c-refund":
            row["agent_id"], row["queue"] = "A999", "retention"
    store.write_day(DAY1, {"calls": to_table("calls", rows)})
    assert update_index(store, index, DAY1) == segments_of({"c-refund"})
    assert {hit[0] for hit in hits(index, ALL_CALLS, agents=["A999"])} == {"c-refund"}
    assert {hit[0] for hit in hits(index, ALL_CALLS, queues=["retention"])} == {"c-refund"}
    assert {hit[0] for hit in hits(index, ALL_CALLS, queues=["billing"])} == {"c-bill"}
    assert {hit[0] for hit in hits(index, ALL_CALLS, agents=["A101"])} == {"c-bill"}
    assert all(hit[5:7] == ("A999", "retention") for hit in hits(index, "退款"))


def test_a_change_to_most_of_the_day_reindexes_it_whole(store, index):
    rows = store.read("calls", DAY1).to_pylist()
    for row in rows:
        row["queue"] = "general"
    calls = to_table("calls", rows)
    assert index.refresh_calls(DAY1, calls, "unused") is None  # nothing written
    store.write_day(DAY1, {"calls": calls})
    assert update_index(store, index, DAY1) == DAY_SEGMENTS
    assert {hit[0] for hit in hits(index, ALL_CALLS, queues=["general"])} == set(CALLS)
    assert stale_days(store, index) == []


def test_a_calls_rewrite_with_nothing_indexed_changed_writes_no_segment(store, index):
    store.write_day(DAY1, {"calls": store.read("calls", DAY1)})  # a new version, same values
    assert stale_days(store, index) == [DAY1]
    assert update_index(store, index, DAY1) == 0
    assert stale_days(store, index) == []


def test_changed_segments_or_index_version_reindex_the_day_in_full(store, index, tmp_path):
    apply_new_rule(store, tmp_path)
    put_day(store, DAY1, {"c-refund": ("A101", "billing", [("customer", "我要退费。")])})
    assert update_index(store, index, DAY1) == DAY_SEGMENTS - 2  # c-refund now has one segment
    assert {hit[0] for hit in hits(index, "退费")} == {"c-refund"}
    shard = index.shard(index.key_of(DAY1))
    for earlier in ("index-4/bigram-1|" + day_fingerprint(store, DAY1).split("|", 1)[1], "f00d"):
        shard.db.execute("UPDATE indexed_day SET fingerprint=?", (earlier,))
        assert update_index(store, index, DAY1) == DAY_SEGMENTS - 2, earlier


def test_a_day_not_in_the_index_is_indexed_in_full(store, tmp_path, engine):
    apply_new_rule(store, tmp_path)
    index = SearchIndex(tmp_path / "search", engine=engine)
    try:
        assert update_index(store, index, DAY1) == DAY_SEGMENTS
    finally:
        index.close()


def test_the_versions_of_a_stored_fingerprint():
    versions = DayVersions("index-5/bigram-1", "1a-2b", "3c-4d")
    assert DayVersions.parse(versions.fingerprint) == versions
    assert DayVersions.parse("index-5/bigram-1|1a-2b") is None
    assert DayVersions.parse(None) is None
