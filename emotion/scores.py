"""The values every emotion backend returns, and the label set shared by all of them."""

from __future__ import annotations

from dataclasses import dataclass

# The emotion labels of a segment, from most to least negative.
from callscope.core.records import EMOTIONS, NEGATIVE_EMOTIONS  # noqa: F401  (the labels, defined once)

VALENCE_RANGE = 5.0  # sentiment runs from -5 (very negative) to +5 (very positive)


@dataclass(frozen=True)
class TextScore:
    """What the words of one segment say."""

    valence: float  # -5..+5
    label: str  # one of EMOTIONS
    confidence: float  # 0..1
    cues: tuple[str, ...] = ()  # the words that decided it (lexicon backend)


@dataclass(frozen=True)
class VoiceScore:
    """How one segment sounds.

    arousal: -1 (calm, flat, quiet) .. +1 (loud, high, fast) relative to the same speaker's
    baseline in the call; None when the segment is too short or unvoiced to tell.
    label / confidence: the audio model's emotion (one of EMOTIONS) when an audio
    classification backend runs; None for prosody alone.
    """

    arousal: float | None
    label: str | None = None
    confidence: float | None = None


def clamp_valence(value: float) -> float:
    return max(-VALENCE_RANGE, min(VALENCE_RANGE, value))
