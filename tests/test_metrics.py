from __future__ import annotations

import pytest
from callscope.asr.metrics import (
    conversation_metrics,
    count_units,
    intersect,
    merge_intervals,
    speech_intervals,
    total_length,
)


def seg(speaker, start, end, text="", language="en", words=None):
    return {
        "start_s": start,
        "end_s": end,
        "speaker": speaker,
        "text": text,
        "words": words or [],
        "language": language,
    }


def word(text, start, end):
    return {"word": text, "start": start, "end": end, "prob": 0.9}


def test_merge_intervals_union_and_gap():
    assert merge_intervals([(5, 6), (0, 2), (1, 3), (3, 4)]) == [(0, 4), (5, 6)]
    assert merge_intervals([(0, 1), (1.2, 2), (2.5, 3)], gap=0.3) == [(0, 2), (2.5, 3)]
    assert merge_intervals([(2, 1), (4, 4)]) == []
    assert merge_intervals([(0, 1), (1.1, 1.1), (1.3, 2)], gap=0.3) == [(0, 2)]


def test_total_length_and_intersect():
    assert total_length([(0, 10), (5, 12), (20, 21)]) == pytest.approx(13)
    assert intersect([(0, 10), (26, 30)], [(8, 20), (29, 40)]) == [(8, 10), (29, 30)]
    assert intersect([(0, 1)], [(1, 2)]) == []
    assert intersect([], [(0, 5)]) == []


def test_speech_intervals_from_words_and_segment_bounds():
    words = [word("a", 1.0, 1.5), word("b", 1.7, 2.0), word("c", 2.3, 3.0)]
    assert speech_intervals(seg("agent", 0.5, 3.5, words=words)) == [(1.0, 2.0), (2.3, 3.0)]
    assert speech_intervals(seg("agent", 0.5, 3.5)) == [(0.5, 3.5)]


def test_count_units():
    assert count_units("您好，很高兴为您服务", "zh") == 9
    assert count_units("我的号码是 138 号。", "zh") == 9
    assert count_units("Hello, how can I help you today ?", "en") == 7
    assert count_units("it's 3.5 - ok", "en") == 3
    assert count_units("好的，谢谢", None) == 4
    assert count_units("", "zh") == 0


def test_reference_call_every_metric():
    segments = [
        seg("agent", 0, 10, " ".join(["word"] * 20)),
        seg("customer", 8, 20, "我的宽带断了，" * 5, language="zh"),
        seg("agent", 26, 30, "thank you, goodbye and have a nice day"),
    ]
    assert conversation_metrics(segments, 32) == {
        "talk_time_agent_s": pytest.approx(14.0),
        "talk_time_customer_s": pytest.approx(12.0),
        "silence_ratio": pytest.approx(0.25),
        "non_talk_ratio": pytest.approx(0.25),
        "overtalk_s": pytest.approx(2.0),
        "interruptions_agent": 0,
        "interruptions_customer": 1,
        "speech_rate_agent": pytest.approx(120.0),
        "speech_rate_customer": pytest.approx(150.0),
        "leading_silence_s": pytest.approx(0.0),
        "longest_silence_s": pytest.approx(6.0),
        "time_to_first_agent_s": pytest.approx(0.0),
        "n_turns_agent": 2,
        "n_turns_customer": 1,
    }


def test_backchannel_is_overtalk_not_interruption_nor_turn_break():
    segments = [
        seg("agent", 1, 5, "please hold while I check"),
        seg("customer", 3.0, 3.4, "嗯", language="zh"),
        seg("agent", 5.2, 9, "your line is active again"),
    ]
    metrics = conversation_metrics(segments, 10)
    assert metrics["overtalk_s"] == pytest.approx(0.4)
    assert metrics["interruptions_customer"] == 0
    assert metrics["interruptions_agent"] == 0
    assert metrics["n_turns_agent"] == 1
    assert metrics["n_turns_customer"] == 1
    assert metrics["talk_time_agent_s"] == pytest.approx(7.8)
    assert metrics["time_to_first_agent_s"] == pytest.approx(1.0)
    assert metrics["leading_silence_s"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("customer", "counted"),
    [
        ((8.0, 12.0), True),
        ((9.5, 12.0), True),
        ((0.5, 12.0), False),
        ((9.6, 12.0), False),
        ((8.0, 8.8), False),
        ((0.0, 12.0), False),
    ],
    ids=[
        "clear",
        "agent-goes-on-half-a-second",
        "agent-just-started",
        "agent-ends",
        "short",
        "same-start",
    ],
)
def test_interruption_thresholds(customer, counted):
    segments = [seg("agent", 0, 10), seg("customer", *customer)]
    metrics = conversation_metrics(segments, 20)
    assert metrics["interruptions_customer"] == int(counted)
    assert metrics["interruptions_agent"] == 0


def test_chinese_speech_rate_in_characters_per_minute():
    segments = [seg("agent", 0, 3, "您好，很高兴为您服务", language="zh")]
    metrics = conversation_metrics(segments, 3)
    assert metrics["speech_rate_agent"] == pytest.approx(180.0)
    assert metrics["speech_rate_customer"] is None
    assert metrics["silence_ratio"] == pytest.approx(0.0)


def test_english_words_per_minute_and_mixed_languages():
    english = [seg("customer", 0, 6, "Hi, I can't log in - my account is locked!")]
    assert conversation_metrics(english, 10)["speech_rate_customer"] == pytest.approx(90.0)
    mixed = english + [seg("customer", 7, 9, "好的，谢谢", language="zh")]
    assert conversation_metrics(mixed, 10)["speech_rate_customer"] == pytest.approx(97.5)


def test_word_timings_replace_segment_bounds():
    words = [word("hello", 0.5, 1.0), word("there", 1.2, 2.0), word("sir", 4.0, 5.0)]
    segments = [seg("agent", 0.0, 6.0, "hello there sir", words=words)]
    metrics = conversation_metrics(segments, 6)
    assert metrics["talk_time_agent_s"] == pytest.approx(2.5)
    assert metrics["silence_ratio"] == pytest.approx(0.583)
    assert metrics["longest_silence_s"] == pytest.approx(2.0)
    assert metrics["leading_silence_s"] == pytest.approx(0.5)
    assert metrics["speech_rate_agent"] == pytest.approx(72.0)
    assert metrics["n_turns_agent"] == 1


def test_ivr_unknown_and_hold_are_neither_talk_nor_silence():
    segments = [
        seg("ivr", 0, 4, "welcome to the service line"),
        seg("unknown", 4, 5, "hm"),
        seg("agent", 10, 14, "hello"),
    ]
    metrics = conversation_metrics(segments, 20, non_talk_intervals=[(5, 8)])
    assert metrics["talk_time_agent_s"] == pytest.approx(4.0)
    assert metrics["talk_time_customer_s"] == pytest.approx(0.0)
    assert metrics["silence_ratio"] == pytest.approx(8 / 20)
    assert metrics["non_talk_ratio"] == pytest.approx(16 / 20)
    assert metrics["leading_silence_s"] == pytest.approx(0.0)
    assert metrics["longest_silence_s"] == pytest.approx(2.0)
    assert metrics["time_to_first_agent_s"] == pytest.approx(10.0)
    assert metrics["speech_rate_agent"] == pytest.approx(15.0)


def test_turns_span_silence_until_the_other_side_speaks():
    segments = [
        seg("agent", 0, 2),
        seg("agent", 5, 7),
        seg("customer", 8, 9),
        seg("customer", 15, 16),
        seg("agent", 17, 18),
        seg("customer", 17.5, 19),
    ]
    metrics = conversation_metrics(segments, 20)
    assert metrics["n_turns_agent"] == 2
    assert metrics["n_turns_customer"] == 2
    assert metrics["longest_silence_s"] == pytest.approx(6.0)


def test_empty_call():
    metrics = conversation_metrics([], 10)
    assert metrics["silence_ratio"] == 1.0
    assert metrics["non_talk_ratio"] == 1.0
    assert metrics["talk_time_agent_s"] == 0.0
    assert metrics["talk_time_customer_s"] == 0.0
    assert metrics["overtalk_s"] == 0.0
    assert metrics["speech_rate_agent"] is None
    assert metrics["speech_rate_customer"] is None
    assert metrics["time_to_first_agent_s"] is None
    assert metrics["longest_silence_s"] is None
    assert metrics["leading_silence_s"] is None
    assert metrics["n_turns_agent"] == metrics["n_turns_customer"] == 0


def test_zero_duration_has_no_ratios():
    metrics = conversation_metrics([seg("agent", 0, 3, "hello")], 0)
    assert metrics["silence_ratio"] is None
    assert metrics["non_talk_ratio"] is None
    assert metrics["talk_time_agent_s"] == 0.0
    assert metrics["speech_rate_agent"] is None
    assert metrics["time_to_first_agent_s"] is None


def test_intervals_beyond_duration_are_clipped():
    segments = [
        seg("agent", -1, 4, "one two three four"),
        seg("customer", 8, 15, "five six"),
        seg("customer", 12, 14, "never heard"),
        seg("ivr", 9, 30),
    ]
    metrics = conversation_metrics(segments, 10, non_talk_intervals=[(-5, 1)])
    assert metrics["talk_time_agent_s"] == pytest.approx(4.0)
    assert metrics["talk_time_customer_s"] == pytest.approx(2.0)
    assert metrics["silence_ratio"] == pytest.approx(0.4)
    assert metrics["speech_rate_customer"] == pytest.approx(60.0)
    assert metrics["leading_silence_s"] == pytest.approx(0.0)
    assert 0.0 <= metrics["non_talk_ratio"] <= 1.0
