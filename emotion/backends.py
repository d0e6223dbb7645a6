"""Pick the text and voice backends the settings name; each model loads once per worker."""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from callscope.emotion.scores import TextScore, VoiceScore
from callscope.storage.rows import SegmentRow


class TextScorer(Protocol):
    version: str

    def score(self, texts: list[str]) -> list[TextScore]: ...


class _TransformersText:
    def __init__(self, model, ref: str):
        self.model = model
        self.version = f"text:{ref}"

    def score(self, texts: list[str]) -> list[TextScore]:
        return self.model.score(texts)


def get_text_scorer(settings) -> TextScorer:
    """`settings`: EmotionSettings. `lexicon` is the embedded default."""
    if settings.text_model == "lexicon":
        from callscope.emotion.lexicon import get_lexicon_scorer

        return get_lexicon_scorer()
    from callscope.emotion.hf import get_text_scorer as transformers_text

    model = transformers_text(
        settings.text_model,
        settings.device,
        settings.batch_size,
        tuple(sorted(settings.text_label_map.items())),
    )
    return _TransformersText(model, settings.text_model)


def score_voice(audio, segments: list[SegmentRow], settings) -> list[VoiceScore]:
    """Arousal for every segment from prosody; with an audio model, its label too (and the
    mean of both arousals where both exist)."""
    from callscope.emotion.prosody import segment_arousal

    prosody = segment_arousal(audio, segments)
    if settings.voice_model == "prosody":
        return prosody
    from callscope.emotion.hf import get_voice_scorer

    model = get_voice_scorer(
        settings.voice_model,
        settings.device,
        tuple(sorted(settings.voice_label_map.items())),
    )
    return [_combine(p, m) for p, m in zip(prosody, model.score(audio, segments), strict=True)]


def _combine(prosody: VoiceScore, model: VoiceScore) -> VoiceScore:
    arousals = [a for a in (prosody.arousal, model.arousal) if a is not None]
    arousal = round(sum(arousals) / len(arousals), 3) if arousals else None
    return VoiceScore(arousal, model.label, model.confidence)


def load_emotion_models(settings) -> None:
    """Load the configured models up front so that a bad one stops the night at once."""
    if not settings.enabled:
        return
    get_text_scorer(settings)
    if settings.voice_model != "prosody":
        from callscope.emotion.hf import get_voice_scorer

        get_voice_scorer(
            settings.voice_model, settings.device, tuple(sorted(settings.voice_label_map.items()))
        )


def settings_version(settings, scorer: TextScorer) -> str:
    """Changes when anything that shapes the text sentiment, the fusion or a call summary does."""
    shaping = settings.model_dump(mode="json", exclude={"device", "batch_size", "enabled"})
    blob = json.dumps([scorer.version, shaping], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
