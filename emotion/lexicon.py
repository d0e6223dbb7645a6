"""The embedded text sentiment: our own lexicons with negation, intensifiers and contrast.

Chinese: `emotion/data/zh_lexicon.tsv` (written for customer-service talk). Each clause is
scanned left to right, longest entry first. A negator (不, 没有, 不是...) flips and damps the
next sentiment word within a few characters; intensifiers and downtoners scale it; the part
after a contrast word (但是, 可是...) counts more than the part before; `!` strengthens a
clause. So 不满意 is negative, 不是不好 mildly positive, 非常不满意！ strongly negative.
English: VADER (vaderSentiment, MIT) with the cue words of `emotion/data/en_lexicon.tsv`
added. The label comes from the valence and the kind of cue words: anger cues make a negative
segment `angry`, frustration cues (又, 还是没, "again", "third time") make it `frustrated`.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from callscope.core.text import fold, has_han
from callscope.emotion.errors import EmotionError
from callscope.emotion.scores import VALENCE_RANGE, TextScore

DATA = Path(__file__).resolve().parent / "data"
ZH_LEXICON = DATA / "zh_lexicon.tsv"
EN_LEXICON = DATA / "en_lexicon.tsv"
LEXICON_VERSION = "lexicon-1"

SENTIMENT_KINDS = ("pos", "neg", "anger", "frustration", "thanks")
MODIFIER_KINDS = ("negator", "intensifier", "downtoner", "contrast")
KINDS = SENTIMENT_KINDS + MODIFIER_KINDS

_CLAUSE = re.compile(r"[^，。！？；,.!?;~\n…]+[，。！？；,.!?;~\n…]*")
_EXCLAIM = re.compile(r"[!！]")
_SENTENCE = re.compile(r"[^.!?;。！？；]+[.!?;。！？；]*")
_LATIN_WORD = re.compile(r"[a-z']+")

NEGATION_WINDOW = 4  # characters between a negator and the word it turns
COMPOUND_ALPHA = 15.0  # raw / sqrt(raw^2 + alpha): VADER's normalisation
NEUTRAL_BAND = 0.8  # |valence| below this is neutral
CONTRAST_BEFORE = 0.5  # weight of what was said before 但是 / but


class LexiconError(EmotionError):
    """A lexicon file cannot be used."""


@dataclass(frozen=True)
class Entry:
    term: str
    kind: str
    weight: float


@dataclass
class Lexicon:
    entries: dict[str, Entry]
    max_len: int

    def longest(self, text: str, start: int) -> Entry | None:
        for length in range(min(self.max_len, len(text) - start), 0, -1):
            entry = self.entries.get(text[start : start + length])
            if entry and not _inside_number(text, start, start + length):
                return entry
        return None


def _inside_number(text: str, start: int, end: int) -> bool:
    """315 is the consumer-rights day, not part of 3150 or a phone number."""
    if not text[start].isdigit():
        return False
    return (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit())


@lru_cache(maxsize=8)
def load_lexicon(path: Path) -> Lexicon:
    """Read a `term, kind, weight, note` TSV (lines starting with # are comments)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LexiconError(f"{path}: cannot read the lexicon ({exc})") from exc
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    entries: dict[str, Entry] = {}
    for number, row in enumerate(csv.reader(rows[1:], delimiter="\t"), start=2):
        entry = _entry(path, number, row)
        entries[entry.term] = entry
    if not entries:
        raise LexiconError(f"{path}: no entries; restore the file from the release")
    return Lexicon(entries, max(len(term) for term in entries))


def _entry(path: Path, number: int, row: list[str]) -> Entry:
    if len(row) < 3:
        raise LexiconError(f"{path} line {number}: expected term, kind, weight separated by tabs")
    term, kind, weight = fold(row[0].strip()), row[1].strip(), row[2].strip()
    if kind not in KINDS:
        raise LexiconError(f"{path} line {number}: kind {kind!r} is not one of {', '.join(KINDS)}")
    try:
        return Entry(term, kind, float(weight))
    except ValueError:
        raise LexiconError(f"{path} line {number}: weight {weight!r} is not a number") from None


@dataclass
class _Scan:
    raw: float = 0.0
    boost: float = 1.0  # after a contrast word, the rest of the text counts more
    cues: list[Entry] = field(default_factory=list)


def _score_clause(clause: str, lexicon: Lexicon, scan: _Scan) -> None:
    """Every entry not inside a longer one counts, so 一直没信号 is both 一直没 and 没信号."""
    clause_raw = 0.0
    negation, negation_at, scale = 1.0, -99, 1.0
    covered = 0  # end of the last entry taken
    for position in range(len(clause)):
        entry = lexicon.longest(clause, position)
        if entry is None or position + len(entry.term) <= covered:
            continue
        covered = position + len(entry.term)
        if entry.kind == "negator":
            negation, negation_at = negation * entry.weight, covered
        elif entry.kind in ("intensifier", "downtoner"):
            scale *= entry.weight
        elif entry.kind == "contrast":
            scan.raw *= CONTRAST_BEFORE
            clause_raw *= CONTRAST_BEFORE
            scan.boost = entry.weight
        elif entry.weight:  # weight 0: a mask (您好, 不断) that keeps its characters quiet
            turned = negation if position - negation_at <= NEGATION_WINDOW else 1.0
            clause_raw += entry.weight * scale * turned * scan.boost
            scan.cues.append(entry if turned > 0 else Entry(entry.term, "neg", -entry.weight))
            negation, negation_at, scale = 1.0, -99, 1.0
    exclamations = len(_EXCLAIM.findall(clause))
    scan.raw += clause_raw * (1 + 0.2 * min(exclamations, 3))


def _score_chinese(folded: str, lexicon: Lexicon) -> tuple[float, list[Entry]]:
    scan = _Scan()
    for clause in _CLAUSE.findall(folded):
        _score_clause(clause, lexicon, scan)
    return scan.raw, scan.cues


def to_valence(raw: float) -> float:
    return VALENCE_RANGE * raw / math.sqrt(raw * raw + COMPOUND_ALPHA)


def _from_compound(compound: float) -> float:
    """Invert VADER's normalisation, so that sentences add up like lexicon hits."""
    compound = max(-0.999, min(0.999, compound))
    return compound * math.sqrt(COMPOUND_ALPHA / (1 - compound * compound))


def _sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE.findall(text) if part.strip()]


def label_of(valence: float, cues: list[Entry]) -> tuple[str, float]:
    """The emotion label and its confidence from the valence and the cue words."""
    strength = min(1.0, abs(valence) / VALENCE_RANGE * 2)
    if valence > -NEUTRAL_BAND and valence < NEUTRAL_BAND:
        return "neutral", round(1.0 - abs(valence) / NEUTRAL_BAND * 0.5, 3)
    if valence > 0:
        return "positive", round(0.5 + 0.5 * strength, 3)
    anger = sum(-cue.weight for cue in cues if cue.kind == "anger")
    frustration = sum(-cue.weight for cue in cues if cue.kind == "frustration")
    label = "negative"
    if anger >= 2.0:
        label = "angry"
    elif frustration >= 1.0:
        label = "frustrated"
    return label, round(0.5 + 0.5 * strength, 3)


class LexiconScorer:
    """Text sentiment with no model: Chinese lexicon, English VADER."""

    def __init__(self, zh_path: Path = ZH_LEXICON, en_path: Path = EN_LEXICON):
        self.zh = load_lexicon(zh_path)
        self.en = load_lexicon(en_path)
        digest = hashlib.sha256(Path(zh_path).read_bytes() + Path(en_path).read_bytes())
        self.version = f"{LEXICON_VERSION}:{digest.hexdigest()[:10]}"
        self._vader = None

    def score(self, texts: list[str]) -> list[TextScore]:
        return [self.score_one(text) for text in texts]

    def score_one(self, text: str) -> TextScore:
        folded = fold(text or "").strip()
        if not folded:
            return TextScore(0.0, "neutral", 0.0)
        if has_han(folded):
            raw, cues = _score_chinese(folded, self.zh)
            valence = to_valence(raw)
        else:
            valence, cues = self._score_english(folded)
        label, confidence = label_of(valence, cues)
        return TextScore(round(valence, 3), label, confidence, tuple(cue.term for cue in cues))

    def _score_english(self, folded: str) -> tuple[float, list[Entry]]:
        # VADER per sentence: its negation looks three words back, across full stops too.
        raw = sum(
            _from_compound(self.vader.polarity_scores(s)["compound"]) for s in _sentences(folded)
        )
        padded = f" {' '.join(_LATIN_WORD.findall(folded))} "
        cues = [entry for term, entry in self.en.entries.items() if f" {term} " in padded]
        raw += sum(cue.weight for cue in cues if " " in cue.term)  # phrases VADER cannot see
        return to_valence(raw), cues

    @property
    def vader(self):
        if self._vader is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._vader = SentimentIntensityAnalyzer()
            self._vader.lexicon.update(
                {
                    term: entry.weight
                    for term, entry in self.en.entries.items()
                    if " " not in term and entry.kind in SENTIMENT_KINDS
                }
            )
        return self._vader


@lru_cache(maxsize=1)
def get_lexicon_scorer() -> LexiconScorer:
    return LexiconScorer()
