from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from callscope.incidents.spikes import (
    SpikeSettings,
    expected_count,
    match_clusters,
    score_spike,
)
from scipy import stats

MONDAY = date(2025, 3, 3)
TODAY = MONDAY + timedelta(days=28)  # a Monday, after four full weeks


def flat(count: int, days: int = 28) -> list[tuple[date, int]]:
    return [(MONDAY + timedelta(days=i), count) for i in range(days)]


def test_forty_on_a_normal_two_is_a_spike():
    s = score_spike(flat(2), TODAY, 40)
    assert s.expected == pytest.approx(2.0, abs=0.1)
    assert s.method == "poisson"
    assert s.is_spike and s.p_value < 1e-20 and s.score > 20
    assert s.ratio == pytest.approx(41 / 3, rel=0.05)


def test_three_on_a_normal_two_is_not():
    s = score_spike(flat(2), TODAY, 3)
    assert not s.is_spike
    assert s.p_value > 0.1


def test_weekday_pattern():
    history = [(MONDAY + timedelta(days=i), 30 if i % 7 == 0 else 10) for i in range(28)]
    monday = score_spike(history, TODAY, 33)
    tuesday = score_spike(history, TODAY + timedelta(days=1), 33)
    assert monday.expected > 18 and tuesday.expected < 13
    assert not monday.is_spike
    assert tuesday.is_spike


def test_overdispersed_history_reads_as_negbin():
    pattern = [5, 20, 8, 25, 6, 12, 10, 15, 5, 9]
    history = [(MONDAY + timedelta(days=i), pattern[i % len(pattern)]) for i in range(28)]
    settings = SpikeSettings()
    s = score_spike(history, TODAY, 28, settings)
    assert s.method == "negbin"
    assert not s.is_spike
    poisson_p = stats.poisson.sf(27, s.expected)
    # a Poisson reading with the same expected count would flag it
    assert poisson_p < settings.alpha and s.ratio >= settings.min_ratio
    assert s.p_value > 100 * poisson_p


def test_new_topic():
    big, small = score_spike([], TODAY, 40), score_spike([], TODAY, 3)
    assert big.method == small.method == "new"
    assert big.expected == pytest.approx(0.5)
    assert big.is_spike
    assert not small.is_spike
    assert big.score == 50.0  # capped


def test_only_trailing_window_counts():
    history = flat(2) + [(TODAY, 500), (TODAY + timedelta(days=3), 500)]
    history += [(MONDAY - timedelta(days=10), 500)]  # older than history_days
    mean, _ = expected_count(history, TODAY)
    assert mean == pytest.approx(2.0, abs=0.1)


def test_zero_history_keeps_positive_rate():
    s = score_spike(flat(0), TODAY, 0)
    assert s.expected > 0 and s.p_value == 1.0 and s.score == 0.0
    assert score_spike(flat(0), TODAY, 8).is_spike


@pytest.mark.parametrize("history", [flat(2), flat(20), [], flat(3, days=4)])
def test_p_values_monotone_in_observed(history):
    p = [score_spike(history, TODAY, k).p_value for k in range(0, 80)]
    assert all(a >= b for a, b in zip(p, p[1:], strict=False))
    assert p[0] == 1.0 and p[-1] < 1e-6
    assert all(0 <= x <= 1 and not math.isnan(x) for x in p)


def test_match_permuted_noisy_centroids():
    rng = np.random.default_rng(0)
    prev = rng.normal(size=(12, 64))
    perm = rng.permutation(12)
    cur = prev[perm] + 0.1 * rng.normal(size=(12, 64))
    assert match_clusters(prev, cur) == {i: int(perm[i]) for i in range(12)}


def test_match_orthogonal_new_centroid_is_unmatched():
    prev = np.eye(4, 8)[:3]
    cur = np.vstack([np.eye(4, 8)[3], prev[1] * 5, prev[0] + 0.05])
    assert match_clusters(prev, cur) == {1: 1, 2: 0}


def test_match_empty_and_zero():
    assert match_clusters(np.zeros((0, 8)), np.ones((3, 8))) == {}
    assert match_clusters(np.ones((3, 8)), np.zeros((0, 8))) == {}
    assert match_clusters(np.array([]), np.array([])) == {}
    assert match_clusters(np.zeros((2, 4)), np.zeros((2, 4))) == {}
    with pytest.raises(ValueError):
        match_clusters(np.ones((2, 4)), np.ones((2, 5)))


def test_earlier_incident_does_not_mask_the_next():
    history = flat(10)
    history[10] = (history[10][0], 120)  # last incident, two and a half weeks ago
    s = score_spike(history, TODAY, 40)
    assert s.expected == pytest.approx(10.0, abs=0.5)
    assert s.is_spike
    # without leaving it out, the old incident widens the spread enough to hide this one
    assert not score_spike(history, TODAY, 40, SpikeSettings(outlier_z=math.inf)).is_spike


def test_short_history_is_poisson():
    s = score_spike(flat(4, days=3), TODAY, 4)
    assert s.method == "poisson"
    assert s.expected == pytest.approx(4.0)
