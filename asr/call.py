"""A whole call: per-channel transcription merged in time order, then speakers: the channel
layout for stereo, diarization and roles for mono, and the conversation metrics."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from callscope.asr.diarize import diarize
from callscope.asr.hold import sound_without_speech
from callscope.asr.metrics import conversation_metrics, merge_intervals
from callscope.asr.speakers import apply_roles, assign_roles, mark_ivr, split_by_speaker
from callscope.asr.transcribe import transcribe_channel
from callscope.core.config import AsrSettings, Settings
from callscope.core.logs import get_logger
from callscope.core.records import DecodedAudio
from callscope.storage.rows import SegmentRow

logger = get_logger(__name__)

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
    segments: list[SegmentRow]
    speech_s: float


def channel_plan(audio: DecodedAudio, layout: str) -> tuple[str, list[tuple[int, np.ndarray, str]]]:
    """(effective layout, [(channel index, samples, speaker)]) for this recording."""
    if audio.channels == 1 or layout == "mono" or _channels_identical(audio.samples):
        return "mono", [(0, audio.mono(), "unknown")]
    left, right = SPEAKERS_BY_LAYOUT[layout]
    return layout, [(0, audio.samples[0], left), (1, audio.samples[1], right)]


def transcribe_call(model, audio: DecodedAudio, layout: str, asr: AsrSettings, batched=None):
    effective, channels = channel_plan(audio, layout)
    segments: list[SegmentRow] = []
    speech_by_language: dict[str, float] = defaultdict(float)
    speech_s = 0.0
    for channel, samples, speaker in channels:
        result = transcribe_channel(model, samples, asr, batched=batched)
        speech_s += result.speech_s
        if result.language:
            speech_by_language[result.language] += result.speech_s
        segments.extend({**seg, "channel": channel, "speaker": speaker} for seg in result.segments)
    reindex(segments)
    language = max(speech_by_language, key=speech_by_language.get) if speech_by_language else None
    return CallTranscript(effective, language, segments, speech_s)


def reindex(segments: list[SegmentRow]) -> None:
    """Time order, then `idx` 0..n-1."""
    segments.sort(key=lambda seg: (seg["start_s"], seg["channel"]))
    for idx, seg in enumerate(segments):
        seg["idx"] = idx


def _channels_identical(samples: np.ndarray) -> bool:
    left, right = samples[0], samples[1]
    if not left.any() or not right.any():
        return not left.any() and not right.any()
    if np.array_equal(left, right):
        return True
    corr = np.corrcoef(left[::8], right[::8])[0, 1]
    return bool(corr > DUPLICATE_CHANNEL_CORRELATION)


@dataclass
class CallSpeakers:
    """Who spoke: the method, the speakers found, role confidence, hold and the metrics."""

    method: str  # channels | the diarization pipeline | off
    n_speakers: int
    role_confidence: float | None
    role_evidence: str
    hold: list[tuple[float, float]]
    metrics: dict = field(default_factory=dict)
    activity: list[dict] | None = None  # who spoke when, where better known than word times


def attribute_speakers(
    transcript: CallTranscript,
    audio: DecodedAudio,
    settings: Settings,
    get_diarizer: Callable[[], object],
    direction: str | None = None,
    agent_voiceprint: np.ndarray | None = None,
) -> CallSpeakers:
    """Give every segment of the call a speaker (agent / customer / ivr / unknown), then
    measure the conversation. Stereo keeps its channel layout; mono is diarized."""
    segments = transcript.segments
    mix = audio.mono()
    if transcript.layout != "mono":
        _mark_channel_overlap(segments)
        mark_ivr(segments, settings.roles)
        speakers = CallSpeakers("channels", 2, 1.0, f"channel layout {transcript.layout}", [])
    elif settings.diarization.enabled:
        speakers = _diarize_mono(
            transcript, mix, settings, get_diarizer, direction, agent_voiceprint
        )
    else:
        speakers = CallSpeakers("off", 0, None, "diarization disabled", [])
    reindex(segments)
    voiced = segments if speakers.activity is None else speakers.activity
    speech = [(s["start_s"], s["end_s"]) for s in voiced]
    speakers.hold = merge_intervals(speakers.hold + sound_without_speech(mix, speech))
    speakers.metrics = conversation_metrics(
        segments, audio.duration_s, speakers.hold, activity=speakers.activity
    )
    return speakers


def _mark_channel_overlap(segments: list[SegmentRow]) -> None:
    """A segment overlaps when the other channel has a segment during it."""
    spans = {
        channel: merge_intervals(
            (s["start_s"], s["end_s"]) for s in segments if s["channel"] == channel
        )
        for channel in {s["channel"] for s in segments}
    }
    for seg in segments:
        seg["speaker_label"] = f"ch{seg['channel']}"
        seg["overlap"] = any(
            _intersects(other, seg["start_s"], seg["end_s"])
            for channel, other in spans.items()
            if channel != seg["channel"]
        )


def _intersects(intervals: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether sorted disjoint `intervals` share any time with (start, end)."""
    i = bisect_left(intervals, (end,))  # first interval starting at or after `end`
    return i > 0 and intervals[i - 1][1] > start


def _diarize_mono(transcript, mix, settings, get_diarizer, direction, voiceprint) -> CallSpeakers:
    diarization = diarize(get_diarizer(), mix, settings.diarization)
    segments = split_by_speaker(transcript.segments, diarization.turns)
    mark_ivr(segments, settings.roles)
    assignment = assign_roles(segments, diarization, settings.roles, direction, voiceprint)
    apply_roles(segments, assignment)
    transcript.segments[:] = segments
    hold = [
        (turn.start, turn.end)
        for turn in diarization.turns
        if turn.speaker in assignment.nonspeech_labels
    ]
    activity = [
        {
            "start_s": turn.start,
            "end_s": turn.end,
            "speaker": assignment.roles.get(turn.speaker, "unknown"),
        }
        for turn in diarization.turns
        if turn.speaker not in assignment.nonspeech_labels
    ]
    people = [label for label in diarization.speakers if label not in assignment.nonspeech_labels]
    return CallSpeakers(
        settings.diarization.pipeline,
        len(people),
        assignment.confidence if people else None,
        assignment.evidence,
        hold,
        activity=activity,
    )
