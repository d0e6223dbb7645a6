"""Real Whisper (the packaged base model) on real audio, through both ASR backends: faster-whisper
(CTranslate2) and transformers (torch), which runs the same weights converted once."""

import numpy as np
import pytest
from callscope.asr.audio import decode
from callscope.asr.call import transcribe_call
from callscope.asr.models import get_batched, get_model
from callscope.asr.scoring import edit_distance, zh_chars

from tests.conftest import ZH_REFERENCE

BACKENDS = ["faster-whisper", "transformers"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def settings(settings, backend):
    return settings.model_copy(update={"asr": settings.asr.model_copy(update={"backend": backend})})


@pytest.fixture(scope="module")
def model(backend):
    from callscope.core.config import load_config

    base = load_config()
    return get_model(
        base.model_copy(update={"asr": base.asr.model_copy(update={"backend": backend})})
    )


def call_text(segments, speaker=None):
    return " ".join(s["text"] for s in segments if speaker is None or s["speaker"] == speaker)


def test_mandarin_is_simplified_punctuated_and_close(model, settings, zh_clip):
    result = transcribe_call(
        model,
        decode(zh_clip.read_bytes(), zh_clip.name),
        "mono",
        settings.asr,
        batched=get_batched(settings),  # the production path (asr.batch_size > 0)
    )
    text = call_text(result.segments)
    assert result.language == "zh" and result.layout == "mono"
    assert text.endswith(("。", "！", "？"))
    ref, hyp = zh_chars(ZH_REFERENCE), zh_chars(text)
    assert edit_distance(ref, hyp) / len(ref) <= 0.15, text
    assert all(seg["speaker"] == "unknown" for seg in result.segments)
    words = result.segments[0]["words"]
    assert words and all(0 <= w["start"] <= w["end"] <= 4.3 for w in words)


def test_stereo_channels_become_agent_and_customer(model, settings, stereo_call):
    audio = decode(stereo_call.read_bytes(), stereo_call.name)
    result = transcribe_call(model, audio, "agent_left", settings.asr)
    assert result.language == "en" and result.layout == "agent_left"
    agent, customer = (
        call_text(result.segments, "agent").lower(),
        call_text(result.segments, "customer").lower(),
    )
    assert "thank you for calling" in agent
    assert "pre-order failed" in customer or "preorder failed" in customer
    assert "thank you for calling" not in customer and "failed" not in agent
    assert [s["idx"] for s in result.segments] == list(range(len(result.segments)))
    starts = [s["start_s"] for s in result.segments]
    assert starts == sorted(starts)
    flipped = transcribe_call(model, audio, "customer_left", settings.asr)
    assert "thank you for calling" in call_text(flipped.segments, "customer").lower()


def test_silence_gives_no_segments_and_no_phantoms(model, settings):
    from callscope.core.records import DecodedAudio

    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal((1, 16000 * 8)) * 0.002).astype(np.float32)
    for samples in (np.zeros((1, 16000 * 8), np.float32), hiss):
        result = transcribe_call(model, DecodedAudio(samples, 8000, 1, "pcm"), "mono", settings.asr)
        assert result.segments == [] and result.language is None


def test_duplicated_mono_in_stereo_is_treated_as_mono(model, settings, mono_en):
    from callscope.core.records import DecodedAudio

    mono = decode(mono_en.read_bytes(), mono_en.name).samples
    twice = DecodedAudio(np.vstack([mono, mono]), 8000, 2, "pcm")
    result = transcribe_call(model, twice, "agent_left", settings.asr)
    assert result.layout == "mono"
    assert "plan" in call_text(result.segments).lower()


@pytest.mark.parametrize(
    ("speech", "covered", "missed"),
    [
        ([(0.0, 30.0)], [(0.1, 8.9)], [(8.9, 30.0)]),  # the batch stopped after a sentence
        ([(0.0, 30.0)], [(0.0, 9.0), (10.0, 30.0)], []),  # a pause under 2 s is no loss
        ([(0.0, 10.0), (12.0, 20.0)], [(0.0, 10.0)], [(12.0, 20.0)]),
        ([(0.0, 10.0)], [(3.0, 5.0)], [(0.0, 3.0), (5.0, 10.0)]),
        ([(0.0, 10.0)], [], [(0.0, 10.0)]),
    ],
)
def test_speech_no_segment_covers_is_found(speech, covered, missed):
    from callscope.asr.transcribe import uncovered_speech

    assert uncovered_speech(speech, covered) == missed


def test_batched_decoding_keeps_the_speech_a_window_left_out(model, settings):
    """Mixed to mono, this call's last turn falls in a 30 s window whose decoding stops early;
    it is decoded again, and nothing implausible is added at the end of the file."""
    from callscope.asr.transcribe import speech_chunks, uncovered_speech
    from callscope.synth.demoday import CLIPS

    path = CLIPS / "zh_preorder_call.flac"
    audio = decode(path.read_bytes(), path.name)
    result = transcribe_call(model, audio, "mono", settings.asr, batched=get_batched(settings))
    text = call_text(result.segments)
    assert "升级处理" in text and "信通知" in text  # 短信 (int8) or a near miss (float32)
    chunks = speech_chunks(audio.mono(), settings.asr)
    speech = [(c["start"] / 16000, c["end"] / 16000) for c in chunks]
    assert uncovered_speech(speech, [(s["start_s"], s["end_s"]) for s in result.segments]) == []
    assert result.segments[-1]["end_s"] <= audio.duration_s
    assert len(result.segments[-1]["text"]) >= 10


def test_hotwords_longer_than_the_prompt_are_reported_once(model, settings, zh_clip, caplog):
    """Many catalogue names come first in the hotwords; the recogniser keeps 223 tokens of them
    and the night says which words it ignores (once a process), instead of dropping them
    silently."""
    from callscope.asr import transcribe as tr

    tokenizer = getattr(model, "hf_tokenizer", None) or model.whisper.tokenizer
    assert tr.hotwords_read(tokenizer, settings.asr.hotwords["zh"]) is None
    names = " ".join(f"星河{n}号" for n in range(120))
    read = tr.hotwords_read(tokenizer, names)
    assert read and names.startswith(read) and len(read) < len(names)
    asr = settings.asr.model_copy(update={"hotwords": {"zh": names}})
    audio = decode(zh_clip.read_bytes(), zh_clip.name)
    tr._cut_warned.clear()
    with caplog.at_level("WARNING", logger="callscope.asr.transcribe"):
        transcribe_call(model, audio, "mono", asr)
        tr._warn_if_cut(model, "zh", names)  # the next call of the night: said already
    warnings = [r.getMessage() for r in caplog.records if "hotwords for zh" in r.getMessage()]
    kept = [word for word in names.split() if f" {word} " in f" {read} "]
    assert len(warnings) == 1
    assert f"last {120 - len(kept)} words, from 星河{len(kept)}号 on" in warnings[0]
