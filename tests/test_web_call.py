"""The call page over the shared test warehouse: its conversation metrics (page and JSON), talk
lanes with a block per turn, the sentiment chart (its data and its table), and a search's terms marked in the transcript
(on the redacted text for marketing, who gets no audio and no seeking)."""

from __future__ import annotations

import html
import json
import re
import shutil
from urllib.parse import quote

from callscope.web import charts, services
from callscope.web.data import WarehouseView

from tests.web_support import AUDIO_CALL, make_app, sign_in

LAUNCH = "2026-11-20"
PAGE = f"/calls/{AUDIO_CALL}?date={LAUNCH}"
BLOCK = re.compile(
    r'<rect class="block spk-(\w+)[^"]*" [^>]*data-seg="(\d+)" data-start="([\d.]+)"'
)
MARK = re.compile(r"<mark>(.*?)</mark>")


def metric(page: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}"><dt>[^<]*</dt><dd>([^<]*)</dd>', page)
    assert found, f"no {name} in the metrics panel"
    return html.unescape(found.group(1))


def segment_marks(page: str) -> dict[int, list[str]]:
    """Each transcript turn's marked words, by turn."""
    turns = re.findall(r'<li class="seg [^"]*" id="seg-(\d+)"(.*?)</li>', page, re.S)
    return {int(idx): MARK.findall(body) for idx, body in turns}


# metrics ---------------------------------------------------------------------------------
def test_metrics_are_in_the_json_and_on_the_page(supervisor):
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    metrics = data["metrics"]
    assert set(services.CALL_METRICS) <= set(metrics)
    assert metrics["duration_s"] == 37.51 and metrics["customer_emotion"] == "negative"
    # the test warehouse's calls are staged with their turns, so no talk metrics were stored:
    # the speech rates are counted from the turns
    assert metrics["talk_time_agent_s"] is None
    assert metrics["speech_rate_customer"] > 0 and metrics["speech_rate_unit"] == "characters"
    page = supervisor.get(PAGE).text
    assert 'id="call-metrics"' in page
    assert metric(page, "duration_s") == "00:37"
    assert metric(page, "talk_time_agent_s") == metric(page, "overtalk_s") == "—"
    assert metric(page, "customer_sentiment_start") == f"{metrics['customer_sentiment_start']:+.1f}"
    assert metric(page, "escalation_risk_score") == "40%"
    assert re.fullmatch(r"\d+ chars/min", metric(page, "speech_rate_customer"))
    for name in services.CALL_METRICS:
        if name != "escalation_risk":
            assert (metric(page, name) == "—") == (metrics[name] is None), name


STORED = {
    "talk_time_agent_s": 75.2,
    "talk_time_customer_s": 61.0,
    "silence_ratio": 0.125,
    "non_talk_ratio": 0.25,
    "overtalk_s": 3.24,
    "interruptions_agent": 2,
    "interruptions_customer": 0,
    "hold_s": 12.0,
    "ivr_s": None,
    "speech_rate_agent": 240.4,
}


def test_stored_metrics_are_shown_formatted(supervisor, monkeypatch):
    call = WarehouseView.call
    monkeypatch.setattr(WarehouseView, "call", lambda *args: call(*args) | STORED)
    metrics = supervisor.get(f"/api/calls/{AUDIO_CALL}").json()["metrics"]
    assert {name: metrics[name] for name in STORED} == STORED
    page = supervisor.get(PAGE).text
    shown = {name: metric(page, name) for name in STORED}
    assert shown == {
        "talk_time_agent_s": "01:15",
        "talk_time_customer_s": "01:01",
        "silence_ratio": "12%",
        "non_talk_ratio": "25%",
        "overtalk_s": "3.2 s",
        "interruptions_agent": "2",
        "interruptions_customer": "0",
        "hold_s": "12.0 s",
        "ivr_s": "—",
        "speech_rate_agent": "240 chars/min",
    }


def test_missing_metrics_show_a_dash_and_speech_rates_fall_back_to_the_segments():
    segments = [
        {"speaker": "agent", "start_s": 0.0, "end_s": 6.0, "text": "您好请问有什么可以帮您"},
        {"speaker": "customer", "start_s": 6.0, "end_s": 9.0, "text": "I want a refund now"}
        | {"language": "en"},
    ]
    metrics = services.call_metrics({"language": "zh", "duration_s": 9.0}, segments)
    assert metrics["talk_time_agent_s"] is None and metrics["duration_s"] == 9.0
    assert metrics["speech_rate_agent"] == 110.0  # 11 characters in 6 s
    assert metrics["speech_rate_customer"] == 100.0  # 5 words in 3 s (English)
    assert services.speech_rate(segments, "ivr", "zh") is None


# lanes and the sentiment line ------------------------------------------------------------
def test_lanes_have_one_block_per_turn_at_its_start(supervisor):
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    segments = data["segments"]
    page = supervisor.get(PAGE).text
    blocks = BLOCK.findall(page)
    assert len(blocks) == len(segments) == 8
    by_idx = {int(idx): (speaker, float(start)) for speaker, idx, start in blocks}
    assert by_idx == {s["idx"]: (s["speaker"], s["start_s"]) for s in segments}
    assert by_idx[5] == ("customer", 26.66)
    assert page.count('class="lane lane-') == 2  # agent and customer, no other speaker
    assert 'data-seek="26.66"' in page  # a block seeks the audio
    lanes = data["timeline"]["lanes"]
    assert [lane["speaker"] for lane in lanes] == ["agent", "customer"]
    assert data["timeline"]["duration_s"] == 37.51


def test_the_sentiment_line_follows_each_turn(supervisor):
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    line = data["timeline"]["sentiment"]
    assert line["source"] == "segments"
    customer = [s for s in data["segments"] if s["speaker"] == "customer"]
    assert line["lines"]["customer"][:2] == [
        [customer[0]["start_s"], customer[0]["sentiment"]],
        [customer[0]["end_s"], customer[0]["sentiment"]],
    ]
    page = supervisor.get(PAGE).text
    assert 'id="sentiment-chart" data-source="segments"' in page
    assert "<polyline" not in page  # drawn by ECharts now, not as SVG


def chart_on(page: str) -> dict:
    found = re.search(r"<div class=\"chart chart-turns\" data-chart='([^']*)'", page)
    assert found, "no sentiment chart on the call page"
    return json.loads(html.unescape(found.group(1)))


def table_on(page: str) -> list[tuple[str, str, str]]:
    body = re.search(r'<table [^>]*id="sentiment-table">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(
        r"<tr data-speaker=\"(\w+)\"><td>(.*?)</td><td>.*?</td>"
        r'<td class="num">([^<]*)</td>',
        body,
    )
    return [(speaker, re.sub(r"<[^>]+>", "", time), text) for speaker, time, text in rows]


def test_the_sentiment_chart_has_a_point_per_turn_and_its_numbers_in_a_table(supervisor):
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    felt = [s for s in data["segments"] if s["sentiment"] is not None]
    page = supervisor.get(PAGE).text
    spec = chart_on(page)
    assert spec["kind"] == "turns" and spec["duration_s"] == 37.51
    points = {line["speaker"]: line["points"] for line in spec["series"]}
    customer = [s for s in felt if s["speaker"] == "customer"]
    assert [p["seg"] for p in points["customer"]] == [s["idx"] for s in customer]
    assert [p["value"] for p in points["customer"]] == [
        [s["start_s"], s["sentiment"]] for s in customer
    ]
    hit = next(p for p in points["customer"] if p["seg"] == 5)
    assert hit["time"] == "0:26" and hit["value"][0] == 26.66  # a click seeks to 26.66 s
    rows = table_on(page)
    assert len(rows) == len(felt) and [r[1] for r in rows] == sorted(r[1] for r in rows)
    assert ("customer", "0:26", f"{hit['value'][1]:+.1f}") in rows
    assert '<a href="#seg-5">0:26</a>' in page
    assert "vendor/echarts.min.js" in page and "charts.js" in page


def test_without_the_chart_library_the_call_page_shows_the_table_open(
    web_warehouse, tmp_path, monkeypatch
):
    from callscope.web import app as web_app

    static = tmp_path / "static"
    shutil.copytree(web_app.STATIC_DIR, static, ignore=shutil.ignore_patterns("vendor"))
    monkeypatch.setattr(web_app, "STATIC_DIR", static)
    page = sign_in(make_app(web_warehouse), "supervisor").get(PAGE).text
    assert "data-chart=" not in page and "echarts" not in page
    assert '<details class="chart-numbers" open>' in page and len(table_on(page)) >= 6


def test_without_turn_sentiment_the_chart_is_the_customers_start_and_end():
    shown = [{"idx": 0, "speaker": "customer", "start_s": 0.0, "end_s": 4.0, "sentiment": None}]
    shown[0] |= {"emotion": None, "marks": []}
    call = {"duration_s": 75.0, "customer_sentiment_start": -1.0, "customer_sentiment_end": 2.0}
    spec = charts.call_sentiment_chart(services.timeline(call, shown))
    assert spec["source"] == "call"
    assert [(p["time"], p["text"], p["seg"]) for p in charts.turn_rows(spec)] == [
        ("0:00", "-1.0", None),
        ("1:15", "+2.0", None),
    ]
    assert charts.call_sentiment_chart(services.timeline({"duration_s": None}, shown)) is None


def test_without_turn_sentiment_the_line_is_the_customers_start_to_end():
    shown = [{"idx": 0, "speaker": "customer", "start_s": 0.0, "end_s": 4.0, "sentiment": None}]
    shown[0] |= {"emotion": None, "marks": []}
    call = {"duration_s": 10.0, "customer_sentiment_start": -1.0, "customer_sentiment_end": 2.0}
    line = services.timeline(call, shown)["sentiment"]
    assert line == {"source": "call", "lines": {"customer": [(0.0, -1.0), (10.0, 2.0)]}}
    bare = services.timeline({"duration_s": None}, shown)
    assert bare["sentiment"] == {"source": None, "lines": {}} and bare["duration_s"] == 4.0


# the search term in the transcript -------------------------------------------------------
def test_the_query_term_is_marked_and_only_it(supervisor):
    page = supervisor.get(f"{PAGE}&t=5.18&seg=1&q={quote('预约')}").text
    marks = segment_marks(page)
    assert {idx: words for idx, words in marks.items() if words} == {
        1: ["预约", "预约"],
        2: ["预约"],
    }
    assert 'id="hit-nav"' in page and 'data-count="2"' in page
    assert len(re.findall(r'class="block [^"]*marked"', page)) == 2
    data = supervisor.get(f"/api/calls/{AUDIO_CALL}", params={"date": LAUNCH}).json()
    assert all(not s["marks"] for s in data["segments"])  # no query, nothing marked
    params = {"date": LAUNCH, "q": "预约"}
    marked = supervisor.get(f"/api/calls/{AUDIO_CALL}", params=params).json()["segments"]
    assert [s["idx"] for s in marked if s["marks"]] == [1, 2]  # the API marks as the page does
    plain = supervisor.get(PAGE).text
    assert "<mark>" not in plain and 'id="hit-nav"' not in plain


def test_every_positive_term_of_a_query_is_marked(supervisor):
    both = segment_marks(supervisor.get(f"{PAGE}&q={quote('预约 OR 工信部')}").text)
    assert {idx for idx, words in both.items() if words} == {1, 2, 5}
    assert both[5] == ["工信部"]
    left = segment_marks(supervisor.get(f"{PAGE}&q={quote('配送 NOT 工信部')}").text)
    assert {idx: words for idx, words in left.items() if words} == {3: ["配送"], 4: ["配送"]}
    heard = segment_marks(supervisor.get(f"{PAGE}&q={quote('~工信部')}").text)
    assert {idx: words for idx, words in heard.items() if words} == {5: ["工信部"]}


def test_a_query_without_matches_or_that_does_not_parse_marks_nothing(supervisor):
    for query in ("退款", "(预约"):
        response = supervisor.get(f"{PAGE}&q={quote(query)}")
        assert response.status_code == 200
        assert "<mark>" not in response.text and "hit-prev" in response.text
        assert re.search(r'id="hit-next"\s+disabled', response.text)


def test_marketing_gets_marks_on_the_redacted_text_and_no_audio(marketing):
    page = marketing.get(f"{PAGE}&q={quote('回电')}").text
    assert "13812345678" not in page and "[phone]" in page
    assert segment_marks(page)[7] == ["回电"]
    assert "<audio" not in page and "/audio" not in page
    assert not re.search(r"<rect [^>]*data-seek", page)  # the lanes only scroll
    assert len(BLOCK.findall(page)) == 8  # the lanes are there, to scroll with
    assert len(table_on(page)) == len(chart_on(page)["series"][0]["points"]) + len(
        chart_on(page)["series"][1]["points"]
    )  # the sentiment chart is there too, its turns linking to the transcript
    placeholder = segment_marks(marketing.get(f"{PAGE}&q=phone").text)
    assert not any(placeholder.values())  # a placeholder is not a match


def test_search_results_link_to_the_call_with_the_query(supervisor):
    page = supervisor.get("/search", params={"q": "工信部"}).text
    link = re.search(r'class="hit-link" href="([^"]+)"', page).group(1)
    assert (
        html.unescape(link)
        == f"/calls/{AUDIO_CALL}?date={LAUNCH}&t=26.66&seg=5&q={quote('工信部')}"
    )
