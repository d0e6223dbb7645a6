"""Production emotion backends: transformers text- and audio-classification models.

Text: a `text-classification` model gives a probability for each of its labels. Each label
maps to one of EMOTIONS (by name for common sentiment / emotion models, or through
`emotion.text_label_map`) and to a valence anchor; the valence is the probability-weighted
mean of the anchors, the label the emotion with the most probability.
Voice: an `audio-classification` model classifies each segment's 16 kHz slice of its channel;
labels map to EMOTIONS (or through `emotion.voice_label_map`) and the arousal is the
probability-weighted mean of per-label arousal anchors.

Models are named by a hub id or a local folder (with config.json) and load once per process
through `get_text_scorer` / `get_voice_scorer`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from math import gcd
from numbers import Integral
from typing import NoReturn

import numpy as np
from callscope.core.config import EmotionSettings
from callscope.core.errors import ModelError
from callscope.core.logs import get_logger
from callscope.core.models import resolve_device as resolve_model_device
from callscope.core.models import resolve_ref
from callscope.core.records import SAMPLE_RATE, DecodedAudio
from callscope.core.torch_compat import import_torchaudio
from callscope.emotion.errors import EmotionModelError
from callscope.emotion.scores import EMOTIONS, TextScore, VoiceScore, clamp_valence

logger = get_logger(__name__)

TEXT_LABEL_MAP_KEY = "emotion.text_label_map"
VOICE_LABEL_MAP_KEY = "emotion.voice_label_map"

# Valence anchor of each emotion, on -5..+5.
EMOTION_VALENCE = {
    "angry": -4.5,
    "frustrated": -3.0,
    "negative": -2.5,
    "neutral": 0.0,
    "positive": 3.0,
}
# Common text model labels (lower case) -> emotion.
TEXT_LABELS = {
    **dict.fromkeys(("positive", "pos", "joy", "happy", "happiness", "love"), "positive"),
    **dict.fromkeys(("negative", "neg", "sad", "sadness", "disgust", "fear"), "negative"),
    **dict.fromkeys(("anger", "angry"), "angry"),
    **dict.fromkeys(("neutral", "other", "surprise"), "neutral"),
}
# Unnamed labels of a two-label model (LABEL_0 / LABEL_1) are read as negative / positive.
BINARY_LABELS = {"label_0": "negative", "label_1": "positive"}
# Star ratings ("1 star" .. "5 stars", "star 1" ..): their own valence anchors.
STAR_VALENCE = {1: -5.0, 2: -2.5, 3: 0.0, 4: 2.5, 5: 5.0}
STAR_EMOTION = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
_STARS = re.compile(r"^(?:([1-5]) ?stars?|stars? ?([1-5]))$")
_SUFFIX = re.compile(r"\s*\(.*\)$")  # "negative (stars 1, 2 and 3)" -> "negative"

# Common speech emotion model labels (lower case) -> emotion.
VOICE_LABELS = {
    **dict.fromkeys(("angry", "ang", "anger"), "angry"),
    **dict.fromkeys(("sad", "sadness"), "negative"),
    **dict.fromkeys(("hap", "happy", "happiness", "joy"), "positive"),
    **dict.fromkeys(("neu", "neutral", "calm", "bored"), "neutral"),
    **dict.fromkeys(("fear", "fearful", "disgust", "disgusted"), "negative"),
    **dict.fromkeys(("frustrated", "frustration"), "frustrated"),
    **dict.fromkeys(("surprise", "surprised"), "neutral"),
}
# Arousal anchor of each speech model label (lower case), on -1..+1; other labels count 0.
VOICE_AROUSAL = {
    **dict.fromkeys(("angry", "ang", "anger"), 0.8),
    **dict.fromkeys(("fear", "fearful"), 0.6),
    **dict.fromkeys(("hap", "happy", "happiness", "joy"), 0.5),
    **dict.fromkeys(("surprise", "surprised"), 0.5),
    **dict.fromkeys(("neu", "neutral"), 0.0),
    **dict.fromkeys(("sad", "sadness"), -0.4),
    **dict.fromkeys(("bored", "calm"), -0.5),
}
MIN_VOICE_SEGMENT_S = 0.25  # shorter segments get no voice score
MAX_VOICE_SEGMENT_S = 30.0  # longer ones are classified on their middle 30 s
FALLBACK_MAX_TOKENS = 512  # when the tokenizer does not say how long its inputs may be

NEUTRAL_TEXT = TextScore(0.0, "neutral", 0.0)
_lock = threading.Lock()
_CONFIG = EmotionSettings()  # the defaults of emotion.* (core/config.py)


class TransformersTextScorer:
    """Valence and emotion of texts from a transformers text-classification model."""

    def __init__(
        self,
        ref: str,
        device: str = _CONFIG.device,
        batch_size: int = _CONFIG.batch_size,
        label_map: Mapping[str, str] | None = None,
    ):
        self.ref = ref
        self.batch_size = batch_size
        self.pipeline = load_pipeline("text-classification", ref, device)
        anchors = text_anchors(model_labels(self.pipeline), label_map or {})
        self.emotions = {label: emotion for label, (emotion, _) in anchors.items()}
        self.valences = {label: valence for label, (_, valence) in anchors.items()}
        self.max_length = _max_tokens(self.pipeline)

    def score(self, texts: Sequence[str]) -> list[TextScore]:
        """One TextScore per text, in order; blank texts are neutral without a model call."""
        scores = [NEUTRAL_TEXT] * len(texts)
        todo = [i for i, text in enumerate(texts) if text and text.strip()]
        if not todo:
            return scores
        outputs = self.pipeline(
            [texts[i] for i in todo],
            top_k=None,
            truncation=True,
            max_length=self.max_length,
            batch_size=self.batch_size,
        )
        for i, output in zip(todo, outputs, strict=True):
            scores[i] = self.to_score(output)
        return scores

    def to_score(self, output: list[dict]) -> TextScore:
        """The TextScore of one text from the pipeline's scores of all labels."""
        probs = distribution(output)
        valence = sum(p * self.valences[label] for label, p in probs.items())
        label, confidence = top_emotion(probs, self.emotions)
        return TextScore(clamp_valence(valence), label, confidence)


class TransformersVoiceScorer:
    """Arousal and emotion of speech segments from a transformers audio-classification model."""

    def __init__(
        self,
        ref: str,
        device: str = _CONFIG.device,
        label_map: Mapping[str, str] | None = None,
        max_segment_s: float = MAX_VOICE_SEGMENT_S,
    ):
        self.ref = ref
        self.max_segment_s = max_segment_s
        self.pipeline = load_pipeline("audio-classification", ref, device)
        self.emotions = voice_emotions(model_labels(self.pipeline), label_map or {})
        self.model_rate = int(self.pipeline.feature_extractor.sampling_rate)

    def score(self, audio: DecodedAudio, segments: Sequence[Mapping]) -> list[VoiceScore]:
        """One VoiceScore per segment (`start_s`, `end_s`, `channel`), in order."""
        clips = [self.clip(audio, segment) for segment in segments]
        todo = [i for i, clip in enumerate(clips) if clip is not None]
        scores = [VoiceScore(None)] * len(segments)
        if not todo:
            return scores
        outputs = self.pipeline([clips[i] for i in todo], top_k=None)
        for i, output in zip(todo, outputs, strict=True):
            scores[i] = self.to_score(output)
        return scores

    def clip(self, audio: DecodedAudio, segment: Mapping) -> np.ndarray | None:
        """The segment's samples at the model's rate, or None when it is too short."""
        samples = channel_samples(audio, segment.get("channel"))
        start = max(0, round(float(segment["start_s"]) * SAMPLE_RATE))
        end = min(samples.shape[0], round(float(segment["end_s"]) * SAMPLE_RATE))
        if end - start < MIN_VOICE_SEGMENT_S * SAMPLE_RATE:
            return None
        excess = (end - start) - round(self.max_segment_s * SAMPLE_RATE)
        if excess > 0:
            start, end = start + excess // 2, end - (excess - excess // 2)
        return resample(samples[start:end], SAMPLE_RATE, self.model_rate)

    def to_score(self, output: list[dict]) -> VoiceScore:
        """The VoiceScore of one segment from the pipeline's scores of all labels."""
        probs = distribution(output)
        arousal = sum(p * VOICE_AROUSAL.get(_norm(label), 0.0) for label, p in probs.items())
        label, confidence = top_emotion(probs, self.emotions)
        return VoiceScore(max(-1.0, min(1.0, arousal)), label, confidence)


@lru_cache(maxsize=2)
def get_text_scorer(
    ref: str,
    device: str = _CONFIG.device,
    batch_size: int = _CONFIG.batch_size,
    label_map_items: tuple[tuple[str, str], ...] = (),
) -> TransformersTextScorer:
    """The one text scorer for these arguments in this process."""
    return TransformersTextScorer(ref, device, batch_size, dict(label_map_items))


@lru_cache(maxsize=2)
def get_voice_scorer(
    ref: str,
    device: str = _CONFIG.device,
    label_map_items: tuple[tuple[str, str], ...] = (),
) -> TransformersVoiceScorer:
    """The one voice scorer for these arguments in this process."""
    return TransformersVoiceScorer(ref, device, dict(label_map_items))


def label_map_items(label_map: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """A label map as the hashable, order-independent argument the factories take."""
    return tuple(sorted((label_map or {}).items()))


def load_pipeline(task: str, ref: str, device: str = "cpu"):
    """A transformers pipeline for `task` from a hub id or a local folder."""
    check_ref(ref)
    device = resolve_device(device)
    import_torchaudio()  # transformers imports it; its wheel may not load beside CPU torch
    from transformers import pipeline

    try:
        with _lock:
            loaded = pipeline(task, model=ref, device=device)
    except (OSError, ValueError, KeyError, RuntimeError, AssertionError) as exc:
        raise EmotionModelError(
            f"cannot load the {task} model {ref!r} on {device}: {exc}. Give a local folder "
            "with config.json (from save_pretrained), or a hub id this machine can fetch "
            "(network, or a filled HF cache with HF_HUB_OFFLINE=1); gated models need "
            "HF_TOKEN in the environment"
        ) from exc
    logger.info("loaded %s model %s on %s", task, ref, device)
    return loaded


def check_ref(ref: str) -> None:
    """Fail early, naming the path, when `ref` is a folder that cannot hold a model."""
    try:
        resolve_ref(ref, "emotion model", marker="config.json")
    except ModelError as exc:
        raise EmotionModelError(str(exc)) from exc


def resolve_device(device: str) -> str:
    """`auto` -> cuda when one is visible, else cpu; a cuda device must exist."""
    try:
        return resolve_model_device(device, "emotion.device")
    except ModelError as exc:
        raise EmotionModelError(str(exc)) from exc


def model_labels(pipeline) -> list[str]:
    return [str(label) for label in pipeline.model.config.id2label.values()]


def text_anchors(
    labels: Iterable[str], label_map: Mapping[str, str]
) -> dict[str, tuple[str, float]]:
    """Model label -> (emotion, valence anchor); the label map wins over the defaults."""
    labels = list(labels)
    overrides = checked_label_map(label_map, TEXT_LABEL_MAP_KEY)
    binary = {_norm(label) for label in labels} == set(BINARY_LABELS)
    anchors = {}
    for label in labels:
        if _norm(label) in overrides:
            emotion = overrides[_norm(label)]
            anchors[label] = (emotion, EMOTION_VALENCE[emotion])
        else:
            anchors[label] = default_text_anchor(label, binary) or _unknown(
                label, TEXT_LABEL_MAP_KEY
            )
    return anchors


def default_text_anchor(label: str, binary: bool = False) -> tuple[str, float] | None:
    """(emotion, valence) of a common sentiment / emotion label, or None when unknown."""
    name = _SUFFIX.sub("", _norm(label))
    if stars := _STARS.match(name):
        count = int(stars.group(1) or stars.group(2))
        return STAR_EMOTION[count], STAR_VALENCE[count]
    emotion = TEXT_LABELS.get(name) or (BINARY_LABELS.get(name) if binary else None)
    return (emotion, EMOTION_VALENCE[emotion]) if emotion else None


def voice_emotions(labels: Iterable[str], label_map: Mapping[str, str]) -> dict[str, str]:
    """Model label -> emotion; the label map wins over the defaults."""
    overrides = checked_label_map(label_map, VOICE_LABEL_MAP_KEY)
    mapping = {**VOICE_LABELS, **overrides}
    return {
        label: mapping.get(_norm(label)) or _unknown(label, VOICE_LABEL_MAP_KEY) for label in labels
    }


def checked_label_map(label_map: Mapping[str, str], key: str) -> dict[str, str]:
    """The configured label map with lower-case keys; every value must be one of EMOTIONS."""
    bad = {label: emotion for label, emotion in label_map.items() if emotion not in EMOTIONS}
    if bad:
        raise EmotionModelError(f"{key} maps {bad} to no known emotion; use one of {EMOTIONS}")
    return {_norm(label): emotion for label, emotion in label_map.items()}


def distribution(output: Iterable[Mapping]) -> dict[str, float]:
    """Label -> probability, normalised to sum to 1 (multi-label models need it)."""
    probs = {str(item["label"]): max(0.0, float(item["score"])) for item in output}
    total = sum(probs.values())
    return {label: p / total for label, p in probs.items()} if total > 0 else probs


def top_emotion(probs: Mapping[str, float], emotions: Mapping[str, str]) -> tuple[str, float]:
    """The emotion with the most probability (its labels' summed) and that probability."""
    totals: dict[str, float] = {}
    for label, p in probs.items():
        totals[emotions[label]] = totals.get(emotions[label], 0.0) + p
    emotion = max(totals, key=totals.__getitem__)
    return emotion, min(1.0, totals[emotion])


def channel_samples(audio: DecodedAudio, channel: int | None) -> np.ndarray:
    """The row of `channel` (numpy ints too) when the audio has it, else the mono mix."""
    if isinstance(channel, Integral) and 0 <= channel < audio.channels:
        return audio.samples[int(channel)]
    return audio.mono()


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """float32 samples at `target` Hz (a copy, so the pipeline never holds the call's array)."""
    if rate == target:
        return np.array(samples, dtype=np.float32)
    from scipy.signal import resample_poly

    step = gcd(rate, target)
    return resample_poly(samples, target // step, rate // step).astype(np.float32)


def _max_tokens(pipeline) -> int:
    """How many tokens one input may have: the tokenizer's limit, else the model's."""
    limit = getattr(pipeline.tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 100_000:
        return limit
    positions = getattr(pipeline.model.config, "max_position_embeddings", None)
    return min(FALLBACK_MAX_TOKENS, positions) if positions else FALLBACK_MAX_TOKENS


def _norm(label: str) -> str:
    return str(label).strip().lower()


def _unknown(label: str, key: str) -> NoReturn:
    raise EmotionModelError(
        f"the emotion model's label {label!r} means nothing to callscope; map it to one of "
        f"{EMOTIONS} with {key} in the config"
    )
