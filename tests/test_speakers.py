"""Words to speakers, roles and IVR, on constructed transcripts (no model)."""

import numpy as np
import pytest
from callscope.asr.diarize import Diarization, SpeakerTurn
from callscope.asr.hold import sound_without_speech
from callscope.asr.speakers import (
    apply_roles,
    assign_roles,
    load_voiceprint,
    mark_ivr,
    speaker_of,
    split_by_speaker,
)
from callscope.core.config import RoleSettings

ROLES = RoleSettings()


def words(*items):
    return [{"word": w, "start": s, "end": e, "prob": 0.9} for w, s, e in items]


def segment(text, start, end, word_list=(), language="zh"):
    return {
        "start_s": start,
        "end_s": end,
        "text": text,
        "words": list(word_list),
        "language": language,
        "channel": 0,
        "speaker": "unknown",
    }


def test_word_goes_to_speaker_covering_most_of_it_and_overlap_is_marked():
    turns = [SpeakerTurn(0.0, 2.0, "S0"), SpeakerTurn(1.5, 4.0, "S1")]
    assert speaker_of(0.2, 0.6, turns) == ("S0", False)
    assert speaker_of(1.6, 2.0, turns) == ("S0", True)  # both talk over the whole word
    assert speaker_of(1.9, 3.0, turns) == ("S1", False)  # S0 covers only 9 % of it
    assert speaker_of(4.5, 4.8, turns) == ("S1", False)  # just after a turn: nearest
    assert speaker_of(9.0, 9.5, turns) == (None, False)  # far from every turn


def test_segment_is_split_where_the_speaker_changes():
    turns = [SpeakerTurn(0.0, 1.9, "S0"), SpeakerTurn(1.8, 4.0, "S1")]
    seg = segment(
        "您好请讲我要退款",
        0.1,
        3.9,
        words(("您好", 0.1, 0.8), ("请讲", 0.9, 1.7), ("我要", 1.85, 1.98), ("退款", 2.5, 3.9)),
    )
    pieces = split_by_speaker([seg], turns)
    assert [(p["speaker_label"], p["text"]) for p in pieces] == [
        ("S0", "您好请讲"),
        ("S1", "我要退款"),
    ]
    assert pieces[0]["start_s"] == 0.1 and pieces[0]["end_s"] == 1.7
    assert pieces[1]["start_s"] == 1.85 and pieces[1]["overlap"] is True  # 我要 under S0 too
    assert pieces[0]["overlap"] is False
    assert sum(len(p["words"]) for p in pieces) == 4  # nothing lost


def test_segment_without_words_goes_whole_to_its_speaker():
    pieces = split_by_speaker([segment("嗯", 5.0, 5.4)], [SpeakerTurn(4.8, 6.0, "S1")])
    assert pieces[0]["speaker_label"] == "S1" and pieces[0]["text"] == "嗯"


def two_speaker_call(agent_text, customer_text, first="S0"):
    second = "S1" if first == "S0" else "S0"
    segs = [
        {**segment(agent_text, 1.0, 4.0), "speaker_label": first},
        {**segment(customer_text, 5.0, 9.0), "speaker_label": second},
    ]
    diarization = Diarization(
        [SpeakerTurn(1.0, 4.0, first), SpeakerTurn(5.0, 9.0, second)],
        {first: np.array([1.0, 0.0]), second: np.array([0.0, 1.0])},
    )
    return segs, diarization


def test_agent_found_by_service_phrases_even_when_customer_speaks_first():
    segs, diarization = two_speaker_call("喂你好", "您好，很高兴为您服务，请问有什么可以帮您？")
    result = assign_roles(segs, diarization, ROLES)
    assert result.roles == {"S0": "customer", "S1": "agent"}
    assert result.confidence > 0.9
    apply_roles(segs, result)
    assert [s["speaker"] for s in segs] == ["customer", "agent"]


def test_first_speaker_decides_when_nothing_else_does_and_direction_flips_it():
    segs, diarization = two_speaker_call("好的", "嗯嗯")
    inbound = assign_roles(segs, diarization, ROLES, direction="inbound")
    outbound = assign_roles(segs, diarization, ROLES, direction="outbound")
    assert inbound.roles["S0"] == "agent" and outbound.roles["S0"] == "customer"
    assert 0.5 < inbound.confidence < 0.9  # weak evidence, said so


def test_an_agent_calling_back_is_found_although_outbound_calls_start_with_the_customer():
    segs, diarization = two_speaker_call(
        "您好，我是客服中心的，之前您来电咨询过，现在给您回复一下。今天来电特别多，我先帮您记录下来。",
        "我找了营业厅的热线，每次都说坐席繁忙。行，那我等你们消息。",
    )
    result = assign_roles(segs, diarization, ROLES, direction="outbound")
    assert result.roles == {"S0": "agent", "S1": "customer"}


def test_known_agent_voiceprint_outweighs_the_first_speaker():
    segs, diarization = two_speaker_call("好的", "嗯嗯")
    result = assign_roles(segs, diarization, ROLES, agent_voiceprint=np.array([0.1, 1.0]))
    assert result.roles == {"S0": "customer", "S1": "agent"}
    assert "voiceprint" in result.evidence


def test_english_roles():
    segs, diarization = two_speaker_call(
        "Hi, I'd like to check my order.", "Thank you for calling, how can I help you?"
    )
    assert assign_roles(segs, diarization, ROLES).roles == {"S0": "customer", "S1": "agent"}


def test_ivr_prompt_is_labelled_and_not_a_person():
    segs = [
        {
            **segment("欢迎致电客服热线，本次通话可能会被录音，请按1", 0.0, 6.0),
            "speaker_label": "S0",
        },
        {**segment("您好，工号1234，很高兴为您服务", 8.0, 11.0), "speaker_label": "S1"},
        {**segment("我想问一下我的订单", 12.0, 15.0), "speaker_label": "S2"},
        {**segment("请按照提示操作", 16.0, 17.0), "speaker_label": "S1"},  # after the greeting
    ]
    diarization = Diarization(
        [SpeakerTurn(0.0, 6.0, "S0"), SpeakerTurn(8.0, 11.0, "S1"), SpeakerTurn(12.0, 15.0, "S2")]
    )
    mark_ivr(segs, ROLES)
    result = assign_roles(segs, diarization, ROLES)
    assert result.roles == {"S0": "ivr", "S1": "agent", "S2": "customer"}
    apply_roles(segs, result)
    assert [s["speaker"] for s in segs] == ["ivr", "agent", "customer", "agent"]


def test_speaker_without_any_words_is_not_a_person():
    segs = [{**segment("我要投诉", 0.0, 2.0), "speaker_label": "S0"}]
    diarization = Diarization([SpeakerTurn(0.0, 2.0, "S0"), SpeakerTurn(3.0, 20.0, "S1")])
    result = assign_roles(segs, diarization, ROLES)
    assert result.roles == {"S0": "customer", "S1": "unknown"}
    assert result.nonspeech_labels == ["S1"]


def test_single_speaker_without_evidence_stays_unknown():
    segs = [{**segment("好的", 0.0, 2.0), "speaker_label": "S0"}]
    result = assign_roles(segs, Diarization([SpeakerTurn(0.0, 2.0, "S0")]), ROLES)
    # alone, "spoke first" says nothing
    assert result.roles["S0"] == "unknown" and result.confidence == 0.5
    segs[0]["text"] = "工号1234为您服务，请问有什么可以帮您"
    result = assign_roles(segs, Diarization([SpeakerTurn(0.0, 2.0, "S0")]), ROLES)
    assert result.roles["S0"] == "agent" and result.confidence > 0.9


def test_voiceprint_loaded_by_agent_id(tmp_path):
    np.save(tmp_path / "A-07.npy", np.ones(4, dtype=np.float32))
    roles = RoleSettings(agent_voiceprints=tmp_path)
    assert load_voiceprint(roles, "A-07").shape == (4,)
    assert load_voiceprint(roles, "B-01") is None
    assert load_voiceprint(ROLES, "A-07") is None


@pytest.mark.parametrize("level, expected", [(0.2, [(2.0, 8.0)]), (0.002, [])])
def test_hold_music_is_loud_sound_outside_speech(level, expected):
    rate = 16000
    t = np.arange(10 * rate) / rate
    music = (level * np.sin(2 * np.pi * 330 * t) * (t >= 2.0) * (t < 8.0)).astype(np.float32)
    assert sound_without_speech(music, [], rate) == expected
    # the same sound during speech is speech, not hold
    assert sound_without_speech(music, [(1.0, 9.0)], rate) == []
