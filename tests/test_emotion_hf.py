"""Plumbing of the transformers emotion backends, on tiny randomly initialised models built
here (offline, no downloads). The models know nothing: these tests check shapes, order,
mapping and arithmetic, not accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from callscope.core.records import SAMPLE_RATE, DecodedAudio
from callscope.core.torch_compat import import_torchaudio
from callscope.emotion.errors import EmotionModelError
from callscope.emotion.hf import (
    TransformersTextScorer,
    TransformersVoiceScorer,
    default_text_anchor,
    get_text_scorer,
    get_voice_scorer,
    label_map_items,
    resample,
)
from callscope.emotion.scores import EMOTIONS, VALENCE_RANGE, TextScore

TEXT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
TEXT_ANCHORS = {"negative": -2.5, "neutral": 0.0, "positive": 3.0}
VOICE_LABELS = {0: "ang", 1: "hap", 2: "neu", 3: "sad"}
VOICE_AROUSAL = {"ang": 0.8, "hap": 0.5, "neu": 0.0, "sad": -0.4}
VOICE_EMOTIONS = {"ang": "angry", "hap": "positive", "neu": "neutral", "sad": "negative"}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = "我 你 不 满 意 好 谢 生 气 又 the a very good bad angry thanks again not happy".split()
TEXTS = ["very good thanks", "我不满意", "angry again", "你好", "the bad a not happy"]


def build_text_model(folder, labels: dict[int, str]) -> str:
    import torch

    import_torchaudio()
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL_TOKENS + WORDS) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        id2label=labels,
        label2id={label: i for i, label in labels.items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizer(vocab=str(vocab)).save_pretrained(folder)
    return str(folder)


def build_voice_model(folder) -> str:
    import torch

    import_torchaudio()
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=16,
        id2label=VOICE_LABELS,
        label2id={label: i for i, label in VOICE_LABELS.items()},
    )
    torch.manual_seed(0)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> str:
    return build_text_model(tmp_path_factory.mktemp("text-model"), TEXT_LABELS)


@pytest.fixture(scope="module")
def voice_model(tmp_path_factory) -> str:
    return build_voice_model(tmp_path_factory.mktemp("voice-model"))


@pytest.fixture(scope="module")
def text_scorer(text_model) -> TransformersTextScorer:
    return TransformersTextScorer(text_model, batch_size=2)


@pytest.fixture(scope="module")
def voice_scorer(voice_model) -> TransformersVoiceScorer:
    return TransformersVoiceScorer(voice_model)


@pytest.fixture(scope="module")
def stereo() -> DecodedAudio:
    """3 s: a 220 Hz tone on channel 0, noise on channel 1."""
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    noise = np.random.default_rng(0).normal(0.0, 0.2, t.shape)
    return DecodedAudio(np.stack([tone, noise]).astype(np.float32), SAMPLE_RATE, 2, "pcm_s16le")


def raw_text(scorer: TransformersTextScorer, texts: list[str]) -> list[dict[str, float]]:
    outputs = scorer.pipeline(texts, top_k=None, truncation=True)
    return [{item["label"]: item["score"] for item in output} for output in outputs]


def raw_voice(scorer: TransformersVoiceScorer, clip: np.ndarray) -> dict[str, float]:
    return {item["label"]: item["score"] for item in scorer.pipeline(clip, top_k=None)}


# --- text -------------------------------------------------------------------------------


def test_text_scores_follow_the_labels_distribution(text_scorer):
    scores = text_scorer.score(TEXTS)
    assert len(scores) == len(TEXTS)
    for score, probs in zip(scores, raw_text(text_scorer, TEXTS), strict=True):
        expected = sum(p * TEXT_ANCHORS[label] for label, p in probs.items())
        top = max(probs, key=probs.__getitem__)
        assert -VALENCE_RANGE <= score.valence <= VALENCE_RANGE
        assert score.valence == pytest.approx(expected, abs=1e-5)
        assert score.label == top and score.label in EMOTIONS
        assert score.confidence == pytest.approx(probs[top], abs=1e-5)


def test_text_order_and_batching_do_not_mix_texts(text_scorer):
    one_by_one = [text_scorer.score([text])[0] for text in TEXTS]
    reversed_batch = text_scorer.score(TEXTS[::-1])[::-1]
    for single, batched in zip(one_by_one, reversed_batch, strict=True):
        assert batched.label == single.label
        assert batched.valence == pytest.approx(single.valence, abs=1e-4)


def test_blank_texts_are_neutral_without_a_model_call(text_scorer, monkeypatch):
    def no_call(*args, **kwargs):
        raise AssertionError("the model ran on blank text")

    monkeypatch.setattr(text_scorer, "pipeline", no_call)
    assert text_scorer.score(["", "  \n"]) == [TextScore(0.0, "neutral", 0.0)] * 2
    assert text_scorer.score([]) == []


def test_blank_texts_keep_their_place_among_others(text_scorer):
    scores = text_scorer.score(["", TEXTS[0], " "])
    assert scores[0].confidence == scores[2].confidence == 0.0
    assert scores[1] == text_scorer.score([TEXTS[0]])[0]


def test_long_text_is_truncated(text_scorer):
    (score,) = text_scorer.score([" ".join(WORDS * 40)])  # far over 64 positions
    assert score.label in EMOTIONS


def test_label_map_overrides_the_defaults(text_model, text_scorer):
    (probs,) = raw_text(text_scorer, [TEXTS[0]])
    top = max(probs, key=probs.__getitem__)
    others = [label for label in TEXT_LABELS.values() if label != top]
    label_map = {top.upper(): "frustrated", others[0]: "angry", others[1]: "neutral"}
    (score,) = TransformersTextScorer(text_model, label_map=label_map).score([TEXTS[0]])
    assert score.label == "frustrated"
    assert score.confidence == pytest.approx(probs[top], abs=1e-5)
    expected = -3.0 * probs[top] - 4.5 * probs[others[0]]
    assert score.valence == pytest.approx(expected, abs=1e-5)


def test_unknown_label_names_the_label_and_the_config_key(tmp_path):
    folder = build_text_model(tmp_path / "odd", {0: "negative", 1: "sarcasm"})
    with pytest.raises(EmotionModelError, match=r"sarcasm.*emotion\.text_label_map"):
        TransformersTextScorer(folder)
    (score,) = TransformersTextScorer(folder, label_map={"sarcasm": "frustrated"}).score(["bad"])
    assert score.label in ("negative", "frustrated")


def test_label_map_to_no_emotion_is_refused(text_model):
    with pytest.raises(EmotionModelError, match="furious"):
        TransformersTextScorer(text_model, label_map={"negative": "furious"})


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("1 star", ("negative", -5.0)),
        ("3 stars", ("neutral", 0.0)),
        ("5 stars", ("positive", 5.0)),
        ("star 4", ("positive", 2.5)),
        ("Joy", ("positive", 3.0)),
        ("anger", ("angry", -4.5)),
        ("sadness", ("negative", -2.5)),
        ("negative (stars 1, 2 and 3)", ("negative", -2.5)),
        ("other", ("neutral", 0.0)),
        ("LABEL_1", None),
    ],
)
def test_default_text_anchors(label, expected):
    assert default_text_anchor(label) == expected


def test_binary_unnamed_labels_read_as_negative_positive():
    assert default_text_anchor("LABEL_0", binary=True) == ("negative", -2.5)
    assert default_text_anchor("LABEL_1", binary=True) == ("positive", 3.0)


# --- loading ----------------------------------------------------------------------------


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmotionModelError, match=str(missing)):
        TransformersTextScorer(str(missing))
    with pytest.raises(EmotionModelError, match=str(missing)):
        get_voice_scorer(str(missing))


def test_folder_without_config_names_the_fix(tmp_path):
    with pytest.raises(EmotionModelError, match="config.json"):
        TransformersTextScorer(str(tmp_path))


def test_uncached_hub_id_offline_names_the_ref(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmotionModelError, match="(?s)callscope-test/no-such-model.*HF_TOKEN"):
        TransformersTextScorer("callscope-test/no-such-model")


def test_factories_load_once_per_arguments(text_model, voice_model):
    first = get_text_scorer(text_model)
    assert get_text_scorer(text_model) is first
    mapped = get_text_scorer(text_model, label_map_items=label_map_items({"neutral": "positive"}))
    assert mapped is not first
    assert get_voice_scorer(voice_model) is get_voice_scorer(voice_model)
    assert label_map_items({"b": "x", "a": "y"}) == (("a", "y"), ("b", "x"))
    get_text_scorer.cache_clear()
    get_voice_scorer.cache_clear()


# --- voice ------------------------------------------------------------------------------


def test_voice_scores_follow_the_labels_distribution(voice_scorer, stereo):
    segments = [
        {"start_s": 0.0, "end_s": 1.0, "channel": 0},
        {"start_s": 0.5, "end_s": 2.5, "channel": 1},
        {"start_s": 1.0, "end_s": 3.0, "channel": None},
    ]
    scores = voice_scorer.score(stereo, segments)
    assert len(scores) == len(segments)
    for score, segment in zip(scores, segments, strict=True):
        probs = raw_voice(voice_scorer, voice_scorer.clip(stereo, segment))
        top = max(probs, key=probs.__getitem__)
        expected = sum(p * VOICE_AROUSAL[label] for label, p in probs.items())
        assert -1.0 <= score.arousal <= 1.0
        assert score.arousal == pytest.approx(expected, abs=1e-5)
        assert score.label == VOICE_EMOTIONS[top] and score.label in EMOTIONS
        assert score.confidence == pytest.approx(probs[top], abs=1e-5)


def test_voice_reads_the_segments_channel(voice_scorer, stereo):
    start, end = SAMPLE_RATE // 2, 2 * SAMPLE_RATE
    segments = [
        {"start_s": 0.5, "end_s": 2.0, "channel": np.int64(1)},  # as read from a table
        {"start_s": 0.5, "end_s": 2.0, "channel": 0},
        {"start_s": 0.5, "end_s": 2.0, "channel": 7},  # no such channel: the mono mix
    ]
    right, left, mixed = voice_scorer.score(stereo, segments)
    slices = [stereo.samples[1], stereo.samples[0], stereo.mono()]
    for score, samples in zip((right, left, mixed), slices, strict=True):
        probs = raw_voice(voice_scorer, samples[start:end].copy())
        expected = sum(p * VOICE_AROUSAL[label] for label, p in probs.items())
        assert score.arousal == pytest.approx(expected, abs=1e-5)
    assert right.arousal != pytest.approx(left.arousal, abs=1e-7)


def test_short_segments_get_no_voice_score(voice_scorer, stereo, monkeypatch):
    def no_call(*args, **kwargs):
        raise AssertionError("the model ran on a too-short segment")

    monkeypatch.setattr(voice_scorer, "pipeline", no_call)
    segments = [
        {"start_s": 1.0, "end_s": 1.2, "channel": 0},
        {"start_s": 2.9, "end_s": 4.0, "channel": 1},  # past the end: 0.1 s left
    ]
    scores = voice_scorer.score(stereo, segments)
    assert [score.arousal for score in scores] == [None, None]
    assert [score.label for score in scores] == [None, None]


def test_voice_label_map_overrides_the_defaults(voice_model, stereo):
    all_frustrated = {label: "frustrated" for label in VOICE_LABELS.values()}
    scorer = TransformersVoiceScorer(voice_model, label_map=all_frustrated)
    plain = TransformersVoiceScorer(voice_model)
    segment = [{"start_s": 0.0, "end_s": 1.0, "channel": 0}]
    (mapped,), (default,) = scorer.score(stereo, segment), plain.score(stereo, segment)
    assert mapped.label == "frustrated" and mapped.confidence == pytest.approx(1.0)
    assert mapped.arousal == pytest.approx(default.arousal)  # arousal keys on model labels


def test_long_segments_are_cut_to_their_middle(voice_scorer, stereo, monkeypatch):
    monkeypatch.setattr(voice_scorer, "max_segment_s", 1.0)
    clip = voice_scorer.clip(stereo, {"start_s": 0.0, "end_s": 3.0, "channel": 0})
    assert clip.shape == (SAMPLE_RATE,)
    np.testing.assert_array_equal(clip, stereo.samples[0][SAMPLE_RATE : 2 * SAMPLE_RATE])


def test_clips_follow_the_models_rate(voice_scorer, stereo, monkeypatch):
    monkeypatch.setattr(voice_scorer, "model_rate", 8000)
    clip = voice_scorer.clip(stereo, {"start_s": 0.0, "end_s": 1.0, "channel": 0})
    assert clip.dtype == np.float32 and clip.shape == (8000,)
    assert resample(np.ones(160, np.float32), 16_000, 16_000).shape == (160,)


@pytest.mark.gpu
def test_models_on_cuda_score_as_on_cpu(text_model, voice_model, text_scorer, voice_scorer, stereo):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    text_cuda = TransformersTextScorer(text_model, device="cuda", batch_size=2)
    voice_cuda = TransformersVoiceScorer(voice_model, device="cuda")
    assert text_cuda.pipeline.model.device.type == "cuda"
    assert voice_cuda.pipeline.model.device.type == "cuda"
    for cpu, gpu in zip(text_scorer.score(TEXTS), text_cuda.score(TEXTS), strict=True):
        assert gpu.label == cpu.label
        assert gpu.valence == pytest.approx(cpu.valence, abs=1e-3)
    segments = [
        {"start_s": 0.0, "end_s": 1.5, "channel": 0},
        {"start_s": 1.0, "end_s": 3.0, "channel": 1},
    ]
    for cpu, gpu in zip(
        voice_scorer.score(stereo, segments), voice_cuda.score(stereo, segments), strict=True
    ):
        assert gpu.label == cpu.label
        assert gpu.arousal == pytest.approx(cpu.arousal, abs=1e-3)
