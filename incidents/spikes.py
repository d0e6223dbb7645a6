"""Is today's count for a topic unusual, and which of today's clusters is yesterday's topic?

`score_spike` compares a topic's count for one day with what its trailing days predict: a blend
of the overall trailing mean and the same-weekday mean, read as Poisson or, when the history
swings more than Poisson would, as a negative binomial (method of moments). It returns an
upper-tail p-value, so small counts are scored by their real distribution rather than a z-score.

`match_clusters` pairs today's cluster centroids with earlier ones one-to-one by cosine
similarity (incidents/daily.py keeps the topics between nights in the incidents table).

History convention: a history is a list of `(date, count)` rows. A row with count 0 is an
explicit "the topic existed and had no calls"; a date with no row is a day the topic did not
exist (or was not processed) and is left out, never read as zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from callscope.core.config import IncidentSettings
from callscope.incidents.vectors import unit_rows

MAX_SCORE = 50.0
_CONFIG = IncidentSettings()  # the defaults of incidents.* (core/config.py)
_LN10 = math.log(10.0)


@dataclass(frozen=True)
class SpikeScore:
    observed: int
    expected: float
    p_value: float
    score: float
    ratio: float
    is_spike: bool
    method: str


@dataclass(frozen=True)
class SpikeSettings:
    history_days: int = _CONFIG.history_days
    min_history_days: int = _CONFIG.min_history_days
    same_weekday_weight: float = _CONFIG.same_weekday_weight
    prior_rate: float = _CONFIG.prior_rate
    min_count: int = _CONFIG.min_calls
    min_ratio: float = _CONFIG.min_ratio
    alpha: float = _CONFIG.alpha
    outlier_z: float = 4.0  # history days this far above their fit (in sd) are past incidents


def _window(
    history: list[tuple[date, int]], day: date, settings: SpikeSettings
) -> list[tuple[date, int]]:
    """Rows strictly before `day` and within `history_days` of it, last row per date wins."""
    start = day - timedelta(days=settings.history_days)
    rows = {d: int(c) for d, c in history if start <= d < day}
    return sorted(rows.items())


def _weekday_stats(days: list[date]) -> np.ndarray:
    return np.array([d.weekday() for d in days], dtype=np.int64)


def _blend(days: list[date], counts: np.ndarray, target: date, weight: float) -> float:
    """Overall mean blended with the mean of the days sharing `target`'s weekday (>= 2 of them)."""
    same = _weekday_stats(days) == target.weekday()
    overall = float(counts.mean())
    if same.sum() < 2 or weight <= 0:
        return overall
    return (1.0 - weight) * overall + weight * float(counts[same].mean())


def _fit(wd: np.ndarray, counts: np.ndarray, weight: float, leave_out: bool = False) -> np.ndarray:
    """The blended expectation of each history day from the window (or from the other days).

    `leave_out=True` gives each day the prediction the remaining days make for it, so an
    incident in the history cannot vouch for itself.
    """
    drop = 1.0 if leave_out else 0.0
    n = len(counts) - drop
    overall = (counts.sum() - drop * counts) / np.maximum(n, 1)
    wk_sum = np.bincount(wd, counts, minlength=7)[wd] - drop * counts
    wk_n = np.bincount(wd, minlength=7)[wd] - drop
    same = wk_sum / np.maximum(wk_n, 1)
    use = (wk_n >= 2) & (weight > 0)
    return np.where(use, (1.0 - weight) * overall + weight * same, overall)


def _size(counts: np.ndarray, fit: np.ndarray, settings: SpikeSettings) -> float:
    """Negative-binomial size from the residuals of the weekday-aware fit; inf means Poisson.

    Method of moments for NB2 (var = mu + mu^2 / size) with a different mu per day:
    1 / size = (sum r^2 * n / (n - 1) - sum mu) / sum mu^2.
    """
    n = len(counts)
    denom = float((fit**2).sum())
    if n < settings.min_history_days or denom <= 0:
        return math.inf
    resid2 = float(((counts - fit) ** 2).sum()) * n / (n - 1)
    inv_size = (resid2 - float(fit.sum())) / denom
    return 1.0 / inv_size if inv_size > 1e-6 else math.inf


def _past_incidents(wd: np.ndarray, counts: np.ndarray, settings: SpikeSettings) -> np.ndarray:
    """Mask of history days that look like incidents themselves (to leave out of the baseline).

    A day is one when it lies more than `outlier_z` robust sds above what the other days
    predict for it; the sd is the larger of the Poisson sd and 1.4826 x the MAD of those
    leave-one-out residuals, so one incident cannot widen the yardstick that measures it.
    """
    if len(counts) < settings.min_history_days:
        return np.zeros(len(counts), dtype=bool)
    pred = _fit(wd, counts, settings.same_weekday_weight, leave_out=True)
    resid = counts - pred
    mad = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    sd = np.maximum(np.sqrt(np.maximum(pred, 0.0) + 1.0), mad)
    return resid / sd > settings.outlier_z


def expected_count(
    history: list[tuple[date, int]], day: date, settings: SpikeSettings = SpikeSettings()
) -> tuple[float, float]:
    """Expected count for `day` and a negative-binomial size (math.inf: Poisson).

    Uses only rows before `day` within `settings.history_days` (see the module's history
    convention); past incidents in that window are left out (`_past_incidents`). With no rows
    the expected count is `prior_rate`. The mean never drops below `prior_rate / (n + 1)`, so
    a topic silent for n days still has a small positive rate. Fewer than `min_history_days`
    rows are read as Poisson (too few to estimate a spread).
    """
    rows = _window(history, day, settings)
    if not rows:
        return settings.prior_rate, math.inf
    days = [d for d, _ in rows]
    counts = np.array([c for _, c in rows], dtype=float)
    wd = _weekday_stats(days)
    keep = ~_past_incidents(wd, counts, settings)
    if keep.sum() >= settings.min_history_days:
        days, counts, wd = [d for d, k in zip(days, keep, strict=True) if k], counts[keep], wd[keep]
    size = _size(counts, _fit(wd, counts, settings.same_weekday_weight), settings)
    mean = _blend(days, counts, day, settings.same_weekday_weight)
    return max(mean, settings.prior_rate / (len(rows) + 1)), size


def _log_sf(observed: int, mean: float, size: float) -> float:
    """log P(X >= observed) under Poisson(mean) or NB(mean, size)."""
    from scipy import stats  # about 0.5 s to import: only the day's incidents step needs it

    if observed <= 0:
        return 0.0
    if math.isinf(size):
        return float(stats.poisson.logsf(observed - 1, mean))
    return float(stats.nbinom.logsf(observed - 1, size, size / (size + mean)))


def score_spike(
    history: list[tuple[date, int]],
    day: date,
    observed: int,
    settings: SpikeSettings = SpikeSettings(),
) -> SpikeScore:
    """Score `observed` calls on `day` against the topic's trailing history."""
    expected, size = expected_count(history, day, settings)
    has_history = bool(_window(history, day, settings))
    method = "new" if not has_history else ("poisson" if math.isinf(size) else "negbin")
    log_p = min(_log_sf(observed, expected, size), 0.0)
    p_value = math.exp(log_p)
    score = min(-log_p / _LN10, MAX_SCORE) if log_p < 0 else 0.0
    ratio = (observed + 1.0) / (expected + 1.0)
    is_spike = (
        p_value < settings.alpha and observed >= settings.min_count and ratio >= settings.min_ratio
    )
    return SpikeScore(
        observed=int(observed),
        expected=float(expected),
        p_value=p_value,
        score=float(score),
        ratio=float(ratio),
        is_spike=bool(is_spike),
        method=method,
    )


def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.reshape(0, x.shape[-1] if x.ndim == 2 else 0)
    return np.atleast_2d(x)


def match_clusters(
    previous: np.ndarray, current: np.ndarray, threshold: float = _CONFIG.match_similarity
) -> dict[int, int]:
    """One-to-one match of `current` rows to `previous` rows by cosine similarity.

    Hungarian assignment maximising total similarity, then pairs below `threshold` dropped.
    Zero vectors never match. Returns {current_index: previous_index}.
    """
    prev, cur = _as_matrix(previous), _as_matrix(current)
    if len(prev) == 0 or len(cur) == 0:
        return {}
    if prev.shape[1] != cur.shape[1]:
        raise ValueError(f"centroid dimensions differ: {prev.shape[1]} vs {cur.shape[1]}")
    from scipy.optimize import linear_sum_assignment

    sim = unit_rows(cur) @ unit_rows(prev).T
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return {
        int(r): int(c)
        for r, c in zip(rows, cols, strict=True)
        if sim[r, c] >= threshold and sim[r, c] > 0
    }
