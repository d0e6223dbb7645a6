"""Decode a recording once into 16 kHz float32 channels, with clear errors for bad files."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
from callscope.core.errors import BadRecordingError
from callscope.core.logs import get_logger
from callscope.core.records import SAMPLE_RATE, DecodedAudio

logger = get_logger(__name__)

# A file is called truncated when its decodable audio falls this far short of its header.
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_RATIO = 0.02
# WAVE format tags whose samples all take channels x ceil(bits / 8) bytes: PCM, IEEE float,
# A-law, µ-law and WAVE_FORMAT_EXTENSIBLE (whose sub-formats in use are PCM and float).
_FIXED_SIZE_CODECS = {0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE}


def decode(data: bytes, name: str, max_duration_s: float | None = None) -> DecodedAudio:
    """Decode `data` (the bytes of file `name`) to 16 kHz float32, one row per channel.

    Raises BadRecordingError with a reason a person can act on.
    """
    import av

    if not data:
        raise BadRecordingError(f"{name}: empty file (0 bytes); re-export the recording")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError) as exc:
        raise BadRecordingError(
            f"{name}: not a readable audio file ({_reason(exc)}); expected wav, flac, mp3 or opus"
        ) from exc
    with container:
        if not container.streams.audio:
            raise BadRecordingError(f"{name}: the file holds no audio stream")
        stream = container.streams.audio[0]
        source_channels = stream.codec_context.channels or 1
        if source_channels > 2:
            raise BadRecordingError(
                f"{name}: {source_channels} channels; only mono or stereo calls are supported"
            )
        declared = wav_header_duration(data) or _declared_duration(container, stream)
        if max_duration_s and declared and declared > max_duration_s:
            raise _too_long(name, f"{_span(declared)} long, over the {_span(max_duration_s)} limit")
        max_samples = round(max_duration_s * SAMPLE_RATE) if max_duration_s else None
        samples, bad_packets = _decode_stream(container, stream, source_channels, name, max_samples)
        source_rate = stream.codec_context.sample_rate or stream.sample_rate
        codec = stream.codec_context.name

    decoded = DecodedAudio(samples, int(source_rate or 0), source_channels, codec)
    if decoded.samples.shape[1] == 0:
        raise BadRecordingError(f"{name}: no audio could be decoded (header only or corrupt data)")
    _check_complete(decoded, declared, bad_packets, name)
    return decoded


def _decode_stream(
    container, stream, channels: int, name: str, max_samples: int | None = None
) -> tuple[np.ndarray, int]:
    """The stream at 16 kHz and how many packets could not be decoded. Decoding stops with
    BadRecordingError once more than `max_samples` are out, whatever the header said: a file
    whose header understates its length is never decoded whole."""
    import av

    resampler = av.AudioResampler(
        format="fltp", layout="mono" if channels == 1 else "stereo", rate=SAMPLE_RATE
    )
    chunks: list[np.ndarray] = []
    bad_packets, decoded = 0, 0

    def keep(out) -> None:
        nonlocal decoded
        chunks.append(out.to_ndarray())
        decoded += chunks[-1].shape[1]
        if max_samples is not None and decoded > max_samples:
            limit = _span(max_samples / SAMPLE_RATE)
            raise _too_long(
                name, f"its audio runs past the {limit} limit, whatever its header says"
            )

    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                bad_packets += 1
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    keep(out)
        for out in resampler.resample(None):
            keep(out)
    except (av.FFmpegError, ValueError) as exc:
        if not chunks:
            raise BadRecordingError(f"{name}: corrupt audio ({_reason(exc)})") from exc
        bad_packets += 1
    if not chunks:
        return np.zeros((channels, 0), dtype=np.float32), bad_packets
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32), bad_packets


def wav_header_duration(data: bytes) -> float | None:
    """Duration a RIFF/WAVE header promises: its data chunk size over the bytes a second of
    its samples takes (channels x sample width x rate for PCM, A-law and µ-law; the header's
    byte rate, which nothing checks, only for other codecs)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"fmt " and offset + 24 <= len(data):
            byte_rate = _wav_byte_rate(data, offset + 8)
        elif chunk == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):  # streamed WAVs leave the size open
                return None
            return size / byte_rate
        offset += 8 + size + (size & 1)
    return None


def _wav_byte_rate(data: bytes, at: int) -> int:
    """Bytes per second of the `fmt ` chunk's samples, from its sample format when that has
    fixed-size samples, else its byte rate field."""
    codec, channels, rate, byte_rate, _, bits = struct.unpack_from("<HHIIHH", data, at)
    if codec in _FIXED_SIZE_CODECS and channels and rate and bits:
        return channels * -(-bits // 8) * rate
    return byte_rate


def _too_long(name: str, what: str) -> BadRecordingError:
    return BadRecordingError(
        f"{name}: {what} (asr.max_duration_s); split the recording or raise the limit"
    )


def _span(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 360 else f"{seconds:.0f} s"


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _check_complete(audio: DecodedAudio, declared: float | None, bad_packets: int, name: str):
    if declared is None:
        if bad_packets:
            raise BadRecordingError(f"{name}: corrupt audio ({bad_packets} undecodable packets)")
        return
    missing = declared - audio.duration_s
    if missing > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_RATIO * declared):
        raise BadRecordingError(
            f"{name}: truncated: the header promises {declared:.1f} s but only "
            f"{audio.duration_s:.1f} s could be decoded; fetch the recording again"
        )
    if bad_packets:
        logger.warning("%s: %d undecodable packets skipped", name, bad_packets)


def _reason(exc: Exception) -> str:
    message = re.sub(r"^\[Errno -?\d+\] ", "", str(exc)).split(": '")[0]
    return message or type(exc).__name__
