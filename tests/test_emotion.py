"""Emotion: the embedded text sentiment, fusion with the voice, call summaries, the day step,
trends and text-only dialogue scoring, over a real Parquet warehouse."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from callscope.core.config import load_config
from callscope.emotion.call import CallEmotionSettings, Turn, summarize_call
from callscope.emotion.daily import apply_emotion
from callscope.emotion.dialogues import DialogueError, read_dialogues
from callscope.emotion.fuse import FusionSettings, fuse
from callscope.emotion.lexicon import LexiconError, LexiconScorer, get_lexicon_scorer, load_lexicon
from callscope.emotion.scores import EMOTIONS, TextScore, VoiceScore
from callscope.emotion.trends import load_trends
from callscope.keywords.daily import apply_categories
from callscope.keywords.rules import load_rules
from callscope.storage.warehouse import Warehouse
from typer.testing import CliRunner

from callscope.cli import app
from tests.test_search import put_day

DAY1 = dt.date(2026, 11, 20)
DAY2 = dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def scorer() -> LexiconScorer:
    return get_lexicon_scorer()


def valence(scorer, text: str) -> float:
    return scorer.score_one(text).valence


@pytest.mark.parametrize(
    "text",
    [
        "非常满意，谢谢你们！",
        "问题已经解决了，服务很好。",
        "不错，挺方便的。",
        "不是不好",
        "没问题，谢谢",
        "Thank you so much, that solved it!",
        "The service is not bad at all.",
    ],
)
def test_clearly_positive_sentences(scorer, text):
    score = scorer.score_one(text)
    assert score.valence > 0.5 and score.label == "positive", score


@pytest.mark.parametrize(
    "text",
    [
        "我很不满意",
        "不满意",
        "服务太差了，一点都不专业。",
        "你们这是乱扣费，我要投诉！",
        "网速太慢，根本没法用。",
        "I am not happy with this service.",
        "My online pre-order failed again.",
    ],
)
def test_clearly_negative_sentences(scorer, text):
    score = scorer.score_one(text)
    assert score.valence < -0.5 and score.label in ("angry", "frustrated", "negative"), score


def test_negation_turns_a_word_around(scorer):
    assert valence(scorer, "满意") > 0 > valence(scorer, "不满意")
    assert valence(scorer, "不好") < 0 < valence(scorer, "不是不好")
    assert valence(scorer, "不是不好") < valence(scorer, "很好")  # a double negative is mild
    assert valence(scorer, "没有解决") < 0 < valence(scorer, "解决了")


def test_intensifiers_contrast_and_exclamations_scale(scorer):
    assert valence(scorer, "非常不满意") < valence(scorer, "不满意") < valence(scorer, "有点不满意")
    assert valence(scorer, "服务还可以，但是网速太慢了") < 0
    assert valence(scorer, "太差了！！") < valence(scorer, "太差了")


def test_labels_tell_anger_from_frustration(scorer):
    assert scorer.score_one("你们就是骗子，垃圾公司，气死我了！").label == "angry"
    assert scorer.score_one("又是这样，打了好几次电话还是没解决。").label == "frustrated"
    assert scorer.score_one("请问我的套餐什么时候生效？").label == "neutral"
    assert scorer.score_one("This is the third time I call, still not fixed.").label == "frustrated"


def test_traditional_and_full_width_text_scores_like_simplified(scorer):
    assert valence(scorer, "非常滿意，謝謝！") == valence(scorer, "非常满意，谢谢!")


def test_empty_text_is_neutral_with_no_confidence(scorer):
    assert scorer.score_one("  ") == TextScore(0.0, "neutral", 0.0)


def test_valence_stays_on_the_scale(scorer):
    furious = "垃圾！骗子！气死了！太差了！投诉！曝光！" * 20
    assert -5.0 <= valence(scorer, furious) < -4.0
    assert 4.0 < valence(scorer, "非常满意，谢谢，太感谢了，服务特别好！" * 20) <= 5.0


def test_a_broken_lexicon_names_the_line(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("term\tkind\tweight\tnote\n好\tpos\t1\t\n差\tbad\t-1\t\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"line 3: kind 'bad'"):
        load_lexicon(path)


def test_a_raised_voice_makes_a_complaint_angry_but_not_a_thanks():
    settings = FusionSettings()
    complaint = TextScore(-2.0, "negative", 0.8)
    assert fuse(complaint, VoiceScore(0.1), settings).emotion == "negative"
    assert fuse(complaint, VoiceScore(0.8), settings).emotion == "angry"
    assert fuse(complaint, VoiceScore(None), settings).emotion == "negative"
    thanks = TextScore(3.0, "positive", 0.9)
    assert fuse(thanks, VoiceScore(0.9), settings).emotion == "positive"


def test_an_audio_model_moves_the_sentiment_by_its_weight():
    settings = FusionSettings(voice_weight=0.5)
    fused = fuse(TextScore(0.0, "neutral", 1.0), VoiceScore(0.7, "angry", 1.0), settings)
    assert fused.sentiment == pytest.approx(-2.0) and fused.emotion == "angry"
    assert fuse(TextScore(1.0, "positive", 1.0), VoiceScore(0.0), settings).sentiment == 1.0


def constructed_call() -> list[Turn]:
    """A 40 s call: the customer starts angry and leaves thankful; the agent stays kind."""
    return [
        Turn("agent", 1.0, "positive", 0.0, 4.0, 0),
        Turn("customer", -4.0, "angry", 5.0, 9.0, 1, arousal=0.8),
        Turn("agent", 0.0, "neutral", 10.0, 14.0, 2),
        Turn("customer", -2.0, "negative", 15.0, 19.0, 3, arousal=0.2),
        Turn("agent", 2.0, "positive", 21.0, 25.0, 4),
        Turn("customer", 0.0, "neutral", 26.0, 29.0, 5, arousal=0.0),
        Turn("customer", 3.0, "positive", 31.0, 39.0, 6, arousal=-0.2),
    ]


def test_per_quarter_start_end_and_peak_of_a_constructed_call():
    summary = summarize_call(constructed_call(), 40.0, [], CallEmotionSettings(end_weight=1.0))
    # customer midpoints 7, 17, 27.5, 35 s -> one segment in each quarter
    assert summary.customer_sentiment_q == [-4.0, -2.0, 0.0, 3.0]
    assert summary.agent_sentiment_q == [1.0, 0.0, 2.0, None]
    # length-weighted: (-4*4 - 2*4 + 0*3 + 3*8) / 19
    assert summary.customer_sentiment == pytest.approx(0.0, abs=1e-3)
    assert (summary.customer_sentiment_start, summary.customer_sentiment_end) == (-4.0, 3.0)
    assert (summary.peak_negative_s, summary.peak_negative_sentiment) == (5.0, -4.0)
    assert summary.peak_negative_idx == 1
    assert summary.customer_emotion == "angry"
    assert summary.customer_arousal == pytest.approx(0.2)


def test_the_end_of_the_call_weighs_more_by_default():
    flat = summarize_call(constructed_call(), 40.0, [], CallEmotionSettings(end_weight=1.0))
    ramped = summarize_call(constructed_call(), 40.0, [], CallEmotionSettings(end_weight=3.0))
    assert ramped.customer_sentiment > flat.customer_sentiment


def test_escalation_risk_adds_up_emotion_and_categories():
    angry_end = [
        Turn("customer", -1.0, "negative", 0, 5, 0),
        Turn("customer", -3.5, "angry", 6, 12, 1),
    ]
    calm = [Turn("customer", 1.0, "positive", 0, 5, 0)]
    risky = summarize_call(angry_end, 12.0, ["regulator_escalation"])
    assert risky.escalation_risk and risky.escalation_risk_score == 0.95
    assert {"escalation category", "angry", "ends negative", "ends worse"} <= set(
        risky.escalation_reasons
    )
    assert not summarize_call(calm, 5.0, ["regulator_escalation"]).escalation_risk
    unhappy = [Turn("customer", -2.0, "negative", 0, 5, 0)]
    assert summarize_call(unhappy, 5.0, []).escalation_risk_score == 0.2  # ends negative only
    assert not summarize_call(unhappy, 5.0, []).escalation_risk
    assert summarize_call(angry_end, 12.0, []).escalation_risk  # angry, ends negative and worse


NIGHT1 = {
    "n1-angry": (
        "A100",
        "billing",
        [
            ("agent", "您好，很高兴为您服务。"),
            ("customer", "你们又乱扣费，这已经是第三次了，气死我了！"),
            ("agent", "非常抱歉，我马上帮您查。"),
            ("customer", "再不解决我就投诉到工信部，太差劲了！"),
        ],
    ),
    "n1-happy": (
        "A101",
        "preorder",
        [
            ("agent", "您好，请问有什么可以帮您？"),
            ("customer", "我想查一下预约的新手机什么时候发货。"),
            ("agent", "已经发货了，明天就能到。"),
            ("customer", "太好了，非常感谢！"),
        ],
    ),
    "n1-ivr": (
        "A101",
        "preorder",
        [("ivr", "欢迎致电，请按1。"), ("customer", "好的，谢谢，问题解决了。")],
    ),
}
NIGHT2 = {
    "n2-calmer": (
        "A100",
        "billing",
        [
            ("customer", "话费扣错了，我很不满意。"),
            ("agent", "已经为您退费了。"),
            ("customer", "好的，解决了就行，谢谢。"),
        ],
    ),
}


@pytest.fixture
def two_nights(tmp_path):
    store = Warehouse(tmp_path / "warehouse")
    rules = load_rules(load_config(None).keywords.rules)
    settings = load_config(None).emotion
    for day, calls in ((DAY1, NIGHT1), (DAY2, NIGHT2)):
        put_day(store, day, calls)
        apply_categories(store, day, rules)
        apply_emotion(store, day, get_lexicon_scorer(), settings)
    return store


def test_the_day_step_scores_segments_and_summarises_calls(two_nights):
    store = two_nights
    segments = store.read("segments", DAY1).to_pylist()
    people = [s for s in segments if s["speaker"] in ("agent", "customer")]
    assert all(-5 <= s["sentiment"] <= 5 and s["emotion"] in EMOTIONS for s in people)
    assert [s["sentiment"] for s in segments if s["speaker"] == "ivr"] == [None]
    calls = {row["call_id"]: row for row in store.read("calls", DAY1).to_pylist()}
    angry, happy = calls["n1-angry"], calls["n1-happy"]
    assert angry["customer_sentiment"] < -1.5 < 1.0 < happy["customer_sentiment"]
    assert angry["customer_emotion"] == "angry" and angry["escalation_risk"]
    assert "escalation category" in angry["escalation_reasons"]
    assert not happy["escalation_risk"] and happy["customer_sentiment_end"] > 1.0
    assert angry["peak_negative_idx"] in (1, 3) and angry["peak_negative_s"] in (4.0, 12.0)
    assert len(angry["customer_sentiment_q"]) == 4
    later = {row["call_id"]: row for row in store.read("calls", DAY2).to_pylist()}["n2-calmer"]
    assert later["customer_sentiment_end"] > later["customer_sentiment_start"] + 1


def test_emotion_daily_groups_every_way_and_a_rerun_changes_nothing(two_nights, tmp_path):
    store = two_nights
    daily = store.read("emotion_daily", DAY1).to_pylist()
    keys = {(row["dimension"], row["key"], row["role"]) for row in daily}
    assert {("all", "all", "customer"), ("queue", "billing", "customer")} <= keys
    assert {("agent", "A100", "agent"), ("category", "regulator_escalation", "customer")} <= keys
    billing = next(
        r
        for r in daily
        if (r["dimension"], r["key"], r["role"]) == ("queue", "billing", "customer")
    )
    assert (
        billing["calls"] == 1
        and billing["share_angry"] == 1.0
        and billing["escalation_risk_calls"] == 1
    )
    everyone = next(
        r for r in daily if (r["dimension"], r["key"], r["role"]) == ("all", "all", "customer")
    )
    assert everyone["calls"] == 3 and everyone["share_negative"] == pytest.approx(1 / 3, abs=1e-3)
    before = store.read("calls", DAY1)
    run = apply_emotion(store, DAY1, get_lexicon_scorer(), load_config(None).emotion)
    assert run.skipped and store.read("calls", DAY1).equals(before)
    again = apply_emotion(store, DAY1, get_lexicon_scorer(), load_config(None).emotion, force=True)
    assert again.calls == 3 and len(store.read("emotion_daily", DAY1)) == len(daily)


def test_trends_over_two_nights_table_json_and_charts(two_nights, tmp_path):
    store = two_nights
    rows = load_trends(store, DAY1, DAY2, by="queue")
    assert [(r["date"], r["key"]) for r in rows if r["key"] == "billing"] == [
        ("2026-11-20", "billing"),
        ("2026-11-21", "billing"),
    ]
    billing = [r["mean_sentiment"] for r in rows if r["key"] == "billing"]
    assert billing[0] < billing[1]  # the second night's billing customer left calmer
    config = tmp_path / "config.yaml"
    config.write_text(f"warehouse: {store.root}\n")
    png, page = tmp_path / "trends.png", tmp_path / "trends.html"
    result = CliRunner().invoke(
        app, ["trends", "--by", "queue", "--plot", str(png), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert "billing" in result.output and "preorder" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    result = CliRunner().invoke(
        app,
        ["trends", "--from", "2026-11-21", "--plot", str(page), "--json", "--config", str(config)],
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(r["date"], r["key"], r["calls"]) for r in listed] == [("2026-11-21", "all", 1)]
    text = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "<td>2026-11-21</td>" in text


def test_a_longer_range_is_drawn_over_time(tmp_path):
    from callscope.emotion.trends import draw

    rows = [
        {
            "date": f"2026-11-{day:02d}",
            "key": queue,
            "calls": calls,
            "mean_sentiment": mean,
            "share_negative": 0.2,
            "share_angry": 0.1,
        }
        for day in range(10, 17)
        for queue, calls, mean in (("billing", 40, -1.5 - day / 10), ("preorder", 12, 0.5))
    ]
    chart = draw(rows, tmp_path / "week.svg", "Customer emotion by queue")
    svg = chart.read_text(encoding="utf-8")
    assert svg.count("<svg") == 1 and "billing" in svg and "11-16" in svg


def test_trends_refuses_bad_options_clearly(two_nights, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"warehouse: {two_nights.root}\n")
    for args, message in (
        (["--by", "team"], "--by 'team' is not one of"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "is after --to"),
        (["--plot", str(tmp_path / "chart.pdf")], "must be a .png, .svg or .html"),
        (["--from", "2025-01-01", "--to", "2025-01-31"], "no emotion data from 2025-01-01"),
    ):
        result = CliRunner().invoke(app, ["trends", *args, "--config", str(config)])
        assert result.exit_code != 0 and message in result.output, result.output
    empty = tmp_path / "empty.yaml"
    empty.write_text(f"warehouse: {tmp_path / 'none'}\n")
    result = CliRunner().invoke(app, ["trends", "--config", str(empty)])
    assert result.exit_code == 3 and "run `callscope nightly` first" in result.output


def test_emotion_score_dialogues_cli(tmp_path):
    dialogues = tmp_path / "dialogues.jsonl"
    lines = [
        {
            "id": "d1",
            "turns": [
                {"speaker": "customer", "text": "你们的网太慢了，我很不满意！"},
                {"speaker": "agent", "text": "非常抱歉，已经为您修好了。"},
                {"speaker": "customer", "text": "好的，谢谢，现在没问题了。"},
            ],
        },
        {"id": "d2", "turns": [{"speaker": "customer", "text": "I'm fed up, cancel my contract."}]},
    ]
    dialogues.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    out = tmp_path / "scored.jsonl"
    result = CliRunner().invoke(
        app, ["emotion", "score", "--dialogues", str(dialogues), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [s["id"] for s in scored] == ["d1", "d2"]
    first = scored[0]
    assert first["customer_sentiment_end"] > 0 > first["customer_sentiment_start"]
    assert first["agent_sentiment"] is not None and len(first["turns"]) == 3
    assert all(-5 <= t["sentiment"] <= 5 for t in first["turns"])
    assert scored[1]["customer_sentiment"] < 0 and scored[1]["agent_sentiment"] is None


def test_bad_dialogue_lines_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "turns": []}\nnot json\n', encoding="utf-8")
    with pytest.raises(DialogueError, match=r"bad.jsonl line 2: not JSON"):
        list(read_dialogues(bad))
    bad.write_text('{"id": 1, "turns": [{"speaker": "bot", "text": "hi"}]}\n', encoding="utf-8")
    with pytest.raises(DialogueError, match="speaker customer or agent"):
        list(read_dialogues(bad))
    result = CliRunner().invoke(
        app, ["emotion", "score", "--dialogues", str(tmp_path / "none.jsonl")]
    )
    assert result.exit_code == 2 and "cannot read the dialogues file" in result.output


def test_cli_emotion_apply_rescored_a_stored_day(two_nights, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"warehouse: {two_nights.root}\n")
    result = CliRunner().invoke(
        app, ["emotion", "apply", "--date", "2026-11-20", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert (report["calls"], report["escalation_risks"]) == (3, 1)
    # what reads the emotion is refreshed after it: search rows, incidents, the hand-off
    assert {"index", "incidents", "handoff"} <= set(report["refreshed"])
    result = CliRunner().invoke(
        app, ["emotion", "apply", "--date", "2026-10-01", "--config", str(config)]
    )
    assert result.exit_code == 1 and "run the nightly flow first" in result.output
