"""The duration limit holds whatever a WAV header claims: its byte rate is not trusted, and
decoding stops at the limit however long the header says the audio is."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
import soundfile as sf
from callscope.asr.audio import decode, wav_header_duration
from callscope.core.errors import BadRecordingError
from callscope.core.records import SAMPLE_RATE

RATE = 8000
REAL_RESAMPLER = av.AudioResampler


def forged_wav(seconds: float, byte_rate: int | None = None, data_size: int | None = None):
    """A mono 16-bit PCM WAV written byte by byte, with the header's byte rate and data chunk
    size as given (honest when None)."""
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    honest = RATE * 2
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, honest if byte_rate is None else byte_rate, 2, 16)
    size = len(pcm) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", size) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_an_honest_header_decodes():
    audio = decode(forged_wav(1.0), "ok.wav", max_duration_s=2.0)
    assert audio.duration_s == pytest.approx(1.0, abs=0.01)


def test_a_forged_byte_rate_does_not_hide_the_length():
    data = forged_wav(5.0, byte_rate=RATE * 2 * 1000)  # the header's sum says 5 ms
    assert wav_header_duration(data) == pytest.approx(5.0)
    with pytest.raises(BadRecordingError, match=r"^forged\.wav: 5 s long, over the 2 s limit"):
        decode(data, "forged.wav", max_duration_s=2.0)


def test_a_forged_byte_rate_the_other_way_is_no_refusal():
    audio = decode(forged_wav(1.0, byte_rate=1), "slow.wav", max_duration_s=2.0)
    assert audio.duration_s == pytest.approx(1.0, abs=0.01)


def understated_flac(seconds: float, claimed_samples: int) -> bytes:
    """A FLAC whose STREAMINFO block claims `claimed_samples` while its frames hold
    `seconds` of audio (the header's 36-bit total, rewritten here by hand)."""
    t = np.arange(int(seconds * RATE)) / RATE
    out = io.BytesIO()
    sf.write(out, 0.2 * np.sin(2 * np.pi * 440 * t), RATE, format="FLAC")
    data = bytearray(out.getvalue())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    packed = struct.unpack(">Q", data[18:26])[0]  # rate, channels, bits, total samples
    total = (1 << 36) - 1
    data[18:26] = struct.pack(">Q", (packed & ~total) | claimed_samples)
    return bytes(data)


class CountingResampler:
    """av.AudioResampler, counting the samples it hands out."""

    out = 0

    def __init__(self, *args, **kwargs):
        self.inner = REAL_RESAMPLER(*args, **kwargs)

    def resample(self, frame):
        frames = self.inner.resample(frame)
        CountingResampler.out += sum(f.samples for f in frames)
        return frames


def test_decoding_stops_at_the_limit_whatever_the_header_says(monkeypatch):
    data = understated_flac(30.0, claimed_samples=RATE // 2)  # claims 0.5 s
    monkeypatch.setattr(av, "AudioResampler", CountingResampler)
    CountingResampler.out = 0
    with pytest.raises(BadRecordingError, match=r"^long\.flac: its audio runs past the 2 s limit"):
        decode(data, "long.flac", max_duration_s=2.0)
    assert CountingResampler.out <= 3 * SAMPLE_RATE  # stopped near 2 s, not at 30 s
