import numpy as np
import pytest
import soundfile as sf
from callscope.asr.audio import decode
from callscope.core.errors import BadRecordingError
from callscope.core.records import SAMPLE_RATE

from tests.conftest import write_tone


@pytest.mark.parametrize(
    ("fmt", "subtype", "ext", "rate"),
    [
        ("WAV", "PCM_16", "wav", 8000),
        ("WAV", "ULAW", "wav", 8000),
        ("FLAC", None, "flac", 16000),
        ("MP3", None, "mp3", 16000),
        ("OGG", "OPUS", "opus", 8000),
    ],
)
def test_formats_decode_to_16k(tmp_path, fmt, subtype, ext, rate):
    t = np.arange(2 * rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.zeros_like(t)], axis=1) * 0.3
    path = tmp_path / f"call.{ext}"
    sf.write(path, stereo, rate, format=fmt, subtype=subtype)
    audio = decode(path.read_bytes(), path.name)
    assert audio.channels == 2 and audio.source_channels == 2
    assert audio.source_rate == (48000 if ext == "opus" else rate)  # Opus always decodes at 48k
    assert audio.duration_s == pytest.approx(2.0, abs=0.1)
    assert audio.samples.dtype == np.float32
    assert np.abs(audio.samples[0]).max() > 0.1 and np.abs(audio.samples[1]).max() < 0.05


def test_mono_at_16k(tmp_path):
    audio = decode(write_tone(tmp_path / "a.wav", 1.5).read_bytes(), "a.wav")
    assert audio.channels == 1
    assert audio.samples.shape[1] == pytest.approx(1.5 * SAMPLE_RATE, abs=200)


def test_empty_file_names_the_file():
    with pytest.raises(BadRecordingError, match=r"x\.wav: empty file"):
        decode(b"", "x.wav")


def test_garbage_is_not_audio():
    with pytest.raises(BadRecordingError, match="not a readable audio file"):
        decode(b"hello, this is a text file" * 20, "notes.wav")


def test_truncated_wav_is_reported(tmp_path):
    data = write_tone(tmp_path / "long.wav", 10.0).read_bytes()
    with pytest.raises(BadRecordingError, match="truncated"):
        decode(data[: len(data) // 3], "long.wav")


def test_too_many_channels(tmp_path):
    path = write_tone(tmp_path / "multi.wav", 1.0, channels=4)
    with pytest.raises(BadRecordingError, match="4 channels"):
        decode(path.read_bytes(), path.name)


def test_over_the_duration_limit(tmp_path):
    path = write_tone(tmp_path / "long.wav", 5.0)
    with pytest.raises(BadRecordingError, match="over the .* limit"):
        decode(path.read_bytes(), path.name, max_duration_s=2.0)
