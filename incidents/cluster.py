"""Group a day's issue statements into clusters, name them and pick examples.

Clustering works on unit sentence embeddings (incidents/embed.py):
- up to `direct_max` statements: average-linkage agglomerative clustering on cosine distance,
  cut where the mean similarity between two groups drops below `merge_similarity`;
- above that (50,000 calls a night): mini-batch k-means into many small cells first, then the
  same agglomerative cut over the cell centroids.
Clusters smaller than `min_cluster_size` become noise (label -1); a noise statement that is
close enough to a cluster's centroid (`assign_similarity`) joins it.

Names come from class-based TF-IDF (c-TF-IDF) over the statements cut into jieba's dictionary
words: the words, the spans of whole words (2-4 characters) and the English words that are
frequent inside a cluster and rare in the others. Spellings that sound the same (星河九号,
星和九号, 心和九号: core/sounds.py) count as one term. A term is shown only under a name: the
rules' spelling, else the day's most frequent spelling that is a dictionary word of content
(or a compound name of the day, 星河九号), else the dictionary word one character away that
sounds the same (营业听 -> 营业厅); a term with no name is left out, and so are fragments and
function words (不到, 结果). The other spellings heard are kept as its variants.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from callscope.core.config import IncidentSettings
from callscope.core.logs import get_logger
from callscope.core.sounds import ALL_CONFUSIONS, name_key
from callscope.core.text import HAN, fold, is_han, runs
from callscope.incidents.vectors import nearest, unit_rows

logger = get_logger(__name__)

_STOP_WORDS = {
    "the", "a", "an", "to", "and", "or", "of", "in", "on", "for", "is", "it", "my", "i", "me",
    "you", "your", "we", "was", "be", "have", "has", "had", "this", "that", "with", "but", "not",
    "can", "cannot", "could", "would", "please", "hello", "hi", "just", "do", "did", "are", "am", "so",
}  # fmt: skip
_STOP_HAN = set("的了吗呢啊吧呀哦嘛我你您他她它们这那个就是也都还在有和么一下")
_PLACEHOLDER = re.compile(r"\[(?:phone|id_number|bank_card|email|address)\]")
_HAN_DIGIT = re.compile(rf"(?<=[{HAN}])\d(?=[{HAN}])")
_NUMERALS = "零一二三四五六七八九"


@dataclass(frozen=True)
class Naming:
    """How topic names merge spellings: the confusions that sound alike (keywords.sounds_like)
    and the spellings to prefer (the rules' phrases)."""

    confusions: frozenset[str] = ALL_CONFUSIONS
    spellings: frozenset[str] = frozenset()


_CONFIG = IncidentSettings()  # the defaults of incidents.* (core/config.py)


@dataclass(frozen=True)
class ClusterSettings:
    merge_similarity: float = _CONFIG.merge_similarity
    min_cluster_size: int = _CONFIG.min_cluster_size
    assign_similarity: float = _CONFIG.assign_similarity
    direct_max: int = 3000
    max_cells: int = 256
    n_terms: int = 4
    seed: int = 0
    naming: Naming = Naming()


@dataclass
class Cluster:
    label: int
    members: np.ndarray  # row indices into the day's statements
    centroid: np.ndarray  # unit vector
    similarity: np.ndarray  # each member's cosine to the centroid
    terms: list[str] = field(default_factory=list)
    variants: dict[str, list[str]] = field(default_factory=dict)  # term -> other spellings heard

    @property
    def size(self) -> int:
        return len(self.members)


def _agglomerate(x: np.ndarray, merge_similarity: float) -> np.ndarray:
    """Average-linkage labels 0..k-1 over the rows of `x` (unit vectors)."""
    if len(x) == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(x.astype(np.float64), method="average", metric="cosine")
    return fcluster(tree, t=1.0 - merge_similarity, criterion="distance") - 1


def _cells(x: np.ndarray, settings: ClusterSettings) -> tuple[np.ndarray, np.ndarray]:
    """Mini-batch k-means cells: (cell per row, cell centroids)."""
    from sklearn.cluster import MiniBatchKMeans

    k = min(settings.max_cells, max(2, len(x) // 50))
    kmeans = MiniBatchKMeans(
        n_clusters=k, random_state=settings.seed, batch_size=4096, n_init=1, max_no_improvement=10
    )
    cells = kmeans.fit_predict(x)
    return cells, unit_rows(kmeans.cluster_centers_.astype(np.float32))


def cluster_labels(x: np.ndarray, settings: ClusterSettings = ClusterSettings()) -> np.ndarray:
    """A label per row (-1: noise), clusters numbered by size, largest first."""
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n <= settings.direct_max:
        raw = _agglomerate(x, settings.merge_similarity)
    else:
        cells, centres = _cells(x, settings)
        used = np.unique(cells)
        cell_labels = _agglomerate(centres[used], settings.merge_similarity)
        lookup = np.full(len(centres), -1)
        lookup[used] = cell_labels
        raw = lookup[cells]
    labels = _drop_small(raw, settings.min_cluster_size)
    return _rescue_noise(x, labels, settings.assign_similarity)


def _drop_small(raw: np.ndarray, min_size: int) -> np.ndarray:
    counts = Counter(raw.tolist())
    keep = sorted((c for c, k in counts.items() if k >= min_size), key=lambda c: (-counts[c], c))
    rank = {c: i for i, c in enumerate(keep)}
    return np.array([rank.get(c, -1) for c in raw.tolist()], dtype=int)


def _centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[labels >= 0], x[labels >= 0])
    return unit_rows(sums)


def _rescue_noise(x: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    k = int(labels.max()) + 1 if len(labels) else 0
    noise = np.flatnonzero(labels < 0)
    if k == 0 or len(noise) == 0:
        return labels
    best, _ = nearest(x[noise], _centroids(x, labels, k), threshold)
    out = labels.copy()
    out[noise] = best
    return out


def build_clusters(
    texts: list[str],
    x: np.ndarray,
    settings: ClusterSettings = ClusterSettings(),
    vocabulary: Vocabulary | None = None,
    memo: dict | None = None,
) -> tuple[np.ndarray, list[Cluster]]:
    """Labels per statement and the clusters with centroids, member similarity and terms
    (`vocabulary`: the day's, when the caller has read it already; `memo`: each statement's
    terms, kept for the day's other namings, see distinctive_terms)."""
    labels = cluster_labels(x, settings)
    k = int(labels.max()) + 1 if len(labels) else 0
    centroids = _centroids(x, labels, k)
    clusters = []
    for label in range(k):
        members = np.flatnonzero(labels == label)
        clusters.append(
            Cluster(
                label, members, centroids[label].astype(np.float32), x[members] @ centroids[label]
            )
        )
    names = distinctive_terms(texts, labels, settings, vocabulary, memo)
    for cluster in clusters:
        cluster.terms, cluster.variants = names.get(cluster.label, ([], {}))
    logger.info(
        "%d statements -> %d clusters (%d in clusters, %d noise)",
        len(texts),
        k,
        int((labels >= 0).sum()),
        int((labels < 0).sum()),
    )
    return labels, clusters


# naming -------------------------------------------------------------------------------------
_STOP_ZH = frozenset(
    "不到 结果 一直 就是 这个 那个 然后 我们 你们 他们 已经 还是 可以 没有 不是 还有 知道 觉得 需要"
    " 可能 不能 应该 希望 现在 时候 事情 东西 什么 怎么 怎么回事 为什么 一下 不了 不好 不对 不上 一直没"
    " 一直没有 还是没 还没有 好几次 几次 几次了 多次 一次 问一下 请问 谢谢 您好 你好 麻烦 帮忙".split()
)  # fragments and function words that say nothing of a topic
_CONTENT_TAGS = ("n", "v", "a", "l", "i", "j", "eng")  # jieba POS: nouns, verbs, names, idioms
_NO_NAME_TAGS = ("m", "t", "r", "c", "p", "u", "y", "e", "o", "q", "f")  # never a term alone
_FUNCTION_TAGS = ("r", "c", "p", "u", "y", "e", "o", "d")  # pronouns, particles, adverbs...
_LATIN_WORD = re.compile(r"[a-z]+")
_COHESION = 0.8  # a compound name: its first word is followed by the second this often


def terms_of(text: str) -> set[str]:
    """A statement's candidate spellings, once each: its dictionary words (jieba, no guessed
    words) of two or more characters, the spans of 2-4 characters made of two or more whole
    words (星河九号, or a misheard word cut into pieces: 营业听 of 营业|听), and its English
    words. Nothing starts or ends inside a word; whether a spelling may name a topic is
    decided when the topic is named."""
    out: set[str] = set()
    for run in runs(_naming_text(text)):
        if is_han(run[0]):
            out.update(_han_candidates(run))
        elif len(run) > 2 and run not in _STOP_WORDS and _LATIN_WORD.fullmatch(run):
            out.add(run)
    return out


def _han_candidates(run: str) -> list[str]:
    words = segment(run)
    out = [w for w in words if len(w) > 1]
    for i in range(len(words)):
        span = words[i]
        for j in range(i + 1, len(words)):
            span += words[j]
            if len(span) > 4:
                break
            if not _all_stop(span):
                out.append(span)
    return out


def segment(run: str) -> list[str]:
    """A run of Han characters cut into jieba's dictionary words (HMM off: characters of no
    known word stay single)."""
    return list(_segmented(run))


@lru_cache(maxsize=200_000)
def _segmented(run: str) -> tuple[str, ...]:
    # a day's statements repeat their phrases: each run is cut once, for naming and vocabulary
    return tuple(_segmenter().lcut(run, HMM=False))


def _naming_text(text: str) -> str:
    """Folded text as names are read from it: placeholders out, and a digit inside Chinese
    written as the numeral (the recogniser writes 星河9号 as often as 星河九号)."""
    folded = fold(_PLACEHOLDER.sub(" ", text))
    return _HAN_DIGIT.sub(lambda m: _NUMERALS[int(m.group())], folded)


def _all_stop(gram: str) -> bool:
    return gram[0] in _STOP_HAN or gram[-1] in _STOP_HAN


def _tag(word: str) -> str:
    return _tags().get(word, "x")


def is_word(term: str) -> bool:
    """A term a title may show as it is: a dictionary word of content (noun, verb, adjective,
    name, idiom) that is no fragment or function word, or an English word of letters."""
    if not is_han(term[0]):
        return len(term) > 2 and term not in _STOP_WORDS and bool(_LATIN_WORD.fullmatch(term))
    return (
        len(term) > 1
        and term not in _STOP_ZH
        and _segmenter().FREQ.get(term, 0) > 0
        and _tag(term).startswith(_CONTENT_TAGS)
    )


def _good_spelling(term: str) -> bool:
    """A rule's phrase or catalogue name that may name a topic: not a fragment or function
    word, and, when it is several words (星河九号), neither starting nor ending on a function
    word (一直没有, 上不了 are left out)."""
    if len(term) < 2 or term in _STOP_ZH or not is_han(term[0]):
        return False
    words = segment(term)
    if len(words) == 1:
        return not _tag(term).startswith(_NO_NAME_TAGS)
    return not any(
        w in _STOP_ZH or (len(w) == 1 and w in _STOP_HAN) or _tag(w).startswith(_FUNCTION_TAGS)
        for w in (words[0], words[-1])
    )


@dataclass(frozen=True)
class Vocabulary:
    """What the day's text says beyond the dictionary: its compound names, two whole words
    said as one (星河九号: 星河 is followed by 九号 in at least 80% of the places said, in two
    or more statements). Read once a day: every category's names are weighed against it."""

    compounds: frozenset[str]


def day_vocabulary(texts: list[str], settings: ClusterSettings = ClusterSettings()) -> Vocabulary:
    return Vocabulary(frozenset(_compounds(texts)))


def _compounds(texts: list[str], sample: int = 5000) -> set[str]:
    step = max(1, len(texts) // sample)
    said: Counter = Counter()
    pairs: Counter = Counter()
    for text in texts[::step]:
        for run in runs(_naming_text(text)):
            if is_han(run[0]):
                words = segment(run)
                said.update(words)
                pairs.update(
                    (a, b)
                    for a, b in zip(words, words[1:], strict=False)
                    if _name_part(a, "n") and _name_part(b, ("n", "m"))
                )
    return {a + b for (a, b), n in pairs.items() if n >= 2 and n >= _COHESION * said[a]}


def _name_part(word: str, tags) -> bool:
    return (
        len(word) > 1
        and word not in _STOP_ZH
        and _segmenter().FREQ.get(word, 0) > 0
        and _tag(word).startswith(tags)
    )


def distinctive_terms(
    texts: list[str],
    labels: np.ndarray,
    settings: ClusterSettings = ClusterSettings(),
    vocabulary: Vocabulary | None = None,
    memo: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None,
) -> dict[int, tuple[list[str], dict[str, list[str]]]]:
    """c-TF-IDF: per cluster label, the `n_terms` most distinctive terms that have a name
    (spellings that sound alike counted as one), and the other spellings heard of each. A
    name is a dictionary word, a rule's spelling or a compound name of the day, never a span
    that starts or ends inside a word (see _Sounds.name_of). `vocabulary`: the day's
    (day_vocabulary); by default read from `texts`. `memo`: each statement's terms kept
    between calls over the same day's statements with the same settings."""
    vocabulary = vocabulary or day_vocabulary(texts, settings)
    sounds = _Sounds(settings, vocabulary)
    per_cluster: dict[int, Counter] = {}
    heard: dict[int, Counter] = {}
    sizes: Counter = Counter()
    overall: Counter = Counter()
    said: Counter = Counter()
    for text, label in zip(texts, labels.tolist(), strict=True):
        spelled, keys = _statement_terms(text, sounds, memo)
        overall.update(keys)
        said.update(spelled)
        if label >= 0:
            per_cluster.setdefault(label, Counter()).update(keys)
            heard.setdefault(label, Counter()).update(spelled)
            sizes[label] += 1
    sounds.count(said)
    out = {}
    for label, counts in per_cluster.items():
        named = {key for key in counts if sounds.name_of(key) is not None}
        keys = _pick_terms(counts, sizes[label], overall, len(texts), settings.n_terms, named)
        names = [sounds.name(k, heard[label]) for k in keys]
        out[label] = ([name for name, _ in names], {name: rest for name, rest in names if rest})
    return out


def _statement_terms(
    text: str, sounds: _Sounds, memo: dict | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A statement's candidate spellings and their sound keys."""
    found = memo.get(text) if memo is not None else None
    if found is None:
        spelled = tuple(sorted(terms_of(text)))
        found = (spelled, tuple({sounds.key(term) for term in spelled}))
        if memo is not None:
            memo[text] = found
    return found


class _Sounds:
    """Terms keyed by sound: `|xin|he|jiu|hao|` for Han terms (bars keep syllables whole when
    one key is looked for inside another), Latin words as they are."""

    def __init__(self, settings: ClusterSettings, vocabulary: Vocabulary | None = None):
        self.confusions = settings.naming.confusions
        self.spellings = settings.naming.spellings
        self.compounds = vocabulary.compounds if vocabulary else frozenset()
        self.spellings_of: dict[str, Counter] = {}
        self._keys: dict[str, str] = {}
        self._names: dict[str, str | None] = {}
        self._ruled: dict[str, list[str]] | None = None

    def key(self, term: str) -> str:
        found = self._keys.get(term)
        if found is None:
            found = term
            if is_han(term[0]):
                found = "|" + name_key(term, self.confusions).replace(" ", "|") + "|"
            self._keys[term] = found
        return found

    def count(self, said: Counter) -> None:
        """Count how often each spelling of a sound was said (`said`: spelling -> times)."""
        for term, times in said.items():
            key = self.key(term)
            if _is_sound(key):
                self.spellings_of.setdefault(key, Counter())[term] += times

    def ruled(self, key: str) -> list[str]:
        """The rules' spellings of a sound that may name a topic."""
        if self._ruled is None:
            self._ruled = {}
            for term in sorted(self.spellings):
                if _good_spelling(term):
                    self._ruled.setdefault(self.key(term), []).append(term)
        return self._ruled.get(key, [])

    def name_of(self, key: str) -> str | None:
        """The name of a sound, None when it has none: the rules' spelling said today; else
        the day's most frequent spelling that is a word (or a compound name); else the rules'
        spelling; else, for three characters or more, the dictionary word that sounds the
        same and differs in one character (营业听 -> 营业厅)."""
        if key in self._names:
            return self._names[key]
        if not _is_sound(key):
            name = key if is_word(key) else None
        else:
            day = self.spellings_of.get(key, Counter())
            ruled = self.ruled(key)
            said_ruled = [t for t in ruled if day[t]]
            words = [t for t in day if is_word(t) or t in self.compounds]
            by_count = lambda term: (-day[term], term)  # noqa: E731
            name = None
            if said_ruled or words:
                name = min(said_ruled or words, key=by_count)
            elif ruled:
                name = ruled[0]
            else:
                for heard in sorted(day, key=by_count):
                    name = _sounds_like_word(heard, self.confusions)
                    if name:
                        break
        self._names[key] = name
        return name

    def name(self, key: str, heard: Counter) -> tuple[str, list[str]]:
        """The spelling to show for a key, and the cluster's other spellings of it."""
        name = self.name_of(key) or key
        if not _is_sound(key):
            return name, []
        day = self.spellings_of[key]
        rest = sorted((t for t in day if t != name and heard[t]), key=lambda t: (-heard[t], t))
        if _length(key) <= 2:  # two syllables merged by a confusion are often two words
            plain = name_key(name, frozenset())
            rest = [t for t in rest if name_key(t, frozenset()) == plain]
        return name, rest


@lru_cache(maxsize=100_000)  # the same misheard spellings come up in every naming of a day
def _sounds_like_word(heard: str, confusions: frozenset[str]) -> str | None:
    """The most frequent dictionary word of content that sounds like `heard` (three characters
    or more, not a word itself) and differs from it in one character."""
    if len(heard) < 3 or not all(is_han(ch) for ch in heard):
        return None
    chars = _chars_by_sound(confusions)
    freq = _segmenter().FREQ
    found = []
    for i, ch in enumerate(heard):
        for other in chars.get(name_key(ch, confusions), ()):
            if other != ch:
                word = heard[:i] + other + heard[i + 1 :]
                if freq.get(word, 0) > 0 and is_word(word):
                    found.append((-freq[word], word))
    return min(found)[1] if found else None


@lru_cache(maxsize=4)
def _chars_by_sound(confusions: frozenset[str]) -> dict[str, list[str]]:
    """The dictionary's single characters by their sound key."""
    out: dict[str, list[str]] = {}
    for word, count in _segmenter().FREQ.items():
        if count > 0 and len(word) == 1 and is_han(word):
            out.setdefault(name_key(word, confusions), []).append(word)
    return out


@lru_cache(maxsize=1)
def _segmenter():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


@lru_cache(maxsize=1)
def _tags() -> dict[str, str]:
    """jieba's part of speech of each dictionary word."""
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab


def _is_sound(term: str) -> bool:
    return term.startswith("|")


def _inside(part: str, whole: str) -> bool:
    return _is_sound(part) == _is_sound(whole) and part in whole


def _length(term: str) -> int:
    """Characters of a term: syllables of a sound key."""
    return term.count("|") - 1 if _is_sound(term) else len(term)


def _pick_terms(
    counts: Counter, size: int, overall: Counter, total: int, n: int, named: set[str]
) -> list[str]:
    """The `n` most distinctive keys of a cluster among those with a name (`named`)."""
    min_share = 0.2 if size >= 5 else 0.5
    share = {t: c / size for t, c in counts.items() if c / size >= min_share and c >= 2}
    maximal = {
        t: s
        for t, s in share.items()
        if t in named
        and not any(
            t != u and _inside(t, u) and u in named and share[u] >= 0.8 * s
            for u in share
            if _length(u) > _length(t)
        )
    }
    scored = sorted(
        maximal,
        key=lambda t: (
            -maximal[t] * math.log(1 + total / overall[t]) * (1 + 0.15 * _length(t)),
            t,
        ),
    )
    chosen: list[str] = []
    for term in scored:
        if any(_inside(term, c) or _inside(c, term) for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == n:
            break
    return chosen
