"""Decode a recording once into 16 kHz float32 channels, with clear errors for bad files."""

from __future__ import annotations

import io
import re
import struct

import numpy as np

from core.errors import BadRecordingError
from core.logs import get_logger
from core.records import SAMPLE_RATE, DecodedAudio

logger = get_logger(__name__)

# A file is called truncated when its decodable audio falls this far short of its header.
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_RATIO = 0.02


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
            raise BadRecordingError(
                f"{name}: {declared / 3600:.1f} h long, over the {max_duration_s / 3600:.1f} h limit "
                "(asr.max_duration_s); split the recording or raise the limit"
            )
        samples, bad_packets = _decode_stream(container, stream, source_channels, name)
        source_rate = stream.codec_context.sample_rate or stream.sample_rate
        codec = stream.codec_context.name

    decoded = DecodedAudio(samples, int(source_rate or 0), source_channels, codec)
    if decoded.samples.shape[1] == 0:
        raise BadRecordingError(f"{name}: no audio could be decoded (header only or corrupt data)")
    _check_complete(decoded, declared, bad_packets, name)
    return decoded


def _decode_stream(container, stream, channels: int, name: str) -> tuple[np.ndarray, int]:
    import av

    resampler = av.AudioResampler(
        format="fltp", layout="mono" if channels == 1 else "stereo", rate=SAMPLE_RATE
    )
    chunks: list[np.ndarray] = []
    bad_packets = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                bad_packets += 1
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    except (av.FFmpegError, ValueError) as exc:
        if not chunks:
            raise BadRecordingError(f"{name}: corrupt audio ({_reason(exc)})") from exc
        bad_packets += 1
    if not chunks:
        return np.zeros((channels, 0), dtype=np.float32), bad_packets
    return np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32), bad_packets


def wav_header_duration(data: bytes) -> float | None:
    """Duration a RIFF/WAVE header promises (its data chunk size over its byte rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"fmt " and offset + 16 <= len(data):
            byte_rate = struct.unpack_from("<I", data, offset + 16)[0]
        elif chunk == b"data":
            if not byte_rate or size in (0, 0xFFFFFFFF):  # streamed WAVs leave the size open
                return None
            return size / byte_rate
        offset += 8 + size + (size & 1)
    return None


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
