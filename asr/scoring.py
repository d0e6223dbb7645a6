"""Error rates for evaluating transcripts: CER for Chinese, WER for English."""

from __future__ import annotations

import re
from functools import lru_cache

from asr.text import to_simplified

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


def zh_chars(text: str) -> list[str]:
    """Characters that count for CER: Simplified Hanzi, digits and Latin letters."""
    return _KEEP_ZH.findall(to_simplified(text).lower())


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
