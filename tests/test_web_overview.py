"""The overview and the agent view, fast, over a small generated warehouse: their figures
equal a direct computation from the calls table for the period and filters; day summaries
follow a rewritten day; roles (marketing gets neither the overview nor the agent view, and a
day's calls without agents); the summaries warmed when the app starts."""

from __future__ import annotations

import datetime as dt
import html
import json
import random
import re
import shutil

import pyarrow as pa
import pytest
from callscope.core.config import load_config
from callscope.storage.schemas import to_table
from callscope.storage.warehouse import Warehouse
from callscope.web import overview as ov
from callscope.web.app import create_app
from fastapi.testclient import TestClient

from tests.web_support import add_users, sign_in

FIRST = dt.date(2026, 3, 1)
N_DAYS = 12
QUEUES = ("billing", "broadband")
AGENTS = ("A1", "A2", "A3", "A4")
CATEGORIES = ("rudeness", "refund", "cancel")
LAST = FIRST + dt.timedelta(days=N_DAYS - 1)


def call_row(day: dt.date, n: int, rng: random.Random) -> dict:
    def maybe(value):
        return None if rng.random() < 0.1 else value

    return {
        "call_id": f"{day:%m%d}-{n:04d}",
        "date": day,
        "started_at": dt.datetime.combine(day, dt.time(8), dt.UTC) + dt.timedelta(minutes=n),
        "status": "ok" if rng.random() > 0.05 else "error",
        "queue": rng.choice(QUEUES),
        "agent_id": rng.choice(AGENTS),
        "duration_s": maybe(rng.uniform(30, 900)),
        "silence_ratio": maybe(rng.uniform(0, 0.5)),
        "overtalk_s": maybe(rng.uniform(0, 30)),
        "interruptions_agent": maybe(rng.randint(0, 6)),
        "interruptions_customer": maybe(rng.randint(0, 6)),
        "customer_sentiment": maybe(rng.uniform(-5, 5)),
        "customer_sentiment_start": maybe(rng.uniform(-5, 5)),
        "customer_sentiment_end": maybe(rng.uniform(-5, 5)),
        "escalation_risk": maybe(rng.random() < 0.2),
        "categories": rng.sample(CATEGORIES, rng.randint(0, 2)),
    }


def spike_row(day: dt.date) -> dict:
    return {
        "date": day, "incident_id": "category:refund", "kind": "category",
        "category": "refund", "label": "退款 refund", "calls": 30, "expected": 8.0,
        "ratio": 3.4, "is_spike": True, "queues": ["billing"], "categories": ["refund"],
    }  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("overview")
    settings = load_config(None, warehouse=root / "warehouse", recordings=root / "recordings")
    settings.web.language = "en"
    store = Warehouse(settings.warehouse)
    rng = random.Random(7)
    rows = {}
    for n in range(N_DAYS):
        day = FIRST + dt.timedelta(days=n)
        rows[day] = [call_row(day, i, rng) for i in range(40 + 5 * n)]
        store.replace_day("calls", day, to_table("calls", rows[day]))
    store.replace_day("incidents", LAST, to_table("incidents", [spike_row(LAST)]))
    add_users(settings)
    app = create_app(settings, recordings=root / "recordings", secret=b"o" * 40)
    return settings, store, rows, app


@pytest.fixture(scope="module")
def clients(built):
    app = built[3]
    return {role: sign_in(app, role) for role in ("supervisor", "analyst", "marketing")}


def mean(values) -> float | None:
    found = [v for v in values if v is not None]
    return sum(found) / len(found) if found else None


def expected(rows: list[dict]) -> dict:
    """The figures computed from the calls rows directly."""
    out = {"calls": len(rows), "escalations": sum(bool(r["escalation_risk"]) for r in rows)}
    out["escalation_share"] = out["escalations"] / len(rows) if rows else None
    for measure, column in ov.MEASURES.items():
        out[measure] = mean(r[column] for r in rows)
    return out


def selected(rows, start, end, queues=(), category=None, agent=None) -> list[dict]:
    return [
        r
        for day, day_rows in rows.items()
        if start <= day <= end
        for r in day_rows
        if (not queues or r["queue"] in queues)
        and (not category or category in r["categories"])
        and (not agent or r["agent_id"] == agent)
    ]


def assert_figures(got: dict, want: dict) -> None:
    assert got["calls"] == want["calls"]
    for key, value in want.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize(
    "queues, category",
    [((), None), (("billing",), None), ((), "refund"), (("broadband",), "rudeness")],
)
def test_overview_figures_equal_the_calls_table(built, clients, queues, category):
    rows = built[2]
    start, end = FIRST + dt.timedelta(days=2), LAST
    params = {"from": start.isoformat(), "to": end.isoformat(), "queue": list(queues)}
    params |= {"category": category} if category else {}
    got = clients["supervisor"].get("/api/overview", params=params).json()
    assert_figures(got["totals"], expected(selected(rows, start, end, queues, category)))
    assert [d["date"] for d in got["days"]] == [
        (start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)
    ]
    for day in got["days"]:
        date = dt.date.fromisoformat(day["date"])
        assert_figures(day, expected(selected(rows, date, date, queues, category)))
        assert day["url"].startswith(f"/calls?date={day['date']}")
    tagged = selected(rows, start, end, queues)
    for top in got["top_categories"]:
        assert top["calls"] == sum(top["category"] in r["categories"] for r in tagged)


def test_the_overview_point_lists_the_calls_behind_it(built, clients):
    rows, client = built[2], clients["supervisor"]
    got = client.get("/api/overview", params={"queue": "billing", "category": "refund"}).json()
    day = got["days"][-1]
    assert day["url"] == f"/calls?date={LAST}&queue=billing&category=refund"
    listed = client.get("/api" + day["url"]).json()
    assert listed["total"] == day["calls"] == len(selected(rows, LAST, LAST, ["billing"], "refund"))
    page = client.get(day["url"])
    assert page.status_code == 200 and listed["calls"][0]["call_id"] in page.text


def charts_of(page: str) -> dict[str, dict]:
    """Each figure chart's data as the page carries it for charts.js, by measure."""
    found = re.findall(r'<figure id="chart-(\w+)">.*?data-chart=\'([^\']*)\'', page, re.S)
    return {measure: json.loads(html.unescape(data)) for measure, data in found}


def chart_tables(page: str) -> dict[str, list[list[str]]]:
    """Each figure chart's table of numbers (what the page shows without script), by measure:
    its rows' cells as text."""
    tables = {}
    for measure, body in re.findall(
        r'<figure id="chart-(\w+)">.*?<tbody>(.*?)</tbody>', page, re.S
    ):
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
        cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
        tables[measure] = [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells]
    return tables


def test_overview_page_carries_each_charts_data_and_its_table(clients):
    client = clients["supervisor"]
    page = client.get("/overview")
    assert page.status_code == 200 and 'id="overview-figures"' in page.text
    assert "/incidents?date=" in page.text and "/agents/A1?" in page.text
    assert "/static/vendor/echarts.min.js?v=" in page.text and "/static/charts.js?v=" in page.text
    got = client.get("/api/overview").json()
    charts = charts_of(page.text)
    assert list(charts) == [
        "calls",
        "handle_s",
        "silence",
        "overtalk_s",
        "sentiment",
        "escalation_share",
    ]
    calls = charts["calls"]
    assert calls["dates"] == [day["date"] for day in got["days"]]
    assert [p["value"] for p in calls["points"]] == [day["calls"] for day in got["days"]]
    assert [p["url"] for p in calls["points"]] == [day["url"] for day in got["days"]]
    assert [p["spike"] for p in calls["points"]] == [False] * (N_DAYS - 1) + [True]
    assert charts["silence"]["format"] == "percent" and charts["handle_s"]["format"] == "clock"
    table = chart_tables(page.text)["calls"]
    assert [int(row[1]) for row in table] == [day["calls"] for day in got["days"]]
    assert "SPIKE" in table[-1][0] and "SPIKE" not in table[0][0]
    assert chart_tables(page.text)["silence"][0][1].endswith("%")
    narrowed = client.get("/overview", params={"category": "refund"})
    assert narrowed.status_code == 200 and "/agents/A1?" in narrowed.text


def test_agent_page_charts_carry_the_queue_to_compare(clients):
    client = clients["supervisor"]
    page = client.get("/agents/A1").text
    got = client.get("/api/agents/A1/figures").json()
    calls = charts_of(page)["calls"]
    assert calls["names"] == ["agent", "queue"]
    assert [p["value"] for p in calls["compare"]] == [day["calls"] for day in got["queue_days"]]
    assert [p["url"] for p in calls["points"]] == [day["url"] for day in got["days"]]
    assert [len(row) for row in chart_tables(page)["calls"]] == [3] * len(got["days"])


def test_without_the_vendored_library_the_pages_show_tables(built, clients, tmp_path, monkeypatch):
    """An install without npm has no static/vendor/: the pages load no chart script, draw no
    chart element and open every chart's table."""
    from callscope.web import app as web_app

    static = tmp_path / "static"
    shutil.copytree(web_app.STATIC_DIR, static, ignore=shutil.ignore_patterns("vendor"))
    monkeypatch.setattr(web_app, "STATIC_DIR", static)
    settings = built[0]
    client = sign_in(
        create_app(settings, recordings=settings.recordings, secret=b"v" * 40), "supervisor"
    )
    page = client.get("/overview")
    assert page.status_code == 200
    assert (
        "echarts" not in page.text
        and "charts.js" not in page.text
        and "data-chart=" not in page.text
    )
    assert page.text.count('<details class="chart-numbers" open>') == 6
    want = [day["calls"] for day in clients["supervisor"].get("/api/overview").json()["days"]]
    assert [int(row[1]) for row in chart_tables(page.text)["calls"]] == want
    assert client.get("/static/vendor/echarts.min.js").status_code == 404
    assert client.get("/agents/A1").status_code == 200


def test_spikes_follow_the_filters(clients):
    client = clients["supervisor"]
    assert client.get("/api/overview", params={"queue": "billing"}).json()["spikes"]
    assert not client.get("/api/overview", params={"queue": "broadband"}).json()["spikes"]
    assert not client.get("/api/overview", params={"category": "cancel"}).json()["spikes"]


@pytest.mark.parametrize("agent", AGENTS[:2])
def test_agent_view_against_its_queues(built, clients, agent):
    rows = built[2]
    got = clients["supervisor"].get(f"/api/agents/{agent}/figures").json()
    start, end = dt.date.fromisoformat(got["from"]), dt.date.fromisoformat(got["to"])
    mine = selected(rows, start, end, agent=agent)
    assert got["queues"] == sorted({r["queue"] for r in mine})
    assert_figures(got["agent"], expected(mine))
    assert_figures(got["queue"], expected(selected(rows, start, end, got["queues"])))
    theirs = selected(rows, start, end, got["queues"])
    for cat in got["categories"]:
        count = sum(cat["category"] in r["categories"] for r in mine)
        assert cat["calls"] == count and cat["share"] == pytest.approx(count / len(mine))
        in_queue = sum(cat["category"] in r["categories"] for r in theirs)
        assert cat["queue_share"] == pytest.approx(in_queue / len(theirs))
    assert got["days"][-1]["url"] == f"/calls?date={LAST}&agent={agent}"
    page = clients["supervisor"].get(f"/agents/{agent}")
    assert page.status_code == 200 and 'id="agent-figures"' in page.text


def test_roles(clients):
    marketing = clients["marketing"]
    assert marketing.get("/api/agents/A1/figures").status_code == 403
    assert marketing.get("/agents/A1").status_code == 403
    assert marketing.get("/").headers["location"] != "/overview"
    for role in ("supervisor", "analyst"):
        assert clients[role].get("/").headers["location"] == "/overview"
        assert clients[role].get("/api/agents/A1/figures").status_code == 200
        assert clients[role].get("/agents/A1").status_code == 200
    assert clients["supervisor"].get("/api/agents/nobody/figures").status_code == 404


def test_marketing_gets_no_floor_figures(clients):
    """The overview is the supervisors' and analysts' (by URL too); marketing keeps a day's
    calls without agents: no agent column, no agent filter, no way back to the overview."""
    marketing = clients["marketing"]
    answer = marketing.get("/api/overview", params={"from": FIRST, "to": LAST})
    assert answer.status_code == 403 and "overview" in answer.json()["error"]
    page = marketing.get("/overview")
    assert page.status_code == 403 and 'id="overview-figures"' not in page.text
    assert 'id="nav-overview"' not in page.text
    calls = marketing.get("/api/calls", params={"date": LAST, "limit": 1000}).json()
    assert calls["total"] and all("agent_id" not in row for row in calls["calls"])
    assert marketing.get("/api/calls", params={"date": LAST, "agent": "A1"}).status_code == 403
    listed = marketing.get("/calls", params={"date": LAST})
    assert listed.status_code == 200 and 'href="/overview"' not in listed.text
    assert not any(f"<td>{agent}</td>" in listed.text for agent in AGENTS)
    for role in ("supervisor", "analyst"):
        data = clients[role].get("/api/overview").json()
        assert data["totals"]["calls"] and data["agents"]
        listed = clients[role].get("/calls", params={"date": LAST}).text
        assert 'href="/overview"' in listed and 'id="nav-overview"' in listed
        assert any(f"<td>{agent}</td>" in listed for agent in AGENTS)


def test_bad_periods_are_400(clients):
    client = clients["supervisor"]
    assert (
        client.get("/api/overview", params={"from": "2026-03-09", "to": "2026-03-01"}).status_code
        == 400
    )
    assert (
        client.get("/api/overview", params={"from": "2024-01-01", "to": "2026-03-01"}).status_code
        == 400
    )
    assert client.get("/api/overview", params={"to": "yesterday"}).status_code == 400


def test_a_rewritten_day_is_summed_again(tmp_path):
    store = Warehouse(tmp_path / "wh")
    from callscope.web.data import WarehouseView

    view = WarehouseView(tmp_path / "wh")
    rng = random.Random(1)
    first = [call_row(FIRST, i, rng) for i in range(10)]
    store.replace_day("calls", FIRST, to_table("calls", first))
    summaries = ov.summaries_of(view)
    assert ov.total(summaries.period(FIRST, FIRST)["queues"])["calls"] == 10
    store.replace_day("calls", FIRST, to_table("calls", first[:4]))
    assert ov.total(summaries.period(FIRST, FIRST)["queues"])["calls"] == 4


def test_a_call_tagged_twice_with_one_category_counts_once():
    table = pa.Table.from_pylist(
        [{"queue": "q", "agent_id": "a", "categories": ["x", "x", "y"], "escalation_risk": None}
         | {column: 1.0 for column in ov.MEASURES.values()}]
    )  # fmt: skip
    summary = ov.summarize(table.cast(to_table("calls", []).select(ov.READ).schema))
    assert sorted(summary.categories.select(["category", "calls"]).to_pylist(),
                  key=lambda r: r["category"]) == [{"category": "x", "calls": 1},
                                                   {"category": "y", "calls": 1}]  # fmt: skip


def test_a_started_app_sums_its_days_in_the_background(built):
    settings, _, rows, cold_app = built
    cold = sign_in(cold_app, "supervisor")
    assert cold.get("/api/overview").json()["warm"] is False  # never started: served as before
    app = create_app(settings, recordings=settings.recordings, secret=b"w" * 40)
    with TestClient(app, follow_redirects=False) as client:
        warmer = app.state.warmer
        warmer.thread.join(timeout=30)
        assert warmer.thread.daemon and not warmer.thread.is_alive()
        assert sorted(warmer.summaries.days.items) == sorted(rows)
        assert (FIRST, LAST) in warmer.summaries.periods.items  # the default period, stacked
        sign_in(app, "supervisor", client=client)
        data = client.get("/api/overview").json()
        assert data["warm"] is True
        assert data["totals"] == cold.get("/api/overview").json()["totals"]
        assert 'data-warm="true"' in client.get("/overview").text


def test_a_corrupt_day_is_left_to_the_request_that_needs_it(tmp_path, caplog):
    from callscope.web.data import WarehouseView

    store, rng = Warehouse(tmp_path / "wh"), random.Random(2)
    days = [FIRST + dt.timedelta(days=n) for n in range(3)]
    for day in days:
        store.replace_day(
            "calls", day, to_table("calls", [call_row(day, i, rng) for i in range(5)])
        )
    part = tmp_path / "wh" / "calls" / f"date={days[1]}" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:40])
    summaries = ov.summaries_of(WarehouseView(tmp_path / "wh"))
    warmer = ov.Warmer(summaries, (days[0], days[-1])).start()
    warmer.thread.join(timeout=30)
    assert summaries.warmed.is_set()
    assert set(summaries.days.items) == {days[0], days[2]}
    assert f"overview: {days[1]} not summed ahead" in caplog.text
