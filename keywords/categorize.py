"""Tag calls with rule categories: the pure core behind the nightly step and re-application.

`categorize_call` takes one call's segments (dicts with idx, start_s, end_s, speaker, text and
optionally words) and returns the hits and the matched categories; `categorize_day` does a
day's tables. Nothing here reads or writes files.
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
from callscope.core.logs import get_logger
from callscope.core.sounds import SoundText
from callscope.core.text import fold, is_han, runs, units
from callscope.keywords.query import SOUNDS
from callscope.keywords.rules import Category, Phrase, Rule, RuleSet

logger = get_logger(__name__)


@dataclass
class Hit:
    category: str
    kind: str  # any | all | near | regex
    term: str
    seg: int  # position in the call's segment list
    start: int  # character offsets in the segment text
    end: int
    match: str = "exact"  # exact | sounds_like (other characters that sound like the term)


ANYWHERE, NEAR, BESIDE = 2, 1, 0  # where a sounds-like occurrence counts
BESIDE_UNITS = 1  # a BESIDE occurrence counts only this close to a near rule's other words


@dataclass(frozen=True)
class _Occurrence:
    seg: int
    start: int
    end: int
    match: str = "exact"
    reach: int = ANYWHERE


@dataclass
class CallCategories:
    categories: list[str] = field(default_factory=list)
    complaint_class: str = "none"
    hits: list[Hit] = field(default_factory=list)


@dataclass
class _Segment:
    row: dict
    folded: str
    _starts: list[int] | None = None
    _sounds: SoundText | None = None

    def sounds(self, confusions: frozenset[str]) -> SoundText:
        if self._sounds is None:
            self._sounds = SoundText(self.folded, confusions)
        return self._sounds

    def unit_at(self, offset: int) -> int:
        if self._starts is None:  # only proximity rules need units
            self._starts = [start for start, _ in units(self.folded)]
        return bisect.bisect_right(self._starts, offset) - 1


def categorize_call(
    segments: list[dict], rules: RuleSet, duration_s: float | None = None
) -> CallCategories:
    segs = [_Segment(row, fold(row["text"] or "")) for row in segments]
    if not segs:
        return CallCategories()
    duration = duration_s or max(seg.row["end_s"] or 0.0 for seg in segs)
    matches = _phrase_matches(segs, rules)
    result = CallCategories()
    for category in rules.categories:
        hits = [
            hit
            for rule in category.rules
            for hit in _rule_hits(category, rule, segs, matches, duration)
        ]
        if hits:
            result.categories.append(category.name)
            result.hits += _dedupe(hits)
    result.complaint_class = _complaint_class(rules.categories, result)
    return result


def _phrase_matches(segs: list[_Segment], rules: RuleSet) -> dict[str, list[_Occurrence]]:
    """phrase -> each occurrence; a whole-call literal test first for exact phrases."""
    whole = "\n".join(seg.folded.replace(" ", "") for seg in segs)
    candidates = _sound_candidates(segs, rules)
    found: dict[str, list[_Occurrence]] = {}
    for text, phrase in rules.phrases.items():
        occurrences = []
        if phrase.key in whole:
            occurrences = [
                _Occurrence(i, *match.span())
                for i, seg in enumerate(segs)
                for match in phrase.pattern.finditer(seg.folded)
            ]
        if text in candidates:
            occurrences += _sound_occurrences(segs, candidates[text], phrase, rules)
        if occurrences:
            found[text] = occurrences
    return found


def _sound_candidates(segs: list[_Segment], rules: RuleSet) -> dict[str, list[int]]:
    """Sounds-like phrase -> the segments that hold every two neighbouring syllables of it,
    read from one map of the call's syllable pairs (most phrases are ruled out here)."""
    starts = rules.by_first_sound
    if not starts:
        return {}
    confusions = rules.sounds.confusion_set
    where: dict[str, set[int]] = defaultdict(set)
    for i, seg in enumerate(segs):
        for pair in seg.sounds(confusions).pair_set:
            where[pair].add(i)
    found: dict[str, list[int]] = {}
    for pair in where.keys() & starts.keys():
        for text in starts[pair]:
            if text not in found:
                found[text] = _segments_holding(rules.phrases[text].sound.pairs, where)
    return {text: held for text, held in found.items() if held}


def _segments_holding(pairs: tuple[frozenset[str], ...], where: dict[str, set[int]]) -> list[int]:
    held: set[int] | None = None
    for allowed in pairs:
        here = set().union(*(where[pair] for pair in allowed if pair in where))
        held = here if held is None else held & here
        if not held:
            return []
    return sorted(held or ())


def _sound_occurrences(
    segs: list[_Segment], held: list[int], phrase: Phrase, rules: RuleSet
) -> list[_Occurrence]:
    """Spans written otherwise that sound like the phrase (its own spelling is found exactly),
    in the segments `held` that hold its syllable pairs.
    Two syllables alone are often another word (发货 / 发火, 抢了 / 钱了): with the guard on, a
    two-syllable look-alike counts in any / all with the term's pinyin, tones and a shared
    character (首发 / 手发, 签收 / 牵收); in a near rule, whose other words are context, with
    its pinyin or its tones (占线 / 战险), or else right beside the other words (一夜失败 for
    预约失败)."""
    confusions = rules.sounds.confusion_set
    guarded = rules.sounds.two_syllable_guard and len(phrase.sound) == 2
    out = []
    for i in held:
        for match in segs[i].sounds(confusions).find(phrase.sound):
            if not match.exact:
                reach = _reach(match) if guarded else ANYWHERE
                out.append(_Occurrence(i, match.start, match.end, "sounds_like", reach))
    return out


def _reach(match) -> int:
    if match.plain and match.tones_agree and match.shared_chars:
        return ANYWHERE
    return NEAR if match.plain or match.tones_agree else BESIDE


def _in_scope(rule: Rule, seg: _Segment, duration: float) -> bool:
    row = seg.row
    if rule.speaker != "any" and row.get("speaker") != rule.speaker:
        return False
    if rule.first_s is not None and (row["start_s"] or 0.0) >= rule.first_s:
        return False
    if rule.last_s is not None and (row["end_s"] or 0.0) <= duration - rule.last_s:
        return False
    return True


def _rule_hits(category: Category, rule: Rule, segs, matches, duration) -> list[Hit]:
    if not _could_match(rule, matches):
        return []
    scope = {i for i, seg in enumerate(segs) if _in_scope(rule, seg, duration)}
    if not scope:
        return []

    def occurrences(text: str, near: bool = False) -> list[_Occurrence]:
        found = matches.get(text)
        if not found:
            return []
        return [occ for occ in found if occ.seg in scope and (near or occ.reach == ANYWHERE)]

    if any(occurrences(text) for text in rule.none):
        return []
    hits: list[Hit] = []
    for kind, texts in (("any", rule.any), ("all", rule.all)):
        for text in texts:
            hits += [
                Hit(category.name, kind, text, occ.seg, occ.start, occ.end, occ.match)
                for occ in occurrences(text)
            ]
    if rule.any and not any(hit.kind == "any" for hit in hits):
        return []
    if any(not occurrences(text) for text in rule.all):
        return []
    for near in rule.near:
        near_hits = _near_hits(category.name, near, segs, occurrences)
        if not near_hits:
            return []
        hits += near_hits
    if rule.regex:
        regex_hits = [
            Hit(category.name, "regex", pattern.pattern, i, *match.span())
            for pattern in rule.compiled_regex
            for i in sorted(scope)
            for match in pattern.finditer(segs[i].folded)
            if match.end() > match.start()
        ]
        if not regex_hits:
            return []
        hits += regex_hits
    return hits if len(hits) >= rule.min_count else []


def _could_match(rule: Rule, matches: dict) -> bool:
    """A cheap test before scoping: the phrases the rule needs were said somewhere."""
    if rule.any and not any(text in matches for text in rule.any):
        return False
    if any(text not in matches for text in rule.all):
        return False
    return all(any(text in matches for text in group) for near in rule.near for group in near.terms)


def _near_hits(name: str, near, segs, occurrences) -> list[Hit]:
    """Spans where a phrase of every group occurs within `near.within` units of the first."""
    groups = [
        [occ for text in group for occ in occurrences(text, near=True)] for group in near.terms
    ]
    hits = []
    for first in groups[0]:
        seg = segs[first.seg]
        span, how = [first.start, first.end], {first.match}
        for others in groups[1:]:
            close = [
                (gap, occ)
                for occ in others
                if occ.seg == first.seg
                and (gap := _gap(seg, span[0], span[1], occ.start, occ.end))
                <= _within(near.within, first, occ)
            ]
            if not close:
                break
            _, best = min(close, key=lambda pair: pair[0])
            span = [min(span[0], best.start), max(span[1], best.end)]
            how.add(best.match)
        else:
            term = " + ".join("|".join(group) for group in near.terms)
            match = "sounds_like" if "sounds_like" in how else "exact"
            hits.append(Hit(name, "near", f"{term} within {near.within}", first.seg, *span, match))
    return hits


def _within(within: int, *occurrences: _Occurrence) -> int:
    if any(occ.reach == BESIDE for occ in occurrences):
        return min(within, BESIDE_UNITS)
    return within


def _gap(seg: _Segment, a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    """Units strictly between two spans of one segment (0 when they touch or overlap)."""
    if b_start >= a_end:
        return max(0, seg.unit_at(b_start) - seg.unit_at(a_end - 1) - 1)
    if a_start >= b_end:
        return max(0, seg.unit_at(a_start) - seg.unit_at(b_end - 1) - 1)
    return 0


def _dedupe(hits: list[Hit]) -> list[Hit]:
    """One hit per place: a match inside a longer match of the same category is dropped
    (乱扣 inside 乱扣费), so hit counts are counts of things said; of equal spans the exact
    match is kept."""
    kept: list[Hit] = []
    order = sorted(hits, key=lambda h: (h.seg, h.start, -(h.end - h.start), h.match != "exact"))
    for hit in order:
        if not any(k.seg == hit.seg and k.start <= hit.start and hit.end <= k.end for k in kept):
            kept.append(hit)
    return kept


def _complaint_class(categories: list[Category], result: CallCategories) -> str:
    return complaint_class_of(Counter(hit.category for hit in result.hits), categories)


def complaint_class_of(hits_per_category: Counter, categories: list[Category]) -> str:
    """The class with the most hits among matched categories (earlier categories win ties)."""
    order = {category.name: i for i, category in enumerate(categories)}
    classes = {category.name: category.complaint_class for category in categories}
    counts: Counter = Counter()
    first: dict[str, int] = {}
    for name, n in hits_per_category.items():
        cls = classes.get(name)
        if cls and n:
            counts[cls] += n
            first[cls] = min(first.get(cls, 1 << 30), order[name])
    if not counts:
        return "none"
    return max(counts, key=lambda cls: (counts[cls], -first[cls]))


def hit_time(row: dict, start: int) -> float:
    """When the character at `start` of a segment is said."""
    return hit_times(row, [start])[0]


def hit_times(row: dict, offsets: list[int]) -> list[float]:
    """When each character offset of a segment is said: from word times when the words line
    up with the text, else by its position in the segment."""
    text = fold(row["text"] or "")
    begin, end = row["start_s"] or 0.0, row["end_s"] or 0.0
    cursor, located = 0, []
    for word in row.get("words") or []:
        token = fold((word.get("word") or "").strip())
        pos = text.find(token, cursor) if token else -1
        if pos < 0 or word.get("start") is None:
            located = []
            break
        located.append((pos, word["start"]))
        cursor = pos + len(token)
    if not located:
        return [begin + (end - begin) * offset / max(len(text), 1) for offset in offsets]
    starts = [pos for pos, _ in located]
    return [float(located[max(bisect.bisect_right(starts, o) - 1, 0)][1]) for o in offsets]


def categorize_day(
    day, segments: pa.Table, calls: pa.Table, rules: RuleSet
) -> tuple[list[dict], dict[str, CallCategories]]:
    """keyword_hits rows and each ok call's categories, from a day's stored tables."""
    by_call: dict[str, list[dict]] = defaultdict(list)
    for row in segments.sort_by([("call_id", "ascending"), ("idx", "ascending")]).to_pylist():
        by_call[row["call_id"]].append(row)
    hit_rows: list[dict] = []
    per_call: dict[str, CallCategories] = {}
    for call in calls.select(["call_id", "status", "duration_s"]).to_pylist():
        if call["status"] != "ok":
            continue
        rows = by_call.get(call["call_id"], [])
        result = categorize_call(rows, rules, call["duration_s"])
        per_call[call["call_id"]] = result
        hit_rows += call_hit_rows(day, call["call_id"], rows, result, rules)
    return hit_rows, per_call


def call_hit_rows(
    day, call_id: str, segments: list[dict], result: CallCategories, rules: RuleSet
) -> list[dict]:
    """keyword_hits rows of one call's result (`segments`: as given to categorize_call)."""
    return [_hit_row(day, call_id, segments[hit.seg], hit, rules) for hit in result.hits]


def _hit_row(day, call_id: str, seg: dict, hit: Hit, rules: RuleSet) -> dict:
    text = seg["text"] or ""
    start_s, end_s = hit_times(seg, [hit.start, hit.end])
    if hit.end >= len(text):
        end_s = seg["end_s"]
    return {
        "call_id": call_id,
        "date": day,
        "category": hit.category,
        "kind": hit.kind,
        "term": hit.term,
        "matched": text[hit.start : hit.end],
        "idx": seg["idx"],
        "speaker": seg["speaker"],
        "start_s": round(start_s, 3),
        "end_s": round(max(end_s or start_s, start_s), 3),
        "char_start": hit.start,
        "char_end": hit.end,
        "match": hit.match,
        "rules_version": rules.version_hash,
    }


def candidate_calls(segments: pa.Table, rules: RuleSet) -> set[str] | None:
    """The calls that can match any category of `rules`: those with a segment holding, as
    written or in any spelling that folds to it (or, for a sounds-like phrase, in characters
    heard as its first two syllables), a phrase one of each rule's conditions needs (RE2 over
    the text column, no per-call Python). None when a rule has only a regex to go by: every
    call may match."""
    import pyarrow.compute as pc

    needles = [_needle(rule, rules) for category in rules.categories for rule in category.rules]
    if any(needle is None for needle in needles) or not segments.num_rows:
        return None if needles else set()
    pattern = "(?i)" + "|".join(f"(?:{needle})" for needle in needles)
    found = pc.match_substring_regex(segments["text"], pattern)
    return set(pc.unique(segments["call_id"].filter(pc.fill_null(found, False))).to_pylist())


def _needle(rule: Rule, rules: RuleSet) -> str | None:
    """RE2 alternation of the raw spellings of the phrases of one condition the rule needs
    (the one with the fewest phrases, written ones before sounds-like ones), or None when the
    rule has no phrase condition."""
    conditions = [rule.any] if rule.any else []
    conditions += [[text] for text in rule.all]
    conditions += [near.terms[0] for near in rule.near]
    if not conditions:
        return None
    chosen = min(
        conditions, key=lambda texts: (any(t.startswith(SOUNDS) for t in texts), len(texts))
    )
    return "|".join(_raw_phrase(text, rules) for text in chosen)


def _raw_phrase(text: str, rules: RuleSet) -> str:
    sound = rules.phrases[text].sound
    if sound is None:
        return _raw_spellings(text.removeprefix(SOUNDS))
    confusions = rules.sounds.confusion_set
    return _SPACES.join(
        _sound_class(wanted, char, confusions)
        for wanted, char in zip(sound.wanted[:2], sound.chars, strict=False)
    )


_SPACES = r"[\s\p{Z}\x{1c}-\x{1f}\x{85}]*"  # what a run of syllables or characters goes on across


@functools.lru_cache(maxsize=1024)
def _sound_class(keys: frozenset[str], written: str, confusions: frozenset[str]) -> str:
    """RE2 class of the raw characters heard as one of `keys` (by their usual reading), and
    of the character as written."""
    by_key = _chars_by_key(confusions)
    chars = {written} | {char for k in keys for char in by_key.get(k, ())}
    unfolded = _unfolded()
    chars |= {raw for char in list(chars) for raw in unfolded.get(char, ())}
    return "[" + "".join(_re2_escape(char) for char in sorted(chars)) + "]"


@functools.lru_cache(maxsize=4)
def _chars_by_key(confusions: frozenset[str]) -> dict[str, set[str]]:
    """Sounds-like key -> the Chinese characters whose usual reading has it."""
    from callscope.core.sounds import key_table

    table = key_table(confusions)
    found: dict[str, set[str]] = defaultdict(set)
    for first, last in _HAN_BLOCKS:
        for code in range(first, last + 1):
            k = table[chr(code)]
            if k.strip():
                found[k].add(chr(code))
    return found


_HAN_BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2EBEF))


def _raw_spellings(text: str) -> str:
    """RE2 for raw text whose folded form holds the phrase's longest run."""
    key = max(runs(fold(text.rstrip("*"))), key=len)
    if not is_han(key[0]):
        return "".join(_raw_class(ch) for ch in key)
    return _SPACES.join(_raw_class(ch) for ch in key)


def _raw_class(char: str) -> str:
    spellings = sorted({char} | _unfolded().get(char, set()))
    escaped = "".join(_re2_escape(ch) for ch in spellings)
    return escaped if len(spellings) == 1 else f"[{escaped}]"


def _re2_escape(char: str) -> str:
    return f"\\x{{{ord(char):x}}}" if not char.isalnum() else char


@functools.cache
def _unfolded() -> dict[str, set[str]]:
    """Folded character -> the characters that fold to it."""
    from callscope.core.text import _fold_table

    found: dict[str, set[str]] = defaultdict(set)
    for code, target in _fold_table().items():
        folded = target.lower()
        if len(folded) == 1:
            found[folded].add(chr(code))
    return found
