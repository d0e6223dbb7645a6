"""Transcribe one channel of 16 kHz audio with faster-whisper or the transformers backend
(asr/hf_backend.py), with the guards calls need."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from callscope.asr.metrics import count_units, subtract
from callscope.asr.text import collapse_repeats, is_phantom, join_han, to_simplified
from callscope.core.config import AsrSettings
from callscope.core.logs import get_logger
from callscope.core.records import SAMPLE_RATE
from callscope.storage.rows import SegmentRow

logger = get_logger(__name__)

DIGITAL_SILENCE_RMS = 1e-4


@dataclass
class ChannelTranscript:
    language: str | None
    language_prob: float
    segments: list[SegmentRow] = field(default_factory=list)
    speech_s: float = 0.0


def speech_chunks(audio: np.ndarray, asr: AsrSettings) -> list[dict]:
    """Silero VAD speech regions (sample offsets) of one channel."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.size == 0 or float(np.sqrt(np.mean(audio**2))) < DIGITAL_SILENCE_RMS:
        return []
    return get_speech_timestamps(audio, VadOptions(**asr.vad.model_dump()))


def detect_language(model, audio: np.ndarray, chunks: list[dict], asr: AsrSettings):
    """The most likely of the allowed languages, judged on speech only."""
    if len(asr.languages) == 1:
        return asr.languages[0], 1.0
    speech = np.concatenate([audio[chunk["start"] : chunk["end"]] for chunk in chunks])
    speech = speech[: asr.language_detection_segments * 30 * SAMPLE_RATE]
    _, _, all_probs = model.detect_language(
        audio=speech, language_detection_segments=asr.language_detection_segments
    )
    allowed = {lang: prob for lang, prob in all_probs if lang in asr.languages}
    language = max(allowed, key=allowed.get) if allowed else asr.languages[0]
    total = sum(allowed.values()) or 1.0
    return language, allowed.get(language, 0.0) / total


HOTWORD_TOKENS = 448 // 2 - 1  # what faster-whisper (and the transformers backend) keep of them


def hotwords_read(tokenizer, hotwords: str) -> str | None:
    """What the recogniser reads of `hotwords` when it cuts them (its prompt holds 223 tokens
    of them); None when it reads them all. `tokenizer`: the model's tokenizers.Tokenizer."""
    ids = tokenizer.encode(" " + hotwords.strip(), add_special_tokens=False).ids
    if len(ids) <= HOTWORD_TOKENS:
        return None
    return tokenizer.decode(ids[:HOTWORD_TOKENS]).strip()


_cut_warned: set[tuple[str, str]] = set()


def _warn_if_cut(model, language: str, hotwords: str | None) -> None:
    """Once per process and hotwords: say that the recogniser drops their end (a long
    asr.hotwords list, or many catalogue names active that day, which come first)."""
    inner = getattr(model, "whisper", model)  # the transformers backend wraps its model
    tokenizer = getattr(model, "hf_tokenizer", None) or getattr(inner, "tokenizer", None)
    if not hotwords or tokenizer is None or (language, hotwords) in _cut_warned:
        return
    _cut_warned.add((language, hotwords))
    read = hotwords_read(tokenizer, hotwords)
    if read is not None:
        words = hotwords.split()
        kept = len(read.split()) - (not read.endswith(tuple(words)))  # a word cut is not read
        logger.warning(
            "hotwords for %s are longer than the recogniser reads (%d tokens): it ignores the "
            "last %d words, from %s on; shorten asr.hotwords.%s or the catalogue's names "
            "active that day",
            language,
            HOTWORD_TOKENS,
            len(words) - kept,
            words[kept],
            language,
        )


def transcribe_channel(
    model, audio: np.ndarray, asr: AsrSettings, batched=None
) -> ChannelTranscript:
    """Segments of one channel: VAD, language among the allowed ones, guarded decoding."""
    chunks = speech_chunks(audio, asr)
    if not chunks:
        return ChannelTranscript(language=None, language_prob=0.0)
    language, language_prob = detect_language(model, audio, chunks, asr)
    prompt = asr.initial_prompts.get(language)
    _warn_if_cut(model, language, asr.hotwords.get(language))
    options = dict(
        language=language,
        beam_size=asr.beam_size,
        initial_prompt=prompt,
        hotwords=asr.hotwords.get(language) or None,
        condition_on_previous_text=False,
        word_timestamps=asr.word_timestamps,
        vad_filter=True,
        vad_parameters=asr.vad.model_dump(),
        no_speech_threshold=asr.no_speech_threshold,
        log_prob_threshold=asr.log_prob_threshold,
        compression_ratio_threshold=asr.compression_ratio_threshold,
    )
    if getattr(model, "backend", None) == "transformers":
        hotwords = options["hotwords"]
        raw_segments = model.transcribe_speech(audio, chunks, language, prompt, hotwords)
        raw_segments = _with_dropped_speech(
            lambda spans: model.transcribe_spans(audio, spans, language, prompt, hotwords),
            chunks,
            raw_segments,
            language,
        )
    elif batched is not None:
        raw_segments, _ = batched.transcribe(audio, batch_size=asr.batch_size, **options)
        raw_segments = _with_dropped_speech(
            lambda spans: _decode_spans(model, audio, spans, options),
            chunks,
            list(raw_segments),
            language,
        )
    else:
        raw_segments, _ = model.transcribe(audio, **options)
    segments = [
        piece
        for raw in raw_segments
        if (seg := _clean(raw, language, prompt, asr)) is not None
        for piece in split_sentences(seg)
    ]
    speech_s = sum(chunk["end"] - chunk["start"] for chunk in chunks) / SAMPLE_RATE
    return ChannelTranscript(language, language_prob, segments, speech_s)


MISSED_SPEECH_S = 2.0
MAX_UNITS_PER_S = 10  # Chinese characters or English words a second; fast Mandarin is ~6


def _with_dropped_speech(redo, chunks: list[dict], raw: list, language: str) -> list:
    """A batched decoder decodes each window of up to 30 s once; a small model may stop after
    its first sentence and leave the rest of the window out without a word (a tenth of a call
    lost now and then). Speech that no segment covers is decoded again by `redo(spans)`."""
    missed = uncovered_speech(
        [(float(c["start"]) / SAMPLE_RATE, float(c["end"]) / SAMPLE_RATE) for c in chunks],
        [(seg.start, seg.end) for seg in raw],
    )
    if not missed:
        return raw
    logger.debug("decoding %d stretches of speech the batch left out: %s", len(missed), missed)
    again = [seg for seg in redo(missed) if _speakable(seg, language)]
    return sorted(raw + again, key=lambda seg: seg.start)


def _decode_spans(model, audio: np.ndarray, spans: list[tuple[float, float]], options: dict):
    """faster-whisper's sequential decoder over the given stretches only."""
    clips = [round(t, 3) for span in spans for t in span]
    again, _ = model.transcribe(audio, **(options | {"vad_filter": False}), clip_timestamps=clips)
    return list(again)


def _speakable(seg, language: str) -> bool:
    """Not faster than anyone talks: a loop decoded into the last half second of a clip
    (订费订费订费订 in 0.6 s) is not speech."""
    units = count_units(seg.text, language)
    return units < MAX_UNITS_PER_S or units / max(seg.end - seg.start, 1e-3) <= MAX_UNITS_PER_S


def uncovered_speech(
    speech: list[tuple[float, float]],
    covered: list[tuple[float, float]],
    min_s: float = MISSED_SPEECH_S,
) -> list[tuple[float, float]]:
    """Stretches of at least `min_s` inside `speech` that no interval of `covered` touches."""
    return [(start, end) for start, end in subtract(speech, covered) if end - start >= min_s]


SENTENCE_END = ("。", "！", "？", ".", "!", "?")
LONG_SEGMENT_S = 10.0
PAUSE_S = 1.0


def split_sentences(
    seg: dict, max_s: float = LONG_SEGMENT_S, pause_s: float = PAUSE_S
) -> list[dict]:
    """Split a segment at pauses between words, and a long one also at sentence ends, so
    segments follow the turns of the call and every search hit is short enough to play."""
    words = seg["words"]
    if len(words) < 2:
        return [seg]
    long = seg["end_s"] - seg["start_s"] > max_s
    pieces, current = [], [words[0]]
    for previous, word in zip(words, words[1:], strict=False):
        sentence_end = long and previous["word"].strip().endswith(SENTENCE_END)
        if sentence_end or word["start"] - previous["end"] >= pause_s:
            pieces.append(current)
            current = []
        current.append(word)
    pieces.append(current)
    if len(pieces) == 1:
        return [seg]
    return [
        {
            **seg,
            "start_s": piece[0]["start"],
            "end_s": piece[-1]["end"],
            "text": join_han("".join(word["word"] for word in piece).strip()),
            "words": piece,
        }
        for piece in pieces
    ]


def _clean(raw, language: str, prompt: str | None, asr: AsrSettings) -> dict | None:
    text = raw.text.replace("\ufffd", "").strip()  # a token cut inside a character
    if language == "zh":
        text = to_simplified(text)
    text = collapse_repeats(text)
    if is_phantom(text, asr.hallucination_phrases, prompt):
        logger.debug("dropped phantom segment %.1f-%.1f s: %r", raw.start, raw.end, text)
        return None
    if raw.avg_logprob < asr.drop_below_avg_logprob and raw.no_speech_prob > 0.5:
        logger.debug("dropped unlikely segment %.1f-%.1f s: %r", raw.start, raw.end, text)
        return None
    words = [
        {
            "word": to_simplified(word.word) if language == "zh" else word.word,
            "start": round(word.start, 3),
            "end": round(word.end, 3),
            "prob": round(word.probability, 4),
        }
        for word in raw.words or []
    ]
    return {
        "start_s": round(raw.start, 3),
        "end_s": round(raw.end, 3),
        "text": text,
        "words": words,
        "language": language,
        "avg_logprob": raw.avg_logprob,
        "no_speech_prob": raw.no_speech_prob,
        "compression_ratio": raw.compression_ratio,
    }
