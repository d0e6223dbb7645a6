"""Transcript text clean-up: Simplified Chinese, and the hallucination guards."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Phrases Whisper invents over silence, music or noise (from subtitle-heavy training data).
PHANTOM_PHRASES = (
    "谢谢观看",
    "谢谢大家观看",
    "感谢观看",
    "请不吝点赞",
    "订阅",
    "字幕由",
    "字幕提供",
    "字幕志愿者",
    "中文字幕",
    "明镜与点点栏目",
    "优优独播剧场",
    "thank you for watching",
    "thanks for watching",
    "please subscribe",
    "subtitles by",
    "amara.org",
)
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC

    return OpenCC("t2s")


_FULL_WIDTH = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；"})
_SPACE_BETWEEN_CJK = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_HALF_AFTER_CJK = re.compile(r"(?<=[\u4e00-\u9fff])([,?!:;])|([,?!:;])(?=[\u4e00-\u9fff])")


def to_simplified(text: str) -> str:
    """Simplified characters and full-width punctuation next to Chinese characters."""
    if not _CJK.search(text):
        return text
    text = _SPACE_BETWEEN_CJK.sub("", _t2s().convert(text))
    return _HALF_AFTER_CJK.sub(lambda m: m.group().translate(_FULL_WIDTH), text)


def join_han(text: str) -> str:
    """Drop spaces between Chinese characters (hotword decoding writes 扣费 明细)."""
    return _SPACE_BETWEEN_CJK.sub("", text)


def bare(text: str) -> str:
    """Lower-case text with punctuation and spaces removed, for comparisons."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text)).lower()


def is_phantom(text: str, extra_phrases: list[str] = (), prompt: str | None = None) -> bool:
    """True when a segment is a known hallucination or an echo of the initial prompt."""
    core = bare(text)
    if not core:
        return True
    if prompt and (bare(prompt) in core or (len(core) >= 6 and core in bare(prompt))):
        return True
    if prompt and _shares_a_phrase(core, bare(prompt), PROMPT_ECHO_CHARS):
        return True  # half a prompt after a hallucination: 作词作曲，使用简体中文并带标点
    return any(bare(phrase) in core for phrase in (*PHANTOM_PHRASES, *extra_phrases))


PROMPT_ECHO_CHARS = 8  # this many characters of the initial prompt in a row are its echo


def _shares_a_phrase(text: str, prompt: str, size: int) -> bool:
    return any(prompt[i : i + size] in text for i in range(len(prompt) - size + 1))


def collapse_repeats(text: str, max_repeats: int = 3) -> str:
    """Cut runaway loops such as '好的好的好的好的好的...' down to `max_repeats` copies."""
    pattern = re.compile(rf"(.{{1,12}}?)\1{{{max_repeats},}}", re.DOTALL)
    return pattern.sub(lambda match: match.group(1) * max_repeats, text)
