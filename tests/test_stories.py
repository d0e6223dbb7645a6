"""How the hand-off tells the day's incidents: one story, one section (incidents/stories.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from callscope.incidents.report import markdown, sparkline
from callscope.incidents.stories import StorySettings, arrange

DAY = dt.date(2026, 11, 20)
UTC = dt.UTC


def _calls(prefix: str, n: int, queue: str = "sales", hour_utc: int = 2, direction="inbound"):
    return [
        {
            "call_id": f"{prefix}{i:02d}",
            "started_at": dt.datetime(2026, 11, 20, hour_utc, i, tzinfo=UTC),
            "queue": queue,
            "direction": direction,
        }
        for i in range(n)
    ]


def _row(incident_id: str, call_ids: list[str], *, spike=True, kind="topic", **extra) -> dict:
    row = {
        "incident_id": incident_id,
        "kind": kind,
        "label": incident_id,
        "category": incident_id.split(":")[1] if kind == "category" else None,
        "terms": [],
        "variants": [],
        "categories": [],
        "calls": len(call_ids),
        "share": 0.1,
        "expected": 0.5,
        "baseline_days": 4,
        "ratio": len(call_ids) / 0.5,
        "p_value": 1e-6 if spike else 0.5,
        "score": float(len(call_ids)),
        "is_spike": spike,
        "method": "poisson",
        "queues": [],
        "mean_sentiment": -1.0,
        "escalation_risk_calls": 1,
        "call_ids": call_ids,
        "examples": [{"call_id": c, "start_s": 1.0, "text": f"said in {c}"} for c in call_ids[:3]],
    }
    row.update(extra)
    return row


@pytest.fixture
def launch_day():
    """A pre-order category spike of 20 calls; two topic spikes and a quiet topic that lie
    inside it; a delivery topic spike elsewhere; 40 other calls."""
    preorder = _calls("p", 20, queue="sales")
    delivery = _calls("d", 8, queue="logistics", hour_utc=6)
    other = _calls("o", 40, queue="service", hour_utc=5)
    ids = [c["call_id"] for c in preorder]
    rows = [
        _row("category:preorder_failure", ids, kind="category"),
        _row("topic:deposit", ids[:6]),
        _row("topic:app", ids[6:10] + ["o00"]),  # 4 of 5 inside
        _row("topic:phone", ids[10:14], spike=False),
        _row("topic:delivery", [c["call_id"] for c in delivery]),
        _row("topic:bills", [c["call_id"] for c in other[:10]], spike=False),
    ]
    return rows, preorder + delivery + other


def test_topics_inside_a_category_spike_are_its_facets(launch_day):
    rows, calls = launch_day
    rows, stories = arrange(rows, calls)
    assert [s.incident_id for s in stories] == ["category:preorder_failure", "topic:delivery"]
    facets = {f.row["incident_id"]: f.shared for f in stories[0].facets}
    assert facets == {"topic:deposit": 6, "topic:app": 4, "topic:phone": 4}
    section = {r["incident_id"]: (r["section"], r["story_id"]) for r in rows}
    assert section["topic:deposit"] == ("facet", "category:preorder_failure")
    assert section["topic:phone"] == ("facet", "category:preorder_failure")
    assert section["topic:bills"] == (None, None)
    assert section["topic:delivery"] == ("story", "topic:delivery")


def test_no_call_is_quoted_twice(launch_day):
    rows, calls = launch_day
    _, stories = arrange(rows, calls)
    quoted = [e["call_id"] for s in stories for e in s.examples]
    quoted += [f.example["call_id"] for s in stories for f in s.facets if f.example]
    assert len(quoted) == len(set(quoted))
    assert all(f.example for f in stories[0].facets)  # each facet still has one of its own


def test_a_topic_half_inside_a_spike_is_a_story_of_its_own():
    calls = _calls("c", 20)
    ids = [c["call_id"] for c in calls]
    rows = [
        _row("category:preorder_failure", ids[:10], kind="category"),
        _row("topic:refund", ids[5:15]),  # 5 of 10 inside: below nest_share 0.6
    ]
    _, stories = arrange(rows, calls)
    assert len(stories) == 2
    _, nested = arrange(rows, calls, StorySettings(nest_share=0.5))
    assert [s.incident_id for s in nested] == ["category:preorder_failure"]


def test_a_small_category_inside_a_larger_topic_is_the_topics_facet():
    calls = _calls("c", 30)
    ids = [c["call_id"] for c in calls]
    rows = [
        _row("topic:outage", ids),
        _row("category:cancel_threat", ids[:6], kind="category"),
        _row("topic:router", ids[20:26], spike=False),
    ]
    rows, stories = arrange(rows, calls)
    assert [s.incident_id for s in stories] == ["topic:outage"]
    assert {f.row["incident_id"] for f in stories[0].facets} == {
        "category:cancel_threat",
        "topic:router",
    }


def test_a_small_rise_is_emerging_not_buried():
    calls = _calls("c", 40)
    ids = [c["call_id"] for c in calls]
    small = dict(spike=False, p_value=0.002, ratio=6.0)
    rows = [
        _row("topic:hotline", ids[:3], **small),
        _row("topic:noise", ids[3:6], spike=False, p_value=0.05, ratio=6.0),
        _row("topic:flat", ids[6:10], spike=False, p_value=0.001, ratio=1.2),
        _row("topic:warming", ids[10:14], **{**small, "method": "warm-up"}),
        _row("topic:two", ids[14:16], **small),
        _row("topic:usual", ids[16:21], **{**small, "expected": 1.0}),  # not rare until today
    ]
    rows, stories = arrange(rows, calls)
    assert [(s.incident_id, s.section) for s in stories] == [("topic:hotline", "emerging")]
    assert {r["incident_id"]: r["section"] for r in rows}["topic:noise"] is None


def test_a_small_rise_inside_a_story_is_a_facet_not_emerging(launch_day):
    rows, calls = launch_day
    rows[3].update(p_value=0.002, ratio=8.0)  # topic:phone rose too, inside the pre-order story
    rows, stories = arrange(rows, calls)
    assert [s.section for s in stories] == ["story", "story"]
    assert {r["incident_id"]: r["section"] for r in rows}["topic:phone"] == "facet"


def test_figures_marketing_acts_on(launch_day):
    rows, calls = launch_day
    rows, _ = arrange(rows, calls, timezone="Asia/Shanghai")
    preorder = rows[0]
    assert preorder["first_call_at"] == dt.datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert preorder["last_call_at"] == dt.datetime(2026, 11, 20, 2, 19, tzinfo=UTC)
    assert preorder["calls_by_hour"][10] == 20 and sum(preorder["calls_by_hour"]) == 20
    assert preorder["queue_shares"] == [{"queue": "sales", "calls": 20, "share": 1.0}]
    app = next(r for r in rows if r["incident_id"] == "topic:app")
    assert app["queue_shares"] == [
        {"queue": "sales", "calls": 4, "share": 0.2},
        {"queue": "service", "calls": 1, "share": 1 / 40},
    ]
    assert app["directions"] == [{"direction": "inbound", "calls": 5}]
    assert app["story_calls"] == 4 and app["story_rank"] == 1


def test_summary_tells_each_story_once_chinese_first(launch_day):
    rows, calls = launch_day
    rows[0]["rule"] = "preorder_failure: customer says 预约 within 12 of 失败"
    rows[0]["variants"] = [{"term": "星河九号", "heard": ["星和九号"]}]
    rows[0]["examples"][0]["text"] = "星和九号预约失败"
    rows, stories = arrange(rows, calls)
    hours = [0] * 24
    hours[10], hours[13], hours[14] = 20, 40, 8
    text = markdown(DAY, stories, rows, len(calls), "chart.png", "Asia/Shanghai", hours)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## 1. category:preorder_failure", "## 2. topic:delivery"]
    assert len(headings) == 3  # two stories and the table
    section = text.split("## 1.")[1].split("## 2.")[0]
    assert "首通 10:00，末通 10:19 · first call 10:00, last 10:19" in section
    assert "占当天来电" in section and "100% of queue sales's calls" in section
    assert "规则 · rule: preorder_failure" in section
    assert "**topic:deposit**: 6 通 · 6 calls" in section
    assert "星河九号预约失败" in section and "星和九号" not in section
    first_lines = text.splitlines()
    assert first_lines[0].startswith("# 2026-11-20 来电事件")
    assert "`█" in section  # the hour chart, 10:00 to 14:00 of the day


def test_sparkline_scales_to_the_peak():
    hours = [0] * 24
    hours[9], hours[10], hours[12] = 1, 8, 4
    assert sparkline(hours, (9, 12)) == "▁█ ▄"
    assert sparkline([0] * 24, (8, 10)) == "   "


def test_an_aspect_is_counted_inside_the_stories_it_runs_through(launch_day):
    """A repeat-contact spike whose calls lie in the pre-order and delivery stories heads no
    section of its own; both stories count it."""
    rows, calls = launch_day
    preorder, delivery = rows[0]["call_ids"], rows[4]["call_ids"]
    repeat = preorder[:5] + delivery[:4] + ["o30"]
    rows.append(_row("category:repeat_contact", repeat, kind="category"))
    rows, stories = arrange(rows, calls, aspects=frozenset({"repeat_contact"}))
    assert [s.incident_id for s in stories] == ["category:preorder_failure", "topic:delivery"]
    counted = [[(a.row["incident_id"], a.shared) for a in s.aspects] for s in stories]
    assert counted == [[("category:repeat_contact", 5)], [("category:repeat_contact", 4)]]
    row = rows[-1]
    assert (row["section"], row["story_id"]) == ("aspect", "category:preorder_failure")
    text = markdown(DAY, stories, rows, len(calls), None)
    assert text.count("其中 · of these: category:repeat_contact") == 2


def test_an_aspect_that_rose_on_its_own_is_a_story(launch_day):
    rows, calls = launch_day
    others = [c["call_id"] for c in calls if c["call_id"].startswith("o")]
    rows.append(_row("category:repeat_contact", others[:12], kind="category"))
    _, stories = arrange(rows, calls, aspects=frozenset({"repeat_contact"}))
    assert "category:repeat_contact" in [s.incident_id for s in stories]


def test_examples_link_to_their_moment_in_the_console(launch_day):
    rows, calls = launch_day
    rows, stories = arrange(rows, calls)
    text = markdown(DAY, stories, rows, len(calls), None, console_url="https://cs.example.cn")
    link = "[听 · listen](https://cs.example.cn/calls/p00?date=2026-11-20&t=1.0)"
    assert f"said in p00 (p00) {link}" in text
    assert "listen" not in markdown(DAY, stories, rows, len(calls), None)


@pytest.mark.parametrize("url", ["cs.example.cn", "ftp://cs.example.cn", "https://"])
def test_the_console_address_must_be_an_http_url(url):
    from callscope.core.config import load_config
    from callscope.core.errors import ConfigError

    with pytest.raises(ConfigError, match="public_url"):
        load_config(None, web={"public_url": url})
    assert load_config(None, web={"public_url": "https://cs.example.cn/"}).web.public_url == (
        "https://cs.example.cn"
    )


def test_a_topic_story_is_titled_by_the_category_holding_its_calls(launch_day):
    rows, calls = launch_day
    delivery = rows[4]["call_ids"]
    rows.append(_row("category:delivery_lookup", delivery[:6] + ["o01"], kind="category",
                     spike=False, label="配送 / 物流查询 · delivery look-up"))  # fmt: skip
    rows, stories = arrange(rows, calls)
    story = next(s for s in stories if s.incident_id == "topic:delivery")
    assert story.title == "配送 / 物流查询 · delivery look-up：topic:delivery"
    assert next(r for r in rows if r["incident_id"] == "topic:delivery")["title"] == story.title
    text = markdown(DAY, stories, rows, len(calls), None)
    assert "## 2. 配送 / 物流查询 · delivery look-up：topic:delivery" in text
