"""Record types that travel between stages: decoded audio, emotion labels. A segment or a call
is a row of its table: storage/rows.py derives SegmentRow, Word and CallRow from the schemas."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
EMOTIONS = ("angry", "frustrated", "negative", "neutral", "positive")
NEGATIVE_EMOTIONS = ("angry", "frustrated", "negative")


@dataclass(frozen=True)
class DecodedAudio:
    """Channels as rows, resampled to 16 kHz."""

    samples: np.ndarray  # float32, shape (channels, n)
    source_rate: int
    source_channels: int
    codec: str

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / SAMPLE_RATE

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.channels > 1 else self.samples[0]
