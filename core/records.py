"""Record types that travel between stages: decoded audio, words and segments, emotion labels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypedDict

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


class Word(TypedDict):
    word: str
    start: float
    end: float
    prob: float


class Segment(TypedDict, total=False):
    """A segments-table row as the stages build it up (storage/schemas.py SEGMENTS has them all):
    transcription fills the text and words, speaker attribution the speaker, the night the
    call and date, redaction the redacted text, the emotion step the scores."""

    call_id: str
    date: dt.date
    idx: int
    start_s: float
    end_s: float
    channel: int
    speaker: str  # agent | customer | ivr | unknown
    speaker_label: str
    overlap: bool
    text: str
    text_redacted: str | None
    words: list[Word]
    language: str | None
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    arousal: float | None
    sentiment: float | None
    emotion: str | None
