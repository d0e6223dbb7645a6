from callscope.asr.text import collapse_repeats, is_phantom, to_simplified
from callscope.asr.transcribe import split_sentences


def test_traditional_to_simplified_with_full_width_punctuation():
    assert to_simplified("網上預約失敗,怎麼辦?") == "网上预约失败，怎么办？"
    assert to_simplified("My iPhone, ok?") == "My iPhone, ok?"


def test_phantoms_and_prompt_echo():
    prompt = "以下是普通话的句子，使用简体中文并带标点。"
    assert is_phantom("谢谢观看！")
    assert is_phantom("字幕由Amara.org社区提供")
    assert is_phantom("以下是普通话的句子", prompt=prompt)
    assert is_phantom("Thank you for watching.")
    assert not is_phantom("谢谢，我的预约失败了", prompt=prompt)
    assert is_phantom("  。 ")
    assert not is_phantom(
        "普通话", prompt=prompt
    )  # a short real turn that happens to be in the prompt
    # half the prompt after a hallucination (heard on a generated demo day)
    assert is_phantom("作词作曲，使用简体中文并带标点", prompt=prompt)
    assert not is_phantom("我想用简体中文写，普通话的句子我听不懂", prompt=prompt)


def test_runaway_repeats_are_collapsed():
    assert collapse_repeats("好的" * 30) == "好的" * 3
    assert collapse_repeats("退款退款") == "退款退款"


def test_long_segment_split_at_sentence_ends():
    words = [
        {"word": w, "start": i * 2.0, "end": i * 2.0 + 1.5, "prob": 0.9}
        for i, w in enumerate(["我要", "退款。", "为什么", "不行？", "好"])
    ]
    seg = {
        "start_s": 0.0,
        "end_s": 9.5 + 3,
        "text": "我要退款。为什么不行？好",
        "words": words,
        "language": "zh",
    }
    pieces = split_sentences(seg, max_s=5)
    assert [p["text"] for p in pieces] == ["我要退款。", "为什么不行？", "好"]
    assert pieces[1]["start_s"] == 4.0 and pieces[1]["end_s"] == 7.5
    assert split_sentences(seg, max_s=60, pause_s=5) == [seg]


def test_segment_split_at_pauses():
    times = [(0.0, 0.4), (0.5, 0.9), (3.0, 3.5), (3.6, 4.0)]
    words = [
        {"word": f" w{i}", "start": s, "end": e, "prob": 1.0} for i, (s, e) in enumerate(times)
    ]
    seg = {"start_s": 0.0, "end_s": 4.0, "text": "w0 w1 w2 w3", "words": words, "language": "en"}
    assert [p["text"] for p in split_sentences(seg)] == ["w0 w1", "w2 w3"]


def test_cer_compares_digits_as_spoken():
    from callscope.asr.scoring import edit_distance, zh_chars

    spoken, written = zh_chars("手机号幺三五，七八八零"), zh_chars("手机号135,7880")
    assert spoken == written
    assert edit_distance(zh_chars("号码一三五"), zh_chars("号码136")) == 1
