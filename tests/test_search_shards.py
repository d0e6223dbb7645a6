"""The index in shards answers as one index would: across months, while a month is rebuilt,
and with totals capped."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from callscope.keywords.daily import rebuild_shard, update_index
from callscope.keywords.index import SearchFilters, SearchIndex, index_into
from callscope.keywords.postings import ENGINES
from callscope.storage.warehouse import Warehouse

from tests.test_search import put_day

DAYS = [dt.date(2026, 9, 29), dt.date(2026, 10, 2), dt.date(2026, 10, 30), dt.date(2026, 11, 3)]
TURNS = [
    ("agent", "您好，请问有什么可以帮您？"),
    ("customer", "我要退款，话费被多扣了。"),
    ("customer", "星河九号首发预约失败，页面一直转圈。"),
    ("customer", "手发那天抢不到，我要投诉。"),
    ("customer", "宽带又断网了，报修三次没人来。"),
    ("customer", "流量用超了，套餐怎么改？"),
    ("customer", "我的号码是13800138000，帮我查一下话费。"),
    ("agent", "好的，我帮您登记退款申请。"),
]
QUERIES = ["退款", "话费 OR 流量", "~首发", "宽带 NOT 报修", "13800138000", "预约失败"]
FILTERS = [
    SearchFilters(),
    SearchFilters(date_from=DAYS[1], date_to=DAYS[2]),
    SearchFilters(speakers=["customer"], agents=["A2", "A3"]),
]


@pytest.fixture
def store(tmp_path) -> Warehouse:
    rng = random.Random(3)
    store = Warehouse(tmp_path / "warehouse")
    for day in DAYS:
        calls = {
            f"{day:%m%d}-{n}": (f"A{n % 4}", "general", [TURNS[0], *rng.sample(TURNS[1:], 3)])
            for n in range(6)
        }
        put_day(store, day, calls)
    return store


def built(store: Warehouse, folder, period: str, engine: str) -> SearchIndex:
    index = SearchIndex(folder, period=period, engine=engine)
    for day in DAYS:
        update_index(store, index, day)
    return index


def answers(index: SearchIndex) -> list:
    """Every query, filter, sort and page a supervisor or a redacted role could ask for."""
    out = []
    for query in QUERIES:
        for filters in FILTERS:
            for redacted in (False, True):
                options = {"filters": filters, "redacted": redacted}
                for sort in ("newest", "oldest"):
                    pages = [
                        index.search(query, sort=sort, limit=2, offset=offset, **options)
                        for offset in (0, 2, 4, 6)
                    ]
                    out.append([(p.total, [(h.call_id, h.idx) for h in p.hits]) for p in pages])
                everything = index.search(query, limit=100, **options)
                out.append(sorted((h.call_id, h.idx, tuple(h.highlights)) for h in everything.hits))
                out.append(index.day_counts(query, filters, redacted))
    return out


@pytest.fixture(params=ENGINES)
def pair(store, tmp_path, request):
    """One index in a single shard, one in monthly shards, of the same days."""
    single = built(store, tmp_path / "single", "year", request.param)
    sharded = built(store, tmp_path / "sharded", "month", request.param)
    yield single, sharded
    single.close()
    sharded.close()


def test_shards_answer_as_one_index(pair):
    single, sharded = pair
    assert len(single.keys()) == 1 and len(sharded.keys()) == 3
    expected = answers(single)
    assert any(total for page in expected[0] for total, _ in [page])  # the queries do match
    assert answers(sharded) == expected


def test_a_month_being_rebuilt_is_served_from_the_old_shard_until_the_new_one_is_done(pair, store):
    single, sharded = pair
    expected = answers(single)
    reader = SearchIndex(sharded.path, create=False)  # e.g. the web app, open all along
    assert answers(reader) == expected
    october = sharded.key_of(DAYS[1])
    old_files = {p.name for p in sharded.path.iterdir()}
    with sharded.rebuilding(october) as fresh:
        day = DAYS[1]  # half of October in the new shard so far
        index_into(fresh, day, store.read("segments", day), store.read("calls", day), "partial")
        assert answers(reader) == expected
        assert answers(SearchIndex(sharded.path, create=False)) == expected
    assert answers(reader) == answers(SearchIndex(sharded.path, create=False))  # moved over
    assert sharded.shard_files()[october].name.startswith(f"{october}.2.")
    # the new shard holds only the day put in it: October's other day is gone from searches
    assert DAYS[2] not in reader.indexed_days() and DAYS[1] in reader.indexed_days()
    rebuild_shard(store, sharded, october)  # the whole month again: back to the same answers
    assert answers(reader) == expected
    leftovers = {p.name for p in sharded.path.iterdir()} - old_files
    assert all(name.startswith(f"{october}.3.") for name in leftovers if "sqlite" in name)


def test_a_rebuild_that_fails_leaves_the_old_shard_serving(pair, store):
    single, sharded = pair
    expected = answers(single)
    november = sharded.key_of(DAYS[3])
    before = sharded.shard_files()[november]
    with pytest.raises(RuntimeError), sharded.rebuilding(november) as fresh:
        day = DAYS[3]
        index_into(fresh, day, store.read("segments", day), store.read("calls", day), "partial")
        raise RuntimeError("the machine went down")
    assert sharded.shard_files()[november] == before
    assert not [p for p in sharded.path.iterdir() if p.name.startswith(f"{november}.2.")]
    assert answers(sharded) == expected


def test_totals_past_the_cap_say_so_and_every_page_is_still_reached(pair):
    single, sharded = pair
    full = single.search("您好", sort="newest", limit=100)
    assert full.total == 24 and not full.total_is_lower_bound
    capped = sharded.search("您好", limit=2, rank_window=2, total_cap=5)
    assert capped.total_is_lower_bound and capped.total >= 5
    pages = [
        sharded.search("您好", sort="newest", limit=5, offset=offset, total_cap=5, rank_window=2)
        for offset in range(0, 25, 5)
    ]
    seen = [(h.call_id, h.idx) for page in pages for h in page.hits]
    assert seen == [(h.call_id, h.idx) for h in full.hits]
    assert pages[-1].total == 24 and not pages[-1].total_is_lower_bound


@pytest.fixture
def shard_host(store, tmp_path, monkeypatch):
    """A second process serving September's and October's shards (`callscope index serve`)."""
    import subprocess
    import sys

    host_index = SearchIndex(tmp_path / "host" / "search")
    for day in DAYS[:3]:
        update_index(store, host_index, day)
    keys = host_index.keys()
    host_index.close()
    monkeypatch.setenv("CALLSCOPE_SHARD_TOKEN", "s3cret-for-this-test")
    command = "from callscope.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", command, "index", "serve", "--port", "0",
         "--warehouse", str(tmp_path / "host")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("serving shards"), line
    url = "http://127.0.0.1:" + line.strip().rsplit(":", 1)[1]
    yield url, keys
    proc.terminate()
    proc.wait(timeout=10)


def test_shards_served_by_another_process_answer_as_one_index(store, tmp_path, shard_host):
    url, keys = shard_host
    single = built(store, tmp_path / "single", "year", "tantivy")
    local = SearchIndex(tmp_path / "local", period="month")
    update_index(store, local, DAYS[3])  # November here, the rest on the shard host
    searching = SearchIndex(local.path, create=False, remote=dict.fromkeys(keys, url))
    assert len(keys) == 2 and answers(searching) == answers(single)


def test_a_shard_host_without_the_token_or_away_is_named(store, tmp_path, shard_host, monkeypatch):
    from callscope.keywords.shard import SearchIndexError

    url, keys = shard_host
    local = SearchIndex(tmp_path / "local")
    update_index(store, local, DAYS[3])
    monkeypatch.setenv("CALLSCOPE_SHARD_TOKEN", "wrong")
    with pytest.raises(SearchIndexError, match="wrong or missing token"):
        SearchIndex(local.path, create=False, remote=dict.fromkeys(keys, url)).search("退款")
    away = {keys[0]: "http://127.0.0.1:9"}
    with pytest.raises(SearchIndexError, match="cannot be reached"):
        SearchIndex(local.path, create=False, remote=away).search("退款")


def test_the_single_file_index_of_an_earlier_version_is_replaced_on_the_next_night(store):
    from callscope.core.config import load_config
    from callscope.pipeline.steps import DayRunner

    old = store.root / "search.sqlite"
    old.write_bytes(b"SQLite format 3\x00" + bytes(4096))
    settings = load_config(None, warehouse=store.root)
    DayRunner(store, DAYS[-1], settings).run(only=("index",))
    index = SearchIndex(settings.search_index, create=False)
    assert set(index.indexed_days()) == set(DAYS)  # every day, not only the night's own
    assert not old.exists() and index.search("退款").total > 0
