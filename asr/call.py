"""A whole call: channels to speakers, then per-channel transcription merged in time order."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from asr.audio import DecodedAudio
from asr.transcribe import transcribe_channel
from callscope.config import AsrSettings

logger = logging.getLogger(__name__)

SPEAKERS_BY_LAYOUT = {
    "agent_left": ("agent", "customer"),
    "customer_left": ("customer", "agent"),
}
# Stereo files whose channels are this alike are really mono (one mix written twice).
DUPLICATE_CHANNEL_CORRELATION = 0.98


@dataclass
class CallTranscript:
    layout: str
    language: str | None
    segments: list[dict]
    speech_s: float


def channel_plan(audio: DecodedAudio, layout: str) -> tuple[str, list[tuple[int, np.ndarray, str]]]:
    """(effective layout, [(channel index, samples, speaker)]) for this recording."""
    if audio.channels == 1 or layout == "mono" or _channels_identical(audio.samples):
        return "mono", [(0, audio.mono(), "unknown")]
    left, right = SPEAKERS_BY_LAYOUT[layout]
    return layout, [(0, audio.samples[0], left), (1, audio.samples[1], right)]


def transcribe_call(model, audio: DecodedAudio, layout: str, asr: AsrSettings, batched=None):
    effective, channels = channel_plan(audio, layout)
    segments: list[dict] = []
    speech_by_language: dict[str, float] = defaultdict(float)
    speech_s = 0.0
    for channel, samples, speaker in channels:
        result = transcribe_channel(model, samples, asr, batched=batched)
        speech_s += result.speech_s
        if result.language:
            speech_by_language[result.language] += result.speech_s
        segments.extend({**seg, "channel": channel, "speaker": speaker} for seg in result.segments)
    segments.sort(key=lambda seg: (seg["start_s"], seg["channel"]))
    for idx, seg in enumerate(segments):
        seg["idx"] = idx
    language = max(speech_by_language, key=speech_by_language.get) if speech_by_language else None
    return CallTranscript(effective, language, segments, speech_s)


def _channels_identical(samples: np.ndarray) -> bool:
    left, right = samples[0], samples[1]
    if not left.any() or not right.any():
        return not left.any() and not right.any()
    if np.array_equal(left, right):
        return True
    corr = np.corrcoef(left[::8], right[::8])[0, 1]
    return bool(corr > DUPLICATE_CHANNEL_CORRELATION)
