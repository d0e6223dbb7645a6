"""Evaluation helpers: CER for Chinese, WER for English, RTTM references for diarization."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from callscope.asr.text import to_simplified

_KEEP_ZH = re.compile(r"[\u4e00-\u9fff0-9a-z]")
_DIGITS = re.compile(r"\d+")


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, ref_token in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_token in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_token != hyp_token),
            )
        previous = current
    return previous[-1]


_SPOKEN_DIGITS = str.maketrans("0123456789幺", "零一二三四五六七八九一")


def zh_chars(text: str) -> list[str]:
    """Characters that count for CER: Simplified Hanzi, digits and Latin letters. Digits are
    compared as spoken digit by digit (Whisper writes '135' where 一三五 or 幺三五 was said)."""
    return _KEEP_ZH.findall(to_simplified(text).lower().translate(_SPOKEN_DIGITS))


@lru_cache(maxsize=1)
def _english_normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def en_words(text: str) -> list[str]:
    """Words that count for WER: Whisper's English normaliser, digit runs split into digits
    (so '370318' and '3 7 0 3 1 8' score the same)."""
    normalised = _english_normalizer()(text)
    normalised = _DIGITS.sub(lambda match: " ".join(match.group()), normalised)
    return normalised.split()


def error_rate(pairs: list[tuple[list[str], list[str]]]) -> float:
    """Corpus error rate: total edits over total reference tokens."""
    edits = sum(edit_distance(ref, hyp) for ref, hyp in pairs)
    total = sum(len(ref) for ref, _ in pairs)
    return edits / total if total else 0.0


def read_rttm(path: Path):
    """A reference diarization (RTTM file) as a pyannote Annotation."""
    from pyannote.core import Annotation, Segment

    reference = Annotation(uri=path.stem)
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "SPEAKER":
            start, duration = float(parts[3]), float(parts[4])
            reference[Segment(start, start + duration)] = parts[7]
    return reference


def to_annotation(diarization, uri: str = "call"):
    """Our speaker turns as a pyannote Annotation (overlapping turns kept)."""
    from pyannote.core import Annotation, Segment

    hypothesis = Annotation(uri=uri)
    for i, turn in enumerate(diarization.turns):
        hypothesis[Segment(turn.start, turn.end), i] = turn.speaker
    return hypothesis
