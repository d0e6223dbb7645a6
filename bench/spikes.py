"""Does `incidents.spikes.score_spike` flag planted spikes and leave ordinary days alone?

    python bench/spikes.py [--seed N]

Spikes: 60 days x 40 topics of simulated daily counts (baseline rates 1..200 log-uniform,
per-topic weekday effects, negative-binomial noise). Planted spikes add (f - 1) x baseline
calls, at least 20, for f in 3/5/10; planted bumps add 0.5 x baseline (1.5x) and should not be
flagged. Every topic-day of the last 30 days is scored against its own trailing history.

Topic matching across nights is measured through the real incident step by bench/incidents.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callscope.incidents.spikes import SpikeSettings, score_spike  # noqa: E402

DAYS, TOPICS, SCORED = 60, 40, 30
START = date(2025, 1, 6)


def simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Daily counts (topics x days) and the per-topic-day mean they were drawn from."""
    base = np.exp(rng.uniform(np.log(1), np.log(200), TOPICS))
    weekday = rng.uniform(0.6, 1.4, (TOPICS, 7))
    weekday[:, 5:] *= rng.uniform(0.3, 1.0, (TOPICS, 1))  # quieter weekends for some
    weekday /= weekday.mean(axis=1, keepdims=True)
    size = rng.uniform(5, 50, (TOPICS, 1))
    dow = np.array([(START + timedelta(days=d)).weekday() for d in range(DAYS)])
    mu = base[:, None] * weekday[:, dow]
    counts = rng.negative_binomial(size, size / (size + mu))
    return counts, mu


def plant(rng, counts, mu, n_spikes: int = 40, n_bumps: int = 40):
    """Add spikes and bumps on distinct (topic, day) pairs of the scored days."""
    cells = [(t, d) for t in range(TOPICS) for d in range(DAYS - SCORED, DAYS)]
    picks = rng.choice(len(cells), n_spikes + n_bumps, replace=False)
    spikes, bumps = {}, set()
    for k, idx in enumerate(picks):
        t, d = cells[idx]
        if k < n_spikes:
            factor = float(rng.choice([3, 5, 10]))
            counts[t, d] += max(int(round((factor - 1) * mu[t, d])), 20)
            spikes[(t, d)] = factor
        else:
            counts[t, d] += int(round(0.5 * mu[t, d]))
            bumps.add((t, d))
    return spikes, bumps


def score_all(counts: np.ndarray, settings: SpikeSettings) -> set[tuple[int, int]]:
    flagged = set()
    days = [START + timedelta(days=d) for d in range(DAYS)]
    for t in range(TOPICS):
        history = list(zip(days, counts[t].tolist(), strict=True))
        for d in range(DAYS - SCORED, DAYS):
            if score_spike(history, days[d], int(counts[t, d]), settings).is_spike:
                flagged.add((t, d))
    return flagged


def spike_bench(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts, mu = simulate(rng)
    spikes, bumps = plant(rng, counts, mu)
    started = time.perf_counter()
    flagged = score_all(counts, SpikeSettings())
    seconds = time.perf_counter() - started
    tp = len(flagged & spikes.keys())
    unplanted = TOPICS * SCORED - len(spikes) - len(bumps)
    fp_clean = len(flagged - spikes.keys() - bumps)
    print(
        f"spikes: {TOPICS} topics x {SCORED} scored days, {len(spikes)} planted, {len(bumps)} bumps"
    )
    print(f"  recall     {tp / len(spikes):.3f}  ({tp}/{len(spikes)})")
    print(f"  precision  {tp / max(len(flagged), 1):.3f}  ({tp}/{len(flagged)} flagged)")
    for f in (3.0, 5.0, 10.0):
        cells = [k for k, v in spikes.items() if v == f]
        hit = sum(k in flagged for k in cells)
        print(f"    {f:>4.0f}x recall {hit}/{len(cells)}")
    print(f"  bumps 1.5x flagged  {len(flagged & bumps)}/{len(bumps)}")
    print(f"  FP rate unplanted   {fp_clean / unplanted:.4f}  ({fp_clean}/{unplanted})")
    print(f"  time  {seconds:.2f} s  ({1e3 * seconds / (TOPICS * SCORED):.2f} ms per topic-day)")


def spike_seeds(seeds: range) -> None:
    """Recall, precision and clean FP rate over several seeds: mean and worst."""
    recall, precision, fp = [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        counts, mu = simulate(rng)
        spikes, bumps = plant(rng, counts, mu)
        flagged = score_all(counts, SpikeSettings())
        tp = len(flagged & spikes.keys())
        recall.append(tp / len(spikes))
        precision.append(tp / max(len(flagged), 1))
        fp.append(
            len(flagged - spikes.keys() - bumps) / (TOPICS * SCORED - len(spikes) - len(bumps))
        )
    print(
        f"over {len(seeds)} seeds: recall mean {np.mean(recall):.3f} min {min(recall):.3f}, "
        f"precision mean {np.mean(precision):.3f} min {min(precision):.3f}, "
        f"FP rate mean {np.mean(fp):.4f} max {max(fp):.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=10, help="seeds for the averaged line")
    args = parser.parse_args()
    spike_bench(args.seed)
    spike_seeds(range(args.seeds))


if __name__ == "__main__":
    main()
