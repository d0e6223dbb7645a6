"""The data behind the console's charts (web/charts.py), which charts.js draws with ECharts
and the pages show as tables: every point keeps its link to the calls, spikes and warm-up
are flagged, a chart with nothing to show is left out."""

from __future__ import annotations

from callscope.web import charts


def day(date: str, calls: int | None, silence: float | None = None) -> dict:
    return {"date": date, "calls": calls, "silence": silence, "url": f"/calls?date={date}"}


DAYS = [day("2026-11-18", 10, 0.1), day("2026-11-19", 12, None), day("2026-11-20", 30, 0.25)]


def test_a_figure_chart_keeps_each_days_link_value_and_spike():
    spec = charts.figure_chart(DAYS, "calls", "Calls", str, frozenset({"2026-11-20"}))
    assert spec["dates"] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert [p["value"] for p in spec["points"]] == [10, 12, 30]
    assert [p["url"] for p in spec["points"]] == [d["url"] for d in DAYS]
    assert [p["spike"] for p in spec["points"]] == [False, False, True]
    assert spec["format"] == "number" and "compare" not in spec


def test_a_figure_without_a_value_has_a_dash_and_the_queue_line_is_kept():
    queue = [day("2026-11-18", 40, 0.2), day("2026-11-19", 41, 0.2), day("2026-11-20", 50, 0.3)]
    spec = charts.figure_chart(
        DAYS, "silence", "Silence", lambda v: f"{v:.0%}", compare=queue, names=("agent", "queue")
    )
    assert [p["text"] for p in spec["points"]] == ["10%", "-", "25%"]
    assert [p["value"] for p in spec["compare"]] == [0.2, 0.2, 0.3]
    assert spec["names"] == ["agent", "queue"] and spec["format"] == "percent"


def test_a_figure_no_day_has_gives_no_chart():
    assert charts.figure_chart(DAYS, "overtalk_s", "Overtalk", str) is None
    assert charts.day_counts([]) is None and charts.incident_chart([]) is None
    assert charts.trend_chart([], "sentiment") is None


def trend_row(date: str, key: str, sentiment: float | None, calls: int) -> dict:
    url = f"/trends/calls?date={date}&key={key}"
    return {"date": date, "key": key, "mean_sentiment": sentiment, "calls": calls, "url": url}


def test_trend_lines_align_each_group_on_the_days_and_link_every_point():
    rows = [
        trend_row("2026-11-19", "billing", -1.5, 9),
        trend_row("2026-11-20", "billing", -2.0, 8),
        trend_row("2026-11-20", "preorder", -3.25, 13),
    ]
    spec = charts.trend_chart(rows, "Customer sentiment by queue")
    assert spec["kind"] == "trend" and spec["dates"] == ["2026-11-19", "2026-11-20"]
    by_name = {s["name"]: s["points"] for s in spec["series"]}
    assert [p["value"] for p in by_name["preorder"]] == [None, -3.25]
    assert by_name["preorder"][1] == {
        "value": -3.25,
        "text": "-3.25",
        "url": "/trends/calls?date=2026-11-20&key=preorder",
        "calls": 13,
    }
    assert by_name["billing"][0]["url"] == "/trends/calls?date=2026-11-19&key=billing"


def test_one_day_of_trends_is_a_bar_per_group():
    rows = [
        trend_row("2026-11-20", "billing", None, 3),
        trend_row("2026-11-20", "preorder", -2, 13),
    ]
    spec = charts.trend_chart(rows, "sentiment")
    assert spec["kind"] == "groups" and spec["date"] == "2026-11-20"
    assert {b["name"]: b["value"] for b in spec["bars"]} == {"billing": 0.0, "preorder": -2}
    assert all(b["url"].startswith("/trends/calls?") for b in spec["bars"])


def test_incidents_flag_spikes_and_leave_warm_up_without_expected():
    rows = [
        {"label": "预约失败", "incident_id": "c1", "calls": 13, "expected": 0.5, "is_spike": True},
        {"label": "", "incident_id": "t2", "calls": 2, "expected": 0.0, "is_spike": False,
         "method": "warm-up"},
    ]  # fmt: skip
    bars = charts.incident_chart(rows)["bars"]
    assert bars[0] == {"name": "预约失败", "calls": 13, "expected": 0.5, "spike": True,
                       "warm_up": False}  # fmt: skip
    assert bars[1]["name"] == "t2" and bars[1]["expected"] is None and bars[1]["warm_up"]


def test_matches_a_day():
    spec = charts.day_counts(
        [{"date": "2026-11-19", "matches": 2}, {"date": "2026-11-20", "matches": 9}]
    )
    assert spec["dates"] == ["2026-11-19", "2026-11-20"]
    assert [p["value"] for p in spec["points"]] == [2, 9]
