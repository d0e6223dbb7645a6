"""One segment's sentiment and emotion from what was said and how it sounded.

- sentiment: the text valence; when an audio emotion model ran, its valence is mixed in with
  `voice_weight` (prosody alone says how aroused, not how positive, so it leaves it alone).
- emotion: the text label, raised to `angry` when a negative or frustrated segment is said
  with arousal at or above `angry_arousal` (a raised voice while complaining), or when the
  audio model hears anger confidently in a segment that is not positive.
"""

from __future__ import annotations

from dataclasses import dataclass

from callscope.core.config import EmotionSettings
from callscope.emotion.scores import (
    NEGATIVE_EMOTIONS,
    VALENCE_RANGE,
    TextScore,
    VoiceScore,
    clamp_valence,
)

VOICE_VALENCE = {
    "angry": -4.0,
    "frustrated": -3.0,
    "negative": -2.5,
    "neutral": 0.0,
    "positive": 3.0,
}


_CONFIG = EmotionSettings()  # the defaults of emotion.* (core/config.py)


@dataclass(frozen=True)
class FusionSettings:
    voice_weight: float = _CONFIG.voice_weight
    angry_arousal: float = _CONFIG.angry_arousal
    voice_anger_confidence: float = 0.6


@dataclass(frozen=True)
class SegmentEmotion:
    sentiment: float
    emotion: str
    confidence: float


def fuse(text: TextScore, voice: VoiceScore | None, settings: FusionSettings) -> SegmentEmotion:
    sentiment = text.valence
    voice_label = voice.label if voice else None
    if voice_label in VOICE_VALENCE and voice.confidence is not None:
        heard = VOICE_VALENCE[voice_label] * voice.confidence
        sentiment = (1 - settings.voice_weight) * sentiment + settings.voice_weight * heard
    sentiment = clamp_valence(round(sentiment, 3))
    emotion, confidence = text.label, text.confidence
    arousal = voice.arousal if voice else None
    if emotion in ("frustrated", "negative") and arousal is not None:
        if arousal >= settings.angry_arousal:
            emotion, confidence = "angry", max(confidence, min(1.0, 0.5 + arousal / 2))
    if (
        voice_label == "angry"
        and (voice.confidence or 0.0) >= settings.voice_anger_confidence
        and text.label != "positive"
    ):
        emotion, confidence = "angry", voice.confidence
    if emotion == "positive" and sentiment < 0 or emotion in NEGATIVE_EMOTIONS and sentiment > 0:
        emotion = "neutral"  # the voice pulled the sentiment across zero
        confidence = round(1.0 - abs(sentiment) / VALENCE_RANGE, 3)
    return SegmentEmotion(sentiment, emotion, round(confidence, 3))
