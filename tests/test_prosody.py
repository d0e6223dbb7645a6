"""Prosodic arousal on synthetic voices whose loudness, pitch and pitch range are known."""

from __future__ import annotations

import numpy as np
import pytest
from callscope.core.records import DecodedAudio
from callscope.emotion.prosody import (
    ProsodySettings,
    arousal_from_features,
    segment_arousal,
    segment_features,
    speech_rate,
)

SR = 16_000
SLOT_S = 2.5  # each segment is 2 s of voice followed by 0.5 s of silence
VOICE_S = 2.0


def voice(
    f0_hz: float, level: float, *, range_st: float = 0.5, tilt: float = 1.5, seconds=VOICE_S
) -> np.ndarray:
    """A harmonic 'vowel' with vibrato, a slow pitch glide of +-range_st and a syllable rhythm.

    tilt: harmonic k has amplitude k**-tilt; a raised voice has a flatter spectrum.
    """
    t = np.arange(int(seconds * SR)) / SR
    semitones = 0.3 * np.sin(2 * np.pi * 5.0 * t) + range_st * np.sin(2 * np.pi * 0.6 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz * 2 ** (semitones / 12)) / SR
    harmonics = range(1, int(3800 // (f0_hz * 2 ** (range_st / 12))) + 1)
    wave = sum(k**-tilt * np.sin(k * phase) for k in harmonics)
    syllables = 0.65 + 0.35 * np.sin(2 * np.pi * 4.0 * t)
    wave = wave / np.max(np.abs(wave)) * syllables * level
    return wave.astype(np.float32)


def calm(f0_hz: float = 110.0, level: float = 0.05) -> np.ndarray:
    return voice(f0_hz, level, range_st=0.5, tilt=1.5)


def aroused(f0_hz: float = 190.0, level: float = 0.35) -> np.ndarray:
    return voice(f0_hz, level, range_st=4.0, tilt=0.8)


def track(clips: list[np.ndarray | None]) -> np.ndarray:
    """Clips placed in consecutive slots; None leaves a slot silent."""
    out = np.zeros(int(len(clips) * SLOT_S * SR), dtype=np.float32)
    for slot, clip in enumerate(clips):
        if clip is not None:
            start = int(slot * SLOT_S * SR)
            out[start : start + len(clip)] = clip
    return out


def wrap(*channels: np.ndarray) -> DecodedAudio:
    samples = np.stack(channels).astype(np.float32)
    return DecodedAudio(samples=samples, source_rate=SR, source_channels=len(channels), codec="pcm")


def segment(slot: int, label: str | None, channel: int | None = None, **extra) -> dict:
    start = slot * SLOT_S
    return {
        "start_s": start,
        "end_s": start + VOICE_S,
        "channel": channel,
        "speaker": extra.pop("speaker", "unknown"),
        "speaker_label": label,
        "text": extra.pop("text", ""),
        **extra,
    }


def arousal_of(audio: DecodedAudio, segments: list[dict]) -> list[float | None]:
    scores = segment_arousal(audio, segments)
    assert len(scores) == len(segments)
    assert all(s.label is None and s.confidence is None for s in scores)
    return [s.arousal for s in scores]


BASELINE = [calm(110, 0.05), calm(104, 0.045), calm(116, 0.055), calm(110, 0.05)]


def test_aroused_segment_stands_out_from_its_speakers_calm_baseline():
    audio = wrap(track([*BASELINE, aroused()]))
    values = arousal_of(audio, [segment(slot, "S0") for slot in range(5)])
    *baseline, excited = values
    assert excited > 0.6
    assert all(abs(v) < 0.3 for v in baseline)
    assert excited - max(baseline) > 0.5


def test_features_follow_loudness_pitch_range_and_effort():
    samples = track([calm(), aroused()])
    quiet = segment_features(samples, 0.0, VOICE_S, None)
    loud = segment_features(samples, SLOT_S, SLOT_S + VOICE_S, None)
    assert loud.energy_db - quiet.energy_db > 10
    assert 105 < quiet.f0_median_hz < 115
    assert loud.f0_median_hz > 170
    assert loud.f0_spread_st > quiet.f0_spread_st + 3
    assert loud.effort_db > quiet.effort_db + 3
    assert quiet.voiced_s > 1.0
    assert quiet.speech_rate_cps is None


def test_loud_segment_is_ordinary_for_a_speaker_who_is_always_loud():
    loud_baseline = [aroused(185, 0.33), aroused(195, 0.36), aroused(190, 0.34), aroused(188, 0.35)]
    audio = wrap(track([*BASELINE, aroused(), *loud_baseline, aroused()]))
    labels = ["calm"] * 5 + ["loud"] * 5
    values = arousal_of(audio, [segment(slot, label) for slot, label in enumerate(labels)])
    assert values[4] > 0.6  # the raised voice of the calm speaker
    assert abs(values[9]) < 0.3  # the same voice from the loud speaker
    assert all(abs(v) < 0.3 for v in values[5:9])


def test_silence_short_and_unvoiced_segments_are_not_scored():
    noise = np.random.default_rng(0).normal(0, 0.05, int(VOICE_S * SR)).astype(np.float32)
    audio = wrap(track([*BASELINE, None, noise]))
    segments = [segment(slot, "S0") for slot in range(6)]
    segments.append({**segment(0, "S0"), "end_s": 0.2})
    values = arousal_of(audio, segments)
    assert values[4] is None  # silence
    assert values[5] is None  # white noise: loud but no stable pitch
    assert values[6] is None  # 0.2 s
    assert all(v is not None for v in values[:4])


def test_speakers_are_normalised_separately():
    loud = [aroused(190 + d, 0.3) for d in (0, 6, -6, 3)]
    quiet = [calm(100 + d, 0.03) for d in (0, 4, -4, 2)]
    audio = wrap(track([clip for pair in zip(loud, quiet, strict=True) for clip in pair]))
    labels = ["A", "B"] * 4
    separate = arousal_of(audio, [segment(slot, label) for slot, label in enumerate(labels)])
    assert all(abs(v) < 0.2 for v in separate)
    pooled = arousal_of(audio, [segment(slot, "same") for slot in range(8)])  # one baseline
    assert min(pooled[0::2]) > 0.25
    assert max(pooled[1::2]) < -0.25


def test_stereo_channels_are_read_separately():
    agent = track([*BASELINE, aroused()])
    customer = track([calm(f0, 0.04) for f0 in (220, 225, 215, 220, 220)])
    audio = wrap(agent, customer)
    segments = [segment(slot, None, 0, speaker="agent") for slot in range(5)]
    segments += [segment(slot, None, 1, speaker="customer") for slot in range(5)]
    values = arousal_of(audio, segments)
    assert values[4] > 0.6
    assert abs(values[9]) < 0.3  # the customer's channel is calm while the agent is raised
    mixed = arousal_of(audio, [segment(slot, None, None) for slot in range(5)])
    assert mixed[4] > 0.4  # channel None reads the mono mix, where the raised voice is heard


def test_speech_rate_counts_letters_and_chinese_characters():
    assert speech_rate("hello, world!", 2.0) == pytest.approx(5.0)
    assert speech_rate("你好，请问", 2.0) == pytest.approx(2.0)
    assert speech_rate("  ", 2.0) is None
    assert speech_rate(None, 2.0) is None


def test_faster_speech_raises_arousal_of_the_same_voice():
    audio = wrap(track([calm()] * 5))
    texts = ["a" * 10] * 4 + ["a" * 30]
    values = arousal_of(audio, [segment(slot, "S0", text=t) for slot, t in enumerate(texts)])
    assert values[4] > 0.15  # rate alone moves arousal a little: the voice itself is unchanged
    assert all(abs(v) < 0.05 for v in values[:4])


def test_lone_scorable_segment_has_no_baseline():
    samples = track([aroused()])
    features = [segment_features(samples, 0.0, VOICE_S, None), None]
    assert arousal_from_features(features, ["S0", "S0"], ProsodySettings()) == [0.0, None]
