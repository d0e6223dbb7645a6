"""Group a day's issue statements into clusters, name them and pick examples.

Clustering works on unit sentence embeddings (incidents/embed.py):
- up to `direct_max` statements: average-linkage agglomerative clustering on cosine distance,
  cut where the mean similarity between two groups drops below `merge_similarity`;
- above that (50,000 calls a night): mini-batch k-means into many small cells first, then the
  same agglomerative cut over the cell centroids.
Clusters smaller than `min_cluster_size` become noise (label -1); a noise statement that is
close enough to a cluster's centroid (`assign_similarity`) joins it.

Names come from class-based TF-IDF (c-TF-IDF): the Han character n-grams (2-4) and English
words that are frequent inside a cluster and rare in the others, with fragments of a longer
kept phrase dropped (预约失败 rather than 约失). Spellings that sound the same (星河九号, 星和九号,
心和九号: core/sounds.py) count as one term, named by the rules' spelling when they have one,
else by the day's most frequent; the other spellings heard are kept as its variants.
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
    "can", "could", "would", "please", "hello", "hi", "just", "do", "did", "are", "am", "so",
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
) -> tuple[np.ndarray, list[Cluster]]:
    """Labels per statement and the clusters with centroids, member similarity and terms
    (`vocabulary`: the day's, when the caller has read it already)."""
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
    names = distinctive_terms(texts, labels, settings, vocabulary)
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
def terms_of(text: str) -> set[str]:
    """Han n-grams (2-4 characters) and English words of one statement, once each."""
    out: set[str] = set()
    for run in runs(_naming_text(text)):
        if is_han(run[0]):
            for n in (2, 3, 4):
                out.update(
                    gram for i in range(len(run) - n + 1) if not _all_stop(gram := run[i : i + n])
                )
        elif len(run) > 2 and run not in _STOP_WORDS and not run.isdigit():
            out.add(run)
    return out


def _naming_text(text: str) -> str:
    """Folded text as names are read from it: placeholders out, and a digit inside Chinese
    written as the numeral (the recogniser writes 星河9号 as often as 星河九号)."""
    folded = fold(_PLACEHOLDER.sub(" ", text))
    return _HAN_DIGIT.sub(lambda m: _NUMERALS[int(m.group())], folded)


def _all_stop(gram: str) -> bool:
    return gram[0] in _STOP_HAN or gram[-1] in _STOP_HAN


@dataclass(frozen=True)
class Vocabulary:
    """What the day's text says of its Han n-grams (see _free_grams_and_fragments): the keys
    of grams that stand free, and the spellings that are fragments of dictionary words. Read
    once a day: every category's names are weighed against the same day."""

    free: frozenset[str]
    fragments: frozenset[str]


def day_vocabulary(texts: list[str], settings: ClusterSettings = ClusterSettings()) -> Vocabulary:
    free, fragments = _free_grams_and_fragments(texts, _Sounds(settings).key)
    return Vocabulary(frozenset(free), frozenset(fragments))


def distinctive_terms(
    texts: list[str],
    labels: np.ndarray,
    settings: ClusterSettings = ClusterSettings(),
    vocabulary: Vocabulary | None = None,
    memo: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None,
) -> dict[int, tuple[list[str], dict[str, list[str]]]]:
    """c-TF-IDF: per cluster label, the `n_terms` most distinctive word-like terms (spellings
    that sound alike counted as one), and the other spellings heard of each. `vocabulary`:
    the day's (day_vocabulary); by default read from `texts`. `memo`: each statement's terms
    kept between calls over the same day's statements with the same settings."""
    sounds = _Sounds(settings)
    per_cluster: dict[int, Counter] = {}
    heard: dict[int, Counter] = {}
    sizes: Counter = Counter()
    overall: Counter = Counter()
    said: Counter = Counter()
    vocabulary = vocabulary or day_vocabulary(texts, settings)
    for text, label in zip(texts, labels.tolist(), strict=True):
        spelled, keys = _statement_terms(text, vocabulary.fragments, sounds, memo)
        overall.update(keys)
        said.update(spelled)
        if label >= 0:
            per_cluster.setdefault(label, Counter()).update(keys)
            heard.setdefault(label, Counter()).update(spelled)
            sizes[label] += 1
    sounds.count(said)
    out = {}
    for label, counts in per_cluster.items():
        keys = _pick_terms(
            counts, sizes[label], overall, len(texts), settings.n_terms, vocabulary.free
        )
        named = [sounds.name(k, heard[label]) for k in keys]
        out[label] = ([name for name, _ in named], {name: rest for name, rest in named if rest})
    return out


def _statement_terms(
    text: str, fragments: frozenset[str], sounds: _Sounds, memo: dict | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A statement's spelled terms (fragments of words left out) and their sound keys."""
    found = memo.get(text) if memo is not None else None
    if found is None:
        spelled = tuple(terms_of(text) - fragments)
        found = (spelled, tuple({sounds.key(term) for term in spelled}))
        if memo is not None:
            memo[text] = found
    return found


class _Sounds:
    """Terms keyed by sound: `|xin|he|jiu|hao|` for Han terms (bars keep syllables whole when
    one key is looked for inside another), Latin words as they are."""

    def __init__(self, settings: ClusterSettings):
        self.confusions = settings.naming.confusions
        self.spellings = settings.naming.spellings
        self.spellings_of: dict[str, Counter] = {}
        self._keys: dict[str, str] = {}

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

    def name(self, key: str, heard: Counter) -> tuple[str, list[str]]:
        """The spelling to show for a key, and the cluster's other spellings of it."""
        if not _is_sound(key):
            return key, []
        day = self.spellings_of[key]
        ruled = [term for term in day if term in self.spellings]
        name = min(ruled or day, key=lambda term: (-day[term], term))
        rest = sorted((t for t in day if t != name and heard[t]), key=lambda t: (-heard[t], t))
        if _length(key) <= 2:  # two syllables merged by a confusion are often two words
            plain = name_key(name, frozenset())
            rest = [t for t in rest if name_key(t, frozenset()) == plain]
        return name, rest


def _free_grams_and_fragments(
    texts: list[str], key=lambda gram: gram, sample: int = 5000
) -> tuple[set[str], set[str]]:
    """Han n-grams that stand free in the day's text, by key: seen with at least two different
    characters (or a text / clause boundary) on each side. Fragments that cut through words
    (带网速特 of 宽带网速特别慢) always have the same neighbours and are left out.
    Also the spellings that are fragments of dictionary words: those that start or end
    inside a word in more than half of the places said (准版 of 标准版, 夜没 of 一夜没有),
    counted per spelling because a misheard word may be a fragment where its sound-alike is
    not (尊版 of 之尊版), and over the day because misheard text makes false words (订单位)."""
    step = max(1, len(texts) // sample)
    left: dict[str, set[str]] = {}
    right: dict[str, set[str]] = {}
    inside: Counter = Counter()
    seen: Counter = Counter()
    for text in texts[::step]:
        for run in runs(_naming_text(text)):
            if not is_han(run[0]):
                continue
            padded = f"^{run}$"
            bounds = word_bounds(run)
            for n in (2, 3, 4):
                for i in range(1, len(padded) - n):
                    spelled = padded[i : i + n]
                    gram = key(spelled)
                    left.setdefault(gram, set()).add(padded[i - 1])
                    right.setdefault(gram, set()).add(padded[i + n])
                    seen[spelled] += 1
                    inside[spelled] += i - 1 not in bounds or i - 1 + n not in bounds
    free = {g for g, before in left.items() if len(before) > 1 and len(right[g]) > 1}
    return free, {t for t, count in inside.items() if 2 * count > seen[t]}


def word_bounds(run: str) -> set[int]:
    """Offsets in a run of Han characters where a dictionary word starts or ends (jieba's
    dictionary, no guessing of unknown words: those stay single characters)."""
    return {
        edge for _, start, end in _segmenter().tokenize(run, HMM=False) for edge in (start, end)
    }


@lru_cache(maxsize=1)
def _segmenter():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def _is_sound(term: str) -> bool:
    return term.startswith("|")


def _inside(part: str, whole: str) -> bool:
    return _is_sound(part) == _is_sound(whole) and part in whole


def _length(term: str) -> int:
    """Characters of a term: syllables of a sound key."""
    return term.count("|") - 1 if _is_sound(term) else len(term)


def _pick_terms(
    counts: Counter, size: int, overall: Counter, total: int, n: int, free: set[str]
) -> list[str]:
    min_share = 0.2 if size >= 5 else 0.5
    share = {
        t: c / size
        for t, c in counts.items()
        if c / size >= min_share and c >= 2 and (not _is_sound(t) or t in free)
    }
    maximal = {
        t: s
        for t, s in share.items()
        if not any(
            t != u and _inside(t, u) and share[u] >= 0.8 * s
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
