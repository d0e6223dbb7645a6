"""Sounds-like keys of Mandarin text: toneless pinyin with the confusions of telephone Mandarin
and southern accents merged, for rules, search and topic names that survive ASR homophones
(首发 heard as 手发, 星河 as 心和, 没人接 as 没认接).

Text is read character by character with each character's usual reading (the first in
pypinyin's dictionary): ASR writes the characters whose usual sound it heard, so that is the
reading to compare. A term, a real word typed by a person, may also be read as a dictionary
word (银行 -> yin hang, while 行 alone is xing): each of its characters matches either reading.
A key is that reading without its tone after the enabled merges:

    zh-z  ch-c  sh-s   retroflex and flat initials (zhi = zi)
    n-l                initial n and l (nan = lan)
    ng-n               -ang/-an, -eng/-en, -ing/-in (xing = xin)
    f-h                f and hu- (fa = hua, fei = hui, feng = hong)
    u-i                ü and i (yu = yi, yue = ye, ju = ji, lü = li)

Offsets are those of the folded text (core/text.py keeps them equal to the stored text's), so a
span found here points at what was written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from callscope.core.text import is_han

CONFUSIONS = ("zh-z", "ch-c", "sh-s", "n-l", "ng-n", "f-h", "u-i")
ALL_CONFUSIONS = frozenset(CONFUSIONS)
SOUNDS_VERSION = "pinyin-2"  # change when keys or the matching of rules by sound change

_H_TO_F = {
    "hua": "fa", "huo": "fo", "hui": "fei", "huan": "fan", "hun": "fen", "huang": "fang",
    "hu": "fu", "hong": "feng",
}  # fmt: skip
_U_TO_I = {"yu": "yi", "yue": "ye", "yuan": "yan", "yun": "yin"}
_U_AFTER = {"u": "i", "ue": "ie", "uan": "ian", "un": "in", "v": "i", "ve": "ie"}


@lru_cache(maxsize=1)
def _dictionaries() -> tuple[dict[int, str], dict[str, list[list[str]]]]:
    from pypinyin.constants import PHRASES_DICT, PINYIN_DICT

    return PINYIN_DICT, PHRASES_DICT


@lru_cache(maxsize=65536)
def _split_tone(marked: str) -> tuple[str, int]:
    from pypinyin.contrib.tone_convert import to_tone3

    toned = to_tone3(marked, neutral_tone_with_five=True)
    if toned[-1:].isdigit():
        return toned[:-1], int(toned[-1])
    return toned, 5


@lru_cache(maxsize=65536)
def _readings(char: str) -> tuple[str, ...]:
    found = _dictionaries()[0].get(ord(char))
    return tuple(found.split(",")) if found else ()


def _word_reading(text: str, i: int) -> str | None:
    """The marked reading a dictionary word around `i` gives a character with several."""
    phrases = _dictionaries()[1]
    for size in (4, 3, 2):
        for start in range(max(0, i - size + 1), i + 1):
            word = text[start : start + size]
            if len(word) == size and word in phrases:
                return phrases[word][i - start][0]
    return None


@lru_cache(maxsize=65536)
def _usual(char: str) -> tuple[str, int] | None:
    readings = _readings(char)
    return _split_tone(readings[0]) if readings else None


@lru_cache(maxsize=65536)
def key(reading: str, confusions: frozenset[str]) -> str:
    """The sounds-like key of one toneless reading under the enabled confusions."""
    s = reading
    for pair in ("zh-z", "ch-c", "sh-s"):
        hard = pair.split("-")[0]
        if pair in confusions and s.startswith(hard):
            s = hard[0] + s[2:]
    if "n-l" in confusions and s.startswith("n") and s != "ng":
        s = "l" + s[1:]
    if "f-h" in confusions:
        s = _H_TO_F.get(s, s)
    if "u-i" in confusions:
        s = _u_to_i(s)
    if "ng-n" in confusions and s.endswith(("ang", "eng", "ing")):
        s = s[:-1]
    return s


def _u_to_i(s: str) -> str:
    if s in _U_TO_I:
        return _U_TO_I[s]
    if s[:1] in "jqx" and s[1:] in _U_AFTER:
        return s[0] + _U_AFTER[s[1:]]
    if s[:1] in "ln" and s[1:] in ("v", "ve"):
        return s[0] + _U_AFTER[s[1:]]
    return s


def confusion_set(names: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(names)
    unknown = chosen - set(CONFUSIONS)
    if unknown:
        raise ValueError(f"unknown sounds-like confusions {sorted(unknown)}; use {CONFUSIONS}")
    return chosen


def sounds_version(confusions: frozenset[str]) -> str:
    """Names the keys an index holds: a change of confusions means a rebuild."""
    digest = hashlib.sha1(",".join(sorted(confusions)).encode()).hexdigest()[:8]
    return f"{SOUNDS_VERSION}/{digest}"


class _KeyTable(dict):
    """char -> its sounds-like key under one set of confusions; " " for whitespace (a run of
    syllables goes on across it) and "" for anything else that ends a run (Latin, digits,
    punctuation, a Chinese character without a known reading)."""

    def __init__(self, confusions: frozenset[str]):
        super().__init__()
        self.confusions = confusions

    def __missing__(self, char: str) -> str:
        usual = _usual(char) if is_han(char) else None
        value = key(usual[0], self.confusions) if usual else " " if char.isspace() else ""
        self[char] = value
        return value


@lru_cache(maxsize=16)
def key_table(confusions: frozenset[str]) -> _KeyTable:
    return _KeyTable(confusions)


class _Spelled(dict):
    """str.translate table: a character with a reading -> " key", whitespace -> nothing, any
    other character -> " |" (the end of a run)."""

    def __init__(self, confusions: frozenset[str]):
        super().__init__()
        self.keys_of = key_table(confusions)

    def __missing__(self, code: int) -> str:
        k = self.keys_of[chr(code)]
        value = "" if k == " " else f" {k}" if k else " |"
        self[code] = value
        return value


@lru_cache(maxsize=16)
def spelled_table(confusions: frozenset[str]) -> _Spelled:
    return _Spelled(confusions)


def key_runs(folded: str, confusions: frozenset[str]) -> list[list[str]]:
    """The keys of each run of neighbouring syllables (at C speed, through str.translate)."""
    spelled = folded.translate(spelled_table(confusions))
    return [keys for run in spelled.split("|") if (keys := run.split())]


@dataclass(frozen=True)
class TermSound:
    chars: str
    options: tuple[tuple[tuple[str, int], ...], ...]  # per character: (key, tone) it may have
    readings: tuple[frozenset[str], ...] = ()  # per character: its toneless readings, unmerged

    def __len__(self) -> int:
        return len(self.chars)

    @cached_property
    def wanted(self) -> tuple[frozenset[str], ...]:
        """Per character: the keys it may be heard as."""
        return tuple(frozenset(k for k, _ in options) for options in self.options)

    @cached_property
    def pairs(self) -> tuple[frozenset[str], ...]:
        """Per two neighbouring characters: the index tokens they may be heard as."""
        wanted = self.wanted
        return tuple(
            frozenset(f"{a}0{b}" for a in first for b in second)
            for first, second in zip(wanted, wanted[1:], strict=False)
        )


def term_sound(term: str, confusions: frozenset[str]) -> TermSound | None:
    """A term's sound; None unless it is Han characters only (spaces allowed)."""
    if not term.strip() or any(not (ch.isspace() or is_han(ch)) for ch in term):
        return None
    chars = "".join(ch for ch in term if not ch.isspace())
    options, readings = [], []
    for i, char in enumerate(chars):
        usual = _usual(char)
        if usual is None:
            return None
        found = [usual]
        marked = _word_reading(chars, i) if len(_readings(char)) > 1 else None
        if marked is not None:
            found.insert(0, _split_tone(marked))
        keyed = [(key(reading, confusions), tone) for reading, tone in found]
        options.append(tuple(dict.fromkeys(keyed)))
        readings.append(frozenset(reading for reading, _ in found))
    return TermSound(chars, tuple(options), tuple(readings))


@dataclass(frozen=True)
class SoundMatch:
    start: int
    end: int
    exact: bool  # the characters written are the term's own
    tones_agree: bool
    shared_chars: int  # characters equal to the term's at the same place
    plain: bool = True  # the same toneless pinyin without any confusion merged


def find_sounds_like(
    term: str | TermSound, folded: str, confusions: frozenset[str]
) -> list[SoundMatch]:
    """Every span of folded text whose keys equal the term's (the term's own spelling too)."""
    sound = term_sound(term, confusions) if isinstance(term, str) else term
    if sound is None:
        return []
    return SoundText(folded, confusions).find(sound)


def index_tokens(folded: str, confusions: frozenset[str]) -> str:
    """Sounds-like index tokens: the keys of each pair of neighbouring syllables, as one
    alphanumeric token (`shou0fa`), so a term of n syllables is a phrase of n - 1 tokens."""
    return " ".join(SoundText(folded, confusions).pairs())


MAX_SPELLINGS = 16


def query_phrases(term: str, confusions: frozenset[str]) -> list[list[str]] | None:
    """The index phrases a term sounds like (one per combination of its characters' readings,
    at most MAX_SPELLINGS); None unless it is two or more Han characters."""
    sound = term_sound(term, confusions)
    if sound is None or len(sound) < 2:
        return None
    spellings: list[list[str]] = [[]]
    for options in sound.options:
        keys = list(dict.fromkeys(k for k, _ in options))
        spellings = [done + [k] for done in spellings for k in keys][:MAX_SPELLINGS]
    return [[f"{a}0{b}" for a, b in zip(keys, keys[1:], strict=False)] for keys in spellings]


def name_key(text: str, confusions: frozenset[str]) -> str:
    """One key for a whole name or term: its syllables' keys, Latin words as written."""
    from callscope.core.text import fold, runs

    parts = []
    for run in runs(fold(text)):
        if is_han(run[0]):
            parts += [k for keys in key_runs(run, confusions) for k in keys]
        else:
            parts.append(run)
    return " ".join(parts)


class SoundText:
    """The sounds of one folded text, read once, for finding many terms in it: each
    syllable's key and offset, and where its run of neighbouring syllables ends."""

    def __init__(self, folded: str, confusions: frozenset[str]):
        self.text = folded
        self.confusions = confusions
        self._built = False

    def _build(self) -> None:
        """Offsets and positions, needed only to find a term (most texts are only tested)."""
        self._built = True
        self.offsets: list[int] = []
        self.keys: list[str] = []
        self.run_end: list[int] = []  # per syllable: the index past the last of its run
        self.by_key: dict[str, list[int]] = {}
        table = key_table(self.confusions)
        for i, char in enumerate(self.text):
            k = table[char]
            if k == " ":
                continue
            if not k:
                self._end_run()
                continue
            self.by_key.setdefault(k, []).append(len(self.keys))
            self.offsets.append(i)
            self.keys.append(k)
        self._end_run()

    def _end_run(self) -> None:
        end = len(self.keys)
        self.run_end += [end] * (end - len(self.run_end))

    def pairs(self) -> list[str]:
        """Index tokens: the keys of each two neighbouring syllables of a run (`shou0fa`)."""
        return [
            f"{a}0{b}"
            for keys in key_runs(self.text, self.confusions)
            for a, b in zip(keys, keys[1:], strict=False)
        ]

    @cached_property
    def pair_set(self) -> frozenset[str]:
        return frozenset(self.pairs())

    def find(self, sound: TermSound) -> list[SoundMatch]:
        """Every span whose keys equal the term's, the term's own spelling too."""
        if not self._built:
            self._build()
        width = len(sound)
        wanted = sound.wanted
        starts = sorted({i for k in wanted[0] for i in self.by_key.get(k, ())})
        out = []
        for i in starts:
            if i + width > self.run_end[i]:
                continue
            if any(self.keys[i + j] not in wanted[j] for j in range(1, width)):
                continue
            out.append(self._match(sound, i, width))
        return out

    def _match(self, sound: TermSound, i: int, width: int) -> SoundMatch:
        chars = [self.text[offset] for offset in self.offsets[i : i + width]]
        heard = [_usual(char) for char in chars]
        shared = sum(a == b for a, b in zip(chars, sound.chars, strict=True))
        tones = all(
            any(k == self.keys[i + j] and t == tone for k, t in sound.options[j])
            for j, (_, tone) in enumerate(heard)
        )
        plain = all(reading in sound.readings[j] for j, (reading, _) in enumerate(heard))
        start, end = self.offsets[i], self.offsets[i + width - 1] + 1
        return SoundMatch(start, end, shared == width, tones, shared, plain)
