"""Spoken turns -> one telephone call recording (8 kHz), with the turn times as ground truth.

Each turn is trimmed, band-passed to the telephone band (300-3400 Hz) and levelled by loudness
(agent -20 dBFS RMS, the customer within 4 dB of that, the IVR prompt a little quieter; peaks
limited to -1 dBFS); turns follow each other
after 0.3-1.0 s pauses, sometimes overlapping a little. Calls with an IVR prompt may then
play a few seconds of hold music before the agent answers. Stereo calls carry the agent on
the left channel and the customer on the right (`agent_left`); mono calls are the sum.
Everything random is seeded from the call id.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from callscope.synth.scripts import CallScript

RATE = 8000
BAND_HZ = (300.0, 3400.0)
AGENT_RMS_DB = -20.0
IVR_RMS_DB = -24.0
PEAK_LIMIT_DB = -1.0
HOLD_GAIN = 0.5
OVERLAP_SHARE = 0.1
NOISE_DB = -58.0
FORMATS = {  # file_format -> (extension, soundfile format, subtype)
    "wav_pcm16": (".wav", "WAV", "PCM_16"),
    "wav_ulaw": (".wav", "WAV", "ULAW"),
    "flac": (".flac", "FLAC", "PCM_16"),
}


@dataclass
class MixedCall:
    samples: np.ndarray  # (n,) mono or (n, 2) with the agent on channel 0
    rate: int
    turn_times: list[tuple[float, float]]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate


def telephone_band(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    if len(samples) < 32:
        return samples.astype(np.float32)
    sos = butter(4, BAND_HZ, btype="bandpass", fs=rate, output="sos")
    return sosfiltfilt(sos, samples).astype(np.float32)


def trim(samples: np.ndarray, rate: int = RATE, floor_db: float = -40.0) -> np.ndarray:
    """Cut leading and trailing near-silence, keeping 30 ms either side."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak == 0.0:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) > peak * 10 ** (floor_db / 20))
    margin = int(0.03 * rate)
    return samples[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def at_level(samples: np.ndarray, rms_db: float, peak_db: float = PEAK_LIMIT_DB) -> np.ndarray:
    """Scale to an RMS level, then down again if the peaks would pass `peak_db`."""
    if not len(samples):
        return samples
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    peak = float(np.max(np.abs(samples)))
    if rms == 0.0:
        return samples
    gain = min(10 ** (rms_db / 20) / rms, 10 ** (peak_db / 20) / peak)
    return (samples * gain).astype(np.float32)


def mix_call(script: CallScript, speech: Sequence[np.ndarray], rate: int = RATE) -> MixedCall:
    """Lay the call's turns out on two channels and return the recording and turn times."""
    if len(speech) != len(script.turns):
        raise ValueError(f"{script.call_id}: {len(speech)} clips for {len(script.turns)} turns")
    rng = np.random.default_rng(zlib.crc32(f"mix/{script.call_id}/{script.date}".encode()))
    customer_db = AGENT_RMS_DB + rng.uniform(-4.0, 2.0)
    pieces: list[tuple[int, int, np.ndarray]] = []  # channel, start sample, audio
    times: list[tuple[float, float]] = []
    clock = rng.uniform(0.2, 0.6)
    for i, (turn, clip) in enumerate(zip(script.turns, speech, strict=True)):
        level = {"agent": AGENT_RMS_DB, "ivr": IVR_RMS_DB}.get(turn.role, customer_db)
        audio = at_level(telephone_band(trim(np.asarray(clip, np.float32), rate), rate), level)
        start = clock if i == 0 else _next_start(rng, clock, times[-1][0], script, i)
        pieces.append((0 if turn.role != "customer" else 1, int(start * rate), audio))
        times.append((round(start, 2), round(start + len(audio) / rate, 2)))
        clock = start + len(audio) / rate
        if turn.role == "ivr" and script.hold_s > 0:
            clock = _add_hold(pieces, clock + rng.uniform(0.3, 0.6), script.hold_s, rate)
    total = int((clock + rng.uniform(0.4, 0.9)) * rate)
    channels = np.zeros((2, total), dtype=np.float32)
    for channel, offset, audio in pieces:
        end = min(total, offset + len(audio))
        channels[channel, offset:end] += audio[: end - offset]
    noise = rng.standard_normal((2, total)).astype(np.float32) * 10 ** (NOISE_DB / 20)
    channels += np.stack([telephone_band(n, rate) for n in noise])
    return MixedCall(_layout(channels, script.channel_layout), rate, times)


def _next_start(rng, clock: float, last_start: float, script: CallScript, i: int) -> float:
    previous, current = script.turns[i - 1].role, script.turns[i].role
    if previous != current and "ivr" not in (previous, current) and rng.random() < OVERLAP_SHARE:
        return max(last_start + 0.5, clock - rng.uniform(0.15, 0.4))  # talks over the end
    return clock + rng.uniform(0.3, 1.0)


def _add_hold(pieces: list, start: float, hold_s: float, rate: int) -> float:
    from callscope.synth.demoday import hold_music

    music = hold_music(rate, music_s=hold_s, silence_s=0.0) * HOLD_GAIN
    pieces.append((0, int(start * rate), music))
    return start + hold_s


def _layout(channels: np.ndarray, layout: str) -> np.ndarray:
    if layout == "mono":
        mono = channels.sum(axis=0)
        peak = float(np.max(np.abs(mono))) if mono.size else 0.0
        return mono / (peak / 0.98) if peak > 0.98 else mono
    pair = channels if layout == "agent_left" else channels[::-1]
    return np.clip(pair.T, -1.0, 1.0)


def encode(call: MixedCall, file_format: str) -> tuple[str, bytes]:
    """(file extension, file bytes) of the recording in one of FORMATS."""
    import soundfile as sf

    if file_format not in FORMATS:
        raise ValueError(f"unknown file format {file_format!r}; use one of {', '.join(FORMATS)}")
    ext, container, subtype = FORMATS[file_format]
    buffer = io.BytesIO()
    sf.write(buffer, call.samples, call.rate, format=container, subtype=subtype)
    return ext, buffer.getvalue()
