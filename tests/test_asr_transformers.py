"""The transformers backend's parts: weights converted from the packaged CTranslate2 model,
chunks of several calls decoded in shared batches, and the CUDA path (gpu marker)."""

import threading

import numpy as np
import pytest
from callscope.asr.audio import decode
from callscope.asr.hf_backend import ChunkRequest
from callscope.asr.models import get_model
from callscope.core.config import load_config
from callscope.core.errors import ModelError
from callscope.synth.demoday import CLIPS

from tests.conftest import DATA


def transformers_settings(**asr):
    base = load_config()
    return base.model_copy(
        update={"asr": base.asr.model_copy(update={"backend": "transformers", **asr})}
    )


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def converted(model_cache):
    """The packaged CTranslate2 weights joined and converted into a model cache that starts
    empty (once for the module): the CT2 folder and the transformers folder."""
    from callscope.asr.models import (
        TRANSFORMERS_SUFFIX,
        materialise_packaged_whisper,
        resolve_transformers_path,
    )

    ct2 = materialise_packaged_whisper("whisper-base", model_cache)
    assert not (model_cache / f"{ct2.name}{TRANSFORMERS_SUFFIX}").exists()
    return ct2, resolve_transformers_path("pkg:whisper-base", model_cache)


@pytest.fixture(scope="module")
def whisper(model_cache, converted):
    """The module's transformers backend, loaded from that conversion."""
    return get_model(transformers_settings().model_copy(update={"model_cache": model_cache}))


def test_packaged_weights_convert_to_a_complete_transformers_model(model_cache, converted):
    """Every parameter of the transformers model comes from the CTranslate2 file (none left
    at random initialisation), and the key projections' CT2 zeros are really zeros."""
    import torch
    from callscope.core.torch_compat import import_torchaudio

    import_torchaudio()
    from callscope.asr.ct2_weights import hf_state_dict, read_ct2
    from callscope.asr.models import resolve_transformers_path
    from transformers import WhisperForConditionalGeneration

    ct2, folder = converted
    model, info = WhisperForConditionalGeneration.from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True
    )
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"]
    arrays = read_ct2(ct2 / "model.bin")
    fused = arrays["decoder/layer_0/self_attention/linear_0/bias"]
    assert not fused[512:1024].any()  # the key bias slot
    state = hf_state_dict(arrays)
    q = model.model.decoder.layers[0].self_attn.q_proj.weight.detach().numpy()
    assert np.allclose(q, state["model.decoder.layers.0.self_attn.q_proj.weight"])
    assert model.generation_config.alignment_heads
    assert resolve_transformers_path("pkg:whisper-base", model_cache) == folder  # once


def test_a_folder_that_is_no_model_is_refused_with_the_setting(tmp_path):
    from callscope.asr.models import resolve_transformers_path

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"asr\.model"):
        resolve_transformers_path(str(tmp_path / "empty"), tmp_path / "cache")


def test_chunks_of_calls_transcribed_together_share_batches(whisper):
    """Two calls on two threads: their windows are decoded in the same batches, and each
    caller gets its own text back."""
    zh = decode((CLIPS / "zh_billing_call.flac").read_bytes(), "zh").mono()
    en = decode((DATA / "en_mono.wav").read_bytes(), "en").mono()
    requests = {
        "zh": [
            ChunkRequest(zh[: 16000 * 10], 0.0, "zh"),
            ChunkRequest(zh[16000 * 10 :], 10.0, "zh"),
        ],
        "zh2": [ChunkRequest(zh[: 16000 * 10], 0.0, "zh")],
        "en": [ChunkRequest(en, 0.0, "en")],
    }
    queue = whisper.queue
    queue.linger_s = 0.5  # both threads arrive inside the first caller's wait
    before = queue.batches_run
    results, errors = {}, []
    start = threading.Barrier(len(requests))

    def call(name):
        try:
            start.wait()
            results[name] = queue.decode(requests[name])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(name,)) for name in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.linger_s = 0.05
    assert not errors
    assert queue.batches_run - before == 2  # one batch per language, not one per call
    assert "您好" in results["zh"][0].text or "你好" in results["zh"][0].text
    assert results["zh2"][0].text == results["zh"][0].text
    assert "plan" in results["en"][0].text.lower()
    assert results["zh"][1].start >= 10.0


def test_a_failing_batch_fails_every_caller_of_it(whisper):
    with pytest.raises((ValueError, RuntimeError)):
        whisper.queue.decode([ChunkRequest(np.zeros((2, 2), np.float32), 0.0, "zh")])
    en = decode((DATA / "en_mono.wav").read_bytes(), "en").mono()
    ok = whisper.queue.decode([ChunkRequest(en[: 16000 * 3], 0.0, "en")])
    assert ok[0] is not None and ok[0].text  # the queue still works after a failed round


def test_features_are_faster_whispers():
    """The log-mel features of a chunk equal faster-whisper's (its peak sets the floor, zero
    frames pad it to 30 s), which is what the two backends' parity rests on."""
    from callscope.asr.hf_backend import HfWhisper
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    class Config:
        num_mel_bins = 80

    class Model:
        config = Config

    zh = decode((CLIPS / "zh_billing_call.flac").read_bytes(), "zh").mono()
    part = HfWhisper.__new__(HfWhisper)
    part.model, part.device, part._mel_filters = Model, "cpu", None
    import torch

    part._torch = torch
    for clip in (zh[: 16000 * 7 + 123], zh[: 16000 * 30], zh[:800]):
        expected = pad_or_trim(FeatureExtractor(feature_size=80)(clip)[..., :-1])
        assert np.abs(part.log_mel(clip).numpy() - expected).max() < 1e-3


def test_same_weights_same_precision_give_the_same_transcript(whisper):
    """faster-whisper and the transformers backend, both float32 on the packaged weights:
    the same text, log-probabilities and no-speech probabilities, word times within a frame
    or two. A difference in features, prompt, suppression or beam search would show here."""
    from callscope.asr.call import transcribe_call
    from callscope.asr.models import get_batched

    path = CLIPS / "zh_billing_call.flac"
    audio = decode(path.read_bytes(), path.name)
    fw_settings = load_config()
    fw_settings = fw_settings.model_copy(
        update={"asr": fw_settings.asr.model_copy(update={"compute_type": "float32"})}
    )
    fw = transcribe_call(
        get_model(fw_settings), audio, "mono", fw_settings.asr, get_batched(fw_settings)
    ).segments
    tr = transcribe_call(whisper, audio, "mono", transformers_settings().asr).segments
    assert [s["text"] for s in tr] == [s["text"] for s in fw]
    for a, b in zip(fw, tr, strict=True):
        assert abs(a["avg_logprob"] - b["avg_logprob"]) < 1e-3
        assert abs(a["no_speech_prob"] - b["no_speech_prob"]) < 1e-3
    fw_words = [w for s in fw for w in s["words"]]
    tr_words = [w for s in tr for w in s["words"]]
    assert [w["word"] for w in tr_words] == [w["word"] for w in fw_words]
    close = [
        abs(a["start"] - b["start"]) <= 0.04 and abs(a["end"] - b["end"]) <= 0.04
        for a, b in zip(fw_words, tr_words, strict=True)
    ]
    assert sum(close) >= 0.9 * len(close)
    assert all(abs(a["prob"] - b["prob"]) < 0.01 for a, b in zip(fw_words, tr_words, strict=True))


def test_language_detection_keeps_to_the_allowed_languages(whisper):
    en = decode((DATA / "en_mono.wav").read_bytes(), "en").mono()
    language, prob, ranked = whisper.detect_language(en, 1)
    assert language == "en" and prob > 0.5
    assert abs(sum(p for _, p in ranked) - 1.0) < 1e-3


@pytest.mark.gpu
def test_transformers_backend_on_cuda_transcribes_mandarin(zh_clip):
    """The CUDA path: float16, SDPA attention, the same text as on CPU."""
    import torch
    from callscope.asr.call import transcribe_call
    from callscope.asr.scoring import edit_distance, zh_chars

    from tests.conftest import ZH_REFERENCE

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    settings = transformers_settings(device="cuda")
    model = get_model(settings)
    assert str(model.whisper.device).startswith("cuda")
    assert model.whisper.dtype == torch.float16
    audio = decode(zh_clip.read_bytes(), zh_clip.name)
    result = transcribe_call(model, audio, "mono", settings.asr)
    text = "".join(seg["text"] for seg in result.segments)
    ref = zh_chars(ZH_REFERENCE)
    assert edit_distance(ref, zh_chars(text)) / len(ref) <= 0.15, text
