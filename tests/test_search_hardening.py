"""Search hardening: personal data cannot be probed through counts, query limits are checked
by our parser (a clear 400 / one-line CLI error, never FTS5's own failure), and an index that
cannot be used is only called damaged when SQLite's check says so."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from callscope.keywords.daily import update_index
from callscope.keywords.index import SearchIndex, SearchIndexError
from callscope.keywords.postings import ENGINES
from callscope.keywords.query import QueryError, parse
from callscope.web.app import create_app
from fastapi.testclient import TestClient

from tests.test_search import DAY1, cli_config, put_day, run_cli, store  # noqa: F401
from tests.test_web_api import SECRET, csrf, sign_in
from tests.web_support import PHONE_TEXT

PHONE = "135 7880 3103"
DAY2 = dt.date(2026, 11, 21)
MANY_NOTS = "号码 " + " ".join(["-a"] * 94)
CALLS_WITH_NUMBERS = {
    "p-spaced": (
        "A100",
        "billing",
        [
            ("agent", "请问您的联系号码是多少？"),
            ("customer", f"我的号码是{PHONE}，话费多扣了。"),
            ("agent", "好的，号码已登记。"),
        ],
    ),
    **{
        f"p-plain-{n}": ("A101", "billing", [("customer", f"号码第{n}次打不通，话费多扣了。")])
        for n in range(4)
    },
}


@pytest.fixture(params=ENGINES)
def numbers_index(store, tmp_path, request):  # noqa: F811
    put_day(store, DAY2, CALLS_WITH_NUMBERS)
    index = SearchIndex(tmp_path / "numbers", engine=request.param)
    update_index(store, index, DAY2)
    yield index
    index.close()


def totals(index, query: str, pages: int = 3, **options) -> list[int]:
    return [index.search(query, limit=1, offset=page, **options).total for page in range(pages)]


# 1. personal data is left out before counting ---------------------------------------------
@pytest.mark.parametrize("probe", [f'"{PHONE}"', "3103", "7880", '"号码是 135"'])
def test_a_number_said_in_a_call_cannot_be_probed_by_redacted_counts(numbers_index, probe):
    assert numbers_index.search(probe).total >= 1  # supervisors find it
    assert totals(numbers_index, probe, redacted=True) == [0, 0, 0]
    assert totals(numbers_index, '"135 7880 3104"', redacted=True) == [0, 0, 0]  # control
    assert numbers_index.day_counts(probe, redacted=True) == {}
    assert numbers_index.day_counts(probe) == {DAY2: 1}


def test_redacted_totals_are_the_same_on_every_page_and_count_what_is_shown(numbers_index):
    query = "号码 话费"
    pages = [numbers_index.search(query, limit=1, offset=n, redacted=True) for n in range(7)]
    assert {page.total for page in pages} == {5}
    shown = [hit for page in pages for hit in page.hits]
    assert len(shown) == 5 and len({hit.call_id for hit in shown}) == 5
    spaced = next(hit for hit in shown if hit.call_id == "p-spaced")
    assert "3103" not in spaced.text and "[phone]" in spaced.text
    assert spaced.text[slice(*spaced.highlights[0])] == "号码"
    assert all("3103" not in line["text"] for hit in shown for line in hit.before + hit.after)
    # NOT cannot probe either: public text never holds the number
    said = numbers_index.search("号码").total
    assert numbers_index.search("号码", redacted=True).total == said
    assert numbers_index.search("号码 -3103", redacted=True).total == said
    assert numbers_index.search("号码 -3103").total == said - 1


def test_redacted_search_ranks_from_public_text_only(numbers_index):
    """The placeholder is not a word, and a ranked page agrees with its total."""
    assert numbers_index.search("phone", redacted=True).total == 0
    ranked = numbers_index.search("号码 OR 3103", rank_window=2, limit=10, redacted=True)
    assert ranked.total == len(ranked.hits) == numbers_index.search("号码", redacted=True).total


def test_cli_search_redacted_counts_alike_on_every_page(cli_config, store):  # noqa: F811
    put_day(store, DAY2, CALLS_WITH_NUMBERS)
    assert run_cli("index", "update", "--all", "--config", cli_config)[0] == 0
    for probe in (f'"{PHONE}"', "3103"):
        for page in ("1", "2"):
            code, out = run_cli(
                "search", probe, "--redacted", "--json", "--limit", "1", "--page", page,
                "--config", cli_config,
            )  # fmt: skip
            assert code == 0, out
            assert json.loads(out)["total"] == 0, (probe, page)
    code, out = run_cli("search", "3103", "--json", "--config", cli_config)
    assert json.loads(out)["total"] == 1


# the web app over the shared warehouse (its launch call says 13812345678)
NUMBER = "13812345678"


@pytest.fixture(scope="module")
def app(web_warehouse):
    return create_app(web_warehouse.settings, recordings=web_warehouse.recordings, secret=SECRET)


@pytest.fixture(scope="module")
def supervisor(app):
    return sign_in(app, "supervisor")


@pytest.fixture(scope="module")
def marketing(app):
    return sign_in(app, "marketing")


def api_totals(client: TestClient, q: str, pages: int = 3) -> list[int]:
    out = []
    for page in range(1, pages + 1):
        response = client.get("/api/search", params={"q": q, "limit": 1, "page": page})
        assert response.status_code == 200, response.text
        out.append(response.json()["total"])
    return out


def test_marketing_search_counts_no_personal_data_on_any_page(supervisor, marketing):
    assert NUMBER in PHONE_TEXT
    assert api_totals(supervisor, NUMBER) == [1, 1, 1]
    assert api_totals(marketing, NUMBER) == [0, 0, 0]
    assert api_totals(marketing, "13812345670") == [0, 0, 0]  # control
    spoken = api_totals(marketing, "手机号", pages=4)
    assert len(set(spoken)) == 1 and spoken[0] > 0
    for number in (1, 2):
        page = marketing.get("/search", params={"q": NUMBER, "limit": 1, "page": number})
        assert page.status_code == 200 and "<b>0</b> matches" in page.text


def test_marketing_saved_query_day_counts_leave_out_personal_data(supervisor, marketing):
    def matches(client: TestClient) -> tuple[dict[str, int], list[dict]]:
        body = {"name": "probe", "params": {"q": NUMBER}}
        token = csrf(client)
        saved = client.post("/api/saved", json=body, headers={"X-CSRF-Token": token})
        assert saved.status_code == 201, saved.text
        query_id = saved.json()["id"]
        data = client.get(f"/api/saved/{query_id}/calls").json()
        client.delete(f"/api/saved/{query_id}", headers={"X-CSRF-Token": token})
        return {row["date"]: row["matches"] for row in data["days"] if row["matches"]}, data[
            "calls"
        ]

    days, calls = matches(supervisor)
    assert sum(days.values()) == 1 and len(calls) == 1
    assert matches(marketing) == ({}, [])


# 2. query limits ---------------------------------------------------------------------------
def test_the_parser_limits_terms_depth_and_length():
    with pytest.raises(QueryError, match="more than 50 words or phrases"):
        parse(MANY_NOTS)
    with pytest.raises(QueryError, match="more than 50"):
        parse(" OR ".join(["退款"] * 51))
    with pytest.raises(QueryError, match="nested more than 8 deep"):
        parse("(" * 9 + "退款" + ")" * 9)
    with pytest.raises(QueryError, match="nested"):
        parse("(" * 240 + "退款" + ")" * 240)  # no RecursionError
    with pytest.raises(QueryError, match="too long"):
        parse("退款" * 300)
    parse(" ".join(["号码"] + ["-a"] * 49))
    parse("(" * 8 + "退款" + ")" * 8)


def test_queries_at_the_limits_run_on_the_index(numbers_index):
    at_limit = " ".join(["号码"] + [f"-x{n}" for n in range(49)])
    nested = "(" * 6 + "号码 NOT (x OR (y AND z))" + ")" * 6
    said = numbers_index.search("号码").total
    for query in (at_limit, nested, " OR ".join(["号码"] * 50)):
        for redacted in (False, True):
            assert numbers_index.search(query, redacted=redacted).total == said
    with pytest.raises(QueryError, match="more than 50"):
        numbers_index.search(MANY_NOTS)


def test_an_fts5_error_is_a_query_error(numbers_index):
    from callscope.keywords.query import ParsedQuery

    broken = ParsedQuery("broken", '"a" AND', [])
    with pytest.raises(QueryError, match="cannot run this query"):
        numbers_index.search(broken)


def test_web_query_limits_are_400_with_a_message(supervisor, monkeypatch):
    response = supervisor.get("/api/search", params={"q": MANY_NOTS})
    assert response.status_code == 400
    assert "more than 50 words or phrases" in response.json()["error"]
    page = supervisor.get("/search", params={"q": MANY_NOTS})
    assert page.status_code == 400 and 'id="search-error"' in page.text
    from callscope.keywords import index as index_module
    from callscope.keywords.query import ParsedQuery

    monkeypatch.setattr(index_module, "parse", lambda q, *_: ParsedQuery(q, '"a" AND', []))
    response = supervisor.get("/api/search", params={"q": "退款"})
    assert response.status_code == 400 and "cannot run this query" in response.json()["error"]


def test_a_saved_query_that_no_longer_parses_says_so_and_cannot_be_saved(supervisor, web_warehouse):
    from callscope.web.saved import SavedQueries

    token = csrf(supervisor)
    refused = supervisor.post(
        "/api/saved",
        json={"name": "too many", "params": {"q": MANY_NOTS}},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 400 and "more than 50" in refused.json()["error"]
    saved = SavedQueries(web_warehouse.settings.web_dir / "saved_queries.json")
    old = saved.add("supervisor", "saved before the limits", {"q": MANY_NOTS})
    try:
        response = supervisor.get(f"/api/saved/{old['id']}/calls")
        assert response.status_code == 400
        message = response.json()["error"]
        assert "saved before the limits" in message and "can no longer be run" in message
        assert "more than 50" in message and "Delete it" in message
        page = supervisor.get(f"/saved/{old['id']}")
        assert page.status_code == 400 and "can no longer be run" in page.text
        assert supervisor.get("/search").status_code == 200  # the list still renders
    finally:
        deleted = supervisor.delete(f"/api/saved/{old['id']}", headers={"X-CSRF-Token": token})
        assert deleted.status_code == 204


def test_cli_query_limits_are_one_line_errors(cli_config):  # noqa: F811
    assert run_cli("index", "update", "--all", "--config", cli_config)[0] == 0
    code, out = run_cli("search", MANY_NOTS, "--config", cli_config)
    assert code == 2, out
    assert out.strip().startswith("error:") and "more than 50" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


# 3. an index that cannot be used is only called damaged when it is -----------------------
def intact_index(tmp_path: Path, store) -> Path:  # noqa: F811
    """The shard file of a one-day index."""
    index = SearchIndex(tmp_path / "intact")
    update_index(store, index, DAY1)
    [path] = index.shard_files().values()
    index.close()
    return path


def test_a_full_disk_is_named_and_an_intact_index_is_not_condemned(
    tmp_path,
    store,  # noqa: F811
    monkeypatch,
):
    import shutil
    from collections import namedtuple

    path = intact_index(tmp_path, store)
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        if kwargs.get("uri"):
            return real_connect(*args, **kwargs)
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode, error.sqlite_errorname = 13, "SQLITE_FULL"
        raise error

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**10, 10**10, 4096))
    with pytest.raises(SearchIndexError) as caught:
        SearchIndex(path.parent, create=False).search("退款")
    message = str(caught.value)
    assert "disk is full" in message and "0 MB free" in message and str(path) in message
    assert "passed its integrity check" in message
    assert "delete" not in message.replace("do not delete", "")


def test_a_write_that_runs_out_of_space_leaves_the_index_intact_and_says_so(
    tmp_path,
    store,  # noqa: F811
    monkeypatch,
):
    """A real failed write: the file-size limit stops SQLite mid-day like a full disk would."""
    import resource
    import shutil
    import signal
    from collections import namedtuple

    path = intact_index(tmp_path, store)
    big = {f"big-{n}": ("A1", "billing", [("customer", "我要退款，话费被多扣了。" * 20)] * 30)
           for n in range(40)}  # fmt: skip
    put_day(store, DAY2, big)
    index = SearchIndex(path.parent)
    before = index.search("退款").total
    size = max(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10**10, 10**10, 10**6))
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, limits[1]))
    try:
        with pytest.raises(SearchIndexError) as caught:
            update_index(store, index, DAY2)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    message = str(caught.value)
    assert "disk is full" in message and "1 MB free" in message and str(path) in message
    assert "passed its integrity check" in message
    assert "delete" not in message.replace("do not delete", "")
    assert index.search("退款").total == before and DAY2 not in index.indexed_days()
    index.close()


def test_a_locked_index_is_named_as_locked(tmp_path, store):  # noqa: F811
    from callscope.keywords.index import diagnose

    path = intact_index(tmp_path, store)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            sqlite3.connect(path, timeout=0, isolation_level=None).execute("BEGIN IMMEDIATE")
        message = diagnose(path, caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked by another process" in message and "delete" not in message


def test_an_unreadable_index_is_not_called_damaged(tmp_path, store):  # noqa: F811
    path = intact_index(tmp_path, store)
    for extra in path.parent.glob(path.name + "*"):
        extra.unlink()
    path.mkdir()  # a folder where the file should be: it cannot be opened or read
    with pytest.raises(SearchIndexError) as caught:
        SearchIndex(path.parent, create=False).search("退款")
    message = str(caught.value)
    assert "cannot be read" in message and "delete" not in message


def test_a_damaged_index_is_called_damaged(tmp_path, store):  # noqa: F811
    path = intact_index(tmp_path, store)
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page : len(data)] = b"\xff" * (len(data) - 2 * page)
    path.write_bytes(bytes(data))
    with pytest.raises(SearchIndexError, match="not a readable search index.*delete it"):
        index = SearchIndex(path.parent, create=False)
        index.search("退款")
