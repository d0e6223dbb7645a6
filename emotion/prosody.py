"""Voice arousal from prosody: how loud, how high, how varied and how fast a segment is,
relative to the same speaker earlier and later in the same call.

Per segment (16 kHz samples of its channel, or the mono mix):
- energy: median level in dBFS of the voiced frames (10 ms hop, 50 ms frames);
- effort: alpha ratio of the voiced frames, energy in 1-4 kHz over 50 Hz-1 kHz in dB. A
  raised voice tilts its spectrum up; unlike energy this survives gain changes (AGC,
  normalised files) and stays inside the telephone band;
- pitch: median F0 of the voiced frames (librosa.yin, fmin..fmax), compared in semitones;
- spread: p90 - p10 of F0 in semitones, how much the voice moves;
- speech rate: letters, digits and Chinese characters of the transcript (str.isalnum, so
  spaces and punctuation do not count) per second of segment, compared on a log scale. The
  scale differs by script (about 4-6 Chinese characters/s, 12-15 letters/s) but cancels out,
  since a speaker is only ever compared with themselves.

A frame is voiced when it is loud (above an absolute floor and within a dynamic range of the
segment's loudest frames) and its F0 is stable (within a semitone of both neighbours and
away from the search bounds) in a run of at least min_run_frames: yin names a pitch for every
frame, and on noise or fricatives that pitch jumps about. yin costs a tenth of pyin or less.

Arousal groups segments by speaker (speaker_label, else speaker, else channel), turns each
feature into a robust z-score within the group (median, MAD scaled to a standard deviation,
with a floor per feature so that identical segments and one-segment groups give 0), clips it
to +-MAX_Z, takes the weighted mean over the features a segment has and squashes it with
tanh(mean / z_scale) into -1..+1.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from callscope.core.logs import get_logger
from callscope.core.records import SAMPLE_RATE, DecodedAudio
from callscope.emotion.scores import VoiceScore

logger = get_logger(__name__)

FRAME_LENGTH = 800  # 50 ms: yin needs more than one period of fmin
HOP_LENGTH = 160  # 10 ms
N_FFT = 512
EFFORT_SPLIT_HZ = (50.0, 1000.0, 4000.0)  # low band, high band: alpha ratio, telephone-safe
FEATURES = ("energy", "effort", "pitch", "spread", "rate")
# Smallest spread of a feature within a speaker (dB, dB, st, st, log chars/s): differences
# below these are ordinary variation, not arousal.
Z_FLOORS = {"energy": 2.0, "effort": 1.5, "pitch": 1.0, "spread": 1.0, "rate": 0.1}
MAD_TO_SIGMA = 1.4826
MAX_Z = 3.0  # one feature (an octave error, a clipped level) cannot decide alone


@dataclass(frozen=True)
class ProsodySettings:
    fmin: float = 65.0  # Hz, low male voice
    fmax: float = 450.0  # Hz, raised female voice
    min_segment_s: float = 0.3
    min_voiced_s: float = 0.15
    silence_dbfs: float = -55.0  # frames quieter than this are never voiced
    dynamic_range_db: float = 30.0  # nor frames this far below the segment's loudest
    max_jump_st: float = 1.0  # F0 change to a neighbouring frame that still counts as stable
    min_run_frames: int = 5  # shorter voiced runs are pitch-tracking errors more often than not
    energy_weight: float = 1.0
    effort_weight: float = 1.0
    pitch_weight: float = 1.0
    spread_weight: float = 0.5
    rate_weight: float = 0.5
    z_scale: float = 2.0  # a weighted mean z of 2 gives arousal tanh(1) = 0.76

    def weight(self, feature: str) -> float:
        return getattr(self, f"{feature}_weight")


@dataclass(frozen=True)
class ProsodyFeatures:
    energy_db: float  # median dBFS of voiced frames
    effort_db: float  # alpha ratio of voiced frames: 1-4 kHz over 50 Hz-1 kHz, dB
    f0_median_hz: float
    f0_spread_st: float  # p90 - p10 of F0, semitones
    speech_rate_cps: float | None  # alphanumeric characters per second; None without text
    voiced_s: float

    def values(self) -> dict[str, float | None]:
        """The features on the scales they are compared on."""
        return {
            "energy": self.energy_db,
            "effort": self.effort_db,
            "pitch": 12.0 * math.log2(self.f0_median_hz),
            "spread": self.f0_spread_st,
            "rate": math.log(self.speech_rate_cps) if self.speech_rate_cps else None,
        }


def segment_arousal(
    audio: DecodedAudio, segments: list[dict], settings: ProsodySettings | None = None
) -> list[VoiceScore]:
    """One VoiceScore per segment, in order: arousal relative to the same speaker in the call."""
    settings = settings or ProsodySettings()
    mono = functools.cache(audio.mono)
    features = [
        segment_features(
            _channel_samples(audio, seg.get("channel"), mono),
            seg["start_s"],
            seg["end_s"],
            seg.get("text"),
            settings,
        )
        for seg in segments
    ]
    groups = [speaker_group(seg) for seg in segments]
    arousal = arousal_from_features(features, groups, settings)
    logger.debug(
        "prosody: %d of %d segments scored", sum(a is not None for a in arousal), len(arousal)
    )
    return [VoiceScore(arousal=value) for value in arousal]


def speaker_group(segment: dict) -> str:
    """Whose baseline a segment is compared with."""
    for key in ("speaker_label", "speaker", "channel"):
        if segment.get(key) not in (None, ""):
            return f"{key}:{segment[key]}"
    return "all"


def _channel_samples(audio: DecodedAudio, channel: int | None, mono) -> np.ndarray:
    if isinstance(channel, int | np.integer) and 0 <= channel < audio.channels:
        return audio.samples[channel]
    return mono()


def segment_features(
    samples: np.ndarray,
    start_s: float,
    end_s: float,
    text: str | None,
    settings: ProsodySettings | None = None,
) -> ProsodyFeatures | None:
    """Prosody of samples[start_s:end_s] (16 kHz); None when too short or too little is voiced."""
    settings = settings or ProsodySettings()
    duration = end_s - start_s
    clip = samples[max(0, round(start_s * SAMPLE_RATE)) : round(end_s * SAMPLE_RATE)]
    if duration < settings.min_segment_s or len(clip) < settings.min_segment_s * SAMPLE_RATE:
        return None
    clip = np.ascontiguousarray(clip, dtype=np.float32)
    levels = frame_levels_db(clip)
    f0 = pitch_track(clip, settings)
    voiced = voiced_frames(levels, f0, settings)
    voiced_s = int(voiced.sum()) * HOP_LENGTH / SAMPLE_RATE
    if voiced_s < settings.min_voiced_s:
        return None
    pitch_st = 12.0 * np.log2(f0[voiced])
    p10, p90 = np.percentile(pitch_st, [10, 90])
    return ProsodyFeatures(
        energy_db=float(np.median(levels[voiced])),
        effort_db=alpha_ratio_db(clip, voiced),
        f0_median_hz=float(np.median(f0[voiced])),
        f0_spread_st=float(p90 - p10),
        speech_rate_cps=speech_rate(text, duration),
        voiced_s=voiced_s,
    )


def frame_levels_db(clip: np.ndarray) -> np.ndarray:
    import librosa

    rms = librosa.feature.rms(y=clip, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH)[0]
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def pitch_track(clip: np.ndarray, settings: ProsodySettings) -> np.ndarray:
    import librosa

    return librosa.yin(
        clip,
        fmin=settings.fmin,
        fmax=settings.fmax,
        sr=SAMPLE_RATE,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
    )


def voiced_frames(levels: np.ndarray, f0: np.ndarray, settings: ProsodySettings) -> np.ndarray:
    """Loud frames whose pitch is inside the search range and stable against both neighbours."""
    loudest = np.percentile(levels, 95)
    loud = levels > max(settings.silence_dbfs, loudest - settings.dynamic_range_db)
    in_range = (f0 > settings.fmin * 1.02) & (f0 < settings.fmax * 0.98)
    jumps = np.abs(np.diff(12.0 * np.log2(f0)))
    steady = np.full(f0.shape, False)
    steady[1:-1] = (jumps[:-1] < settings.max_jump_st) & (jumps[1:] < settings.max_jump_st)
    return long_runs(loud & in_range & steady, settings.min_run_frames)


def long_runs(mask: np.ndarray, min_length: int) -> np.ndarray:
    """mask with its runs of True shorter than min_length frames cleared."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    kept = np.zeros_like(mask, dtype=bool)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= min_length:
            kept[start:end] = True
    return kept


def alpha_ratio_db(clip: np.ndarray, voiced: np.ndarray) -> float:
    """Vocal effort that survives gain changes: energy above 1 kHz over energy below, in dB."""
    import librosa

    power = np.abs(librosa.stft(clip, n_fft=N_FFT, hop_length=HOP_LENGTH)) ** 2
    power = power[:, : len(voiced)][:, voiced[: power.shape[1]]]
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    low_hz, split_hz, high_hz = EFFORT_SPLIT_HZ
    low = power[(freqs >= low_hz) & (freqs < split_hz)].sum()
    high = power[(freqs >= split_hz) & (freqs < high_hz)].sum()
    return float(10.0 * np.log10(max(high, 1e-12) / max(low, 1e-12)))


def speech_rate(text: str | None, duration_s: float) -> float | None:
    """Letters, digits and CJK characters per second; None when there is nothing to count."""
    if not text or duration_s <= 0:
        return None
    characters = sum(1 for char in text if char.isalnum())
    return characters / duration_s if characters else None


def arousal_from_features(
    features: list[ProsodyFeatures | None],
    groups: list[str],
    settings: ProsodySettings | None = None,
) -> list[float | None]:
    """Arousal -1..+1 of each feature set against the others of its group; None where unscored."""
    settings = settings or ProsodySettings()
    arousal: list[float | None] = [None] * len(features)
    for group in dict.fromkeys(groups):
        members = [i for i, g in enumerate(groups) if g == group and features[i] is not None]
        values = [features[i].values() for i in members]
        for i, value in zip(members, _group_arousal(values, settings), strict=True):
            arousal[i] = value
    return arousal


def _group_arousal(values: list[dict[str, float | None]], settings: ProsodySettings) -> list[float]:
    z_by_feature = {name: robust_z([v[name] for v in values], Z_FLOORS[name]) for name in FEATURES}
    scores = []
    for index in range(len(values)):
        weighted = [
            (settings.weight(name), z_by_feature[name][index])
            for name in FEATURES
            if z_by_feature[name][index] is not None and settings.weight(name) > 0
        ]
        total = sum(weight for weight, _ in weighted)
        mean_z = sum(weight * z for weight, z in weighted) / total if total else 0.0
        scores.append(math.tanh(mean_z / settings.z_scale))
    return scores


def robust_z(values: list[float | None], floor: float) -> list[float | None]:
    """(x - median) / max(1.4826 * MAD, floor), clipped to +-MAX_Z; None stays None."""
    present = np.array([v for v in values if v is not None], dtype=float)
    if len(present) == 0:
        return [None] * len(values)
    center = float(np.median(present))
    spread = max(MAD_TO_SIGMA * float(np.median(np.abs(present - center))), floor)
    return [
        None if v is None else float(np.clip((v - center) / spread, -MAX_Z, MAX_Z)) for v in values
    ]
